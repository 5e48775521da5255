"""Shared fixtures.

Data come from ``ERC_DATA_DIR`` (default: ``../shared/data`` beside the checkout); tests
that need a dataset that is absent are skipped with the reason.

``notebook_results(name)`` returns the ``results/smoke/<name>.json`` (e.g. ``03_sdt_mosi``) that
the notebook wrote in smoke size (smoke runs write to the ``smoke`` sub-folders; this module
switches the test process to them too, :func:`erc_lib.paths.use_smoke_folders`). When ``pytest --nbval-lax notebooks tests`` runs (the README command), nbval has
already executed the notebook into ``ERC_RESULTS_DIR`` and the file is read; otherwise the
notebook is executed here with papermill (``smoke=True``, ``device="cpu"``) first, so a
metrics test never passes without a fresh run.
"""
from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from erc_lib.data import SPLITS, Dialogue, ERCData, available_datasets
from erc_lib.paths import REPO_ROOT, data_dir, results_dir, use_smoke_folders

_SESSION_START = time.time()
use_smoke_folders(True)  # the tests read and write what smoke runs read and write


def pytest_collection_modifyitems(items):
    """Mark the notebook tests (``tests/test_nb_*.py`` and the notebooks nbval runs) ``notebook``;
    ``-m "not slow and not notebook"`` is the fast selection (the mutation runs use it)."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb" or path.name.startswith("test_nb_"):
            item.add_marker(pytest.mark.notebook)


@pytest.fixture(autouse=True)
def _smoke_folders():
    """Every test starts in the smoke folders (a test that calls ``start()`` may switch them)."""
    use_smoke_folders(True)
    yield
    use_smoke_folders(True)


@pytest.fixture(scope="session")
def data_root() -> Path:
    return data_dir()


def require_dataset(name: str) -> None:
    """Skip the calling test when dataset ``name`` is not under ERC_DATA_DIR."""
    if name not in available_datasets():
        pytest.skip(f"dataset {name!r} not found under {data_dir()} (set ERC_DATA_DIR)")


def notebook_of(result_name: str) -> str:
    """The notebook that writes ``results/<result_name>.json`` (``03_sdt_mosi`` -> ``03_sdt``)."""
    names = sorted((p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), key=len, reverse=True)
    return next(n for n in names if result_name == n or result_name.startswith(n + "_"))


def run_notebook_smoke(notebook: str, **parameters) -> dict:
    """Execute ``notebooks/<notebook>.ipynb`` with papermill in smoke size; return the results
    JSON it wrote (``<notebook>_<dataset>.json`` for notebooks with a dataset parameter)."""
    import papermill as pm

    from erc_lib.notebook import result_name
    from erc_lib.results import read_results

    out_dir = Path(os.environ.get("ERC_NOTEBOOK_OUT", results_dir()))
    path = REPO_ROOT / "notebooks" / f"{notebook}.ipynb"
    defaults = {k: ast.literal_eval(v["default"]) for k, v in pm.inspect_notebook(str(path)).items()}
    device = {"device": "cpu"} if "device" in defaults else {}  # 01_data trains nothing and has no device
    pm.execute_notebook(str(path), str(out_dir / f"{notebook}.out.ipynb"),
                        parameters={"smoke": True, **device, **parameters}, kernel_name="python3",
                        progress_bar=False, cwd=str(out_dir))
    return read_results(result_name(notebook, {**defaults, **parameters}))


@pytest.fixture(scope="session")
def notebook_results():
    """``notebook_results(name) -> dict``: the smoke run's results JSON (see module doc)."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            path = results_dir() / f"{name}.json"
            fresh = path.exists() and path.stat().st_mtime >= _SESSION_START
            payload = json.loads(path.read_text()) if fresh else None
            if payload is None or payload.get("status") != "complete" or not payload.get("parameters", {}).get("smoke"):
                payload = run_notebook_smoke(notebook_of(name))
            cache[name] = payload
        return cache[name]

    return get


def assert_baselines_first_and_claims_measured(res: dict) -> None:
    """A smoke results file opens its table with the two baselines (dev and test row of seed 0
    each) and holds at least one claim, each with a 1000-resample interval around its difference
    and no verdict (a smoke run has one seed: "not measured at full size")."""
    from erc_lib.claims import NOT_MEASURED

    assert [r["variant"] for r in res["rows"][:4:2]] == ["logistic regression (no context)", "BiGRU (context)"]
    assert res["claims"], "no claim was measured"
    for c in res["claims"]:
        comp = c["comparison"]
        assert comp["ci_low"] <= comp["difference"] <= comp["ci_high"] and comp["n_resamples"] >= 1000
        assert c["verdict"] == NOT_MEASURED and comp["n_seeds_a"] < 5


# ----------------------------------------------------------------------------- toy data (folds, cross-validation)
def toy(name: str = "emorynlp", sizes=(12, 3, 5)) -> ERCData:
    """A constructed dataset: ``sizes`` dialogues per split, ids ``<split>-<i>``, two utterances
    each, a one-dimensional audio feature equal to the dialogue's position in the files."""
    splits, position = {}, 0
    for split, n in zip(SPLITS, sizes):
        splits[split] = []
        for i in range(n):
            splits[split].append(Dialogue(f"{split}-{i}", ["A", "B"], ["x", "y"], np.array([0, 1]),
                                          {"audio": np.full((2, 1), float(position), dtype=np.float32)}))
            position += 1
    return ERCData(name, ["neg", "pos"], splits).validate()


@pytest.fixture(scope="module")
def tokenizer():
    """MiniLM's tokenizer (all-MiniLM-L6-v2), for CoMPM's finetune-mode tests."""
    from erc_lib.features.text import load_tokenizer  # transformers: optional, only these tests need it

    return load_tokenizer("all-MiniLM-L6-v2")


def papermill_refusal(notebook: str, parameters: dict, tmp_path: Path, monkeypatch):
    """Run ``notebooks/<notebook>.ipynb`` with papermill and ``parameters`` (results and figures in
    ``tmp_path``), expecting it to fail; returns the ``PapermillExecutionError`` (its ``ename``,
    ``evalue``, ``traceback``)."""
    import papermill as pm

    for name in ("results", "figures"):
        monkeypatch.setenv(f"ERC_{name.upper()}_DIR", str(tmp_path / name))
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(REPO_ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters=parameters, kernel_name="python3", progress_bar=False)
    return e.value

