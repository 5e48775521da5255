"""Shared by the report's tests: tiny throw-away notebooks in a sandbox (data, results and figures
folders, a stand-in code file), the report's config and command line on them, and fake results files."""
from __future__ import annotations

import json
import os
import shutil

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from erc_lib import paths
from erc_lib.claims import collect_claims
from erc_lib.paths import REPO_ROOT, use_smoke_folders, write_json
from erc_lib.report import runner
from erc_lib.report.cli import main

NOTEBOOKS = REPO_ROOT / "notebooks"


@pytest.fixture(autouse=True)
def full_size_folders(monkeypatch):
    """These tests write and read results where a full-size run does (the folders they set), not
    the smoke sub-folders the rest of the suite uses."""
    monkeypatch.setattr(paths, "_smoke_folders", False, raising=False)


def write_notebook(path, parameters: str, body: str):
    nb = new_notebook(cells=[new_markdown_cell(f"# {path.stem}"),
                             new_code_cell(parameters, metadata={"tags": ["parameters"]}), new_code_cell(body)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def use_full_size_folders(monkeypatch) -> None:
    """Read and write the full-size results folders, as a full report does (CI sets ERC_SMOKE=1,
    which would send this process and the kernels it starts to the smoke folders)."""
    monkeypatch.delenv("ERC_SMOKE", raising=False)
    use_smoke_folders(False)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Tiny notebooks, a data folder, a stand-in code file, empty results/figures folders."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "01_ok.ipynb", 'x = 1  # a number\ndevice = "auto"',
                   'import sys\nprint("output:", x * 21, device)\nprint("noise on stderr", file=sys.stderr)')
    write_notebook(nbs / "02_fail.ipynb", "fail = True  # raise when True, x = 1 is not parsed by papermill",
                   'print("before the error")\nif fail:\n    raise ValueError("boom")')
    shutil.copy(NOTEBOOKS / "99_report.ipynb", nbs / "99_report.ipynb")
    for name in ("data", "results", "figures"):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(f"ERC_{name.upper()}_DIR", str(tmp_path / name))
    (tmp_path / "data" / "d.txt").write_text("data")
    monkeypatch.setenv("ERC_PROGRESS", "off")  # restored after the test (the runner sets it to text)
    use_full_size_folders(monkeypatch)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as in CI: the runner must drop it, or figures vanish
    code = tmp_path / "code.py"
    code.write_text("A = 1\n")
    monkeypatch.setattr(runner, "code_files", lambda: [code])
    return tmp_path


def write_config(tmp_path, runs, device="cpu"):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"device": device, "runs": runs}))
    return path


def run_main(sandbox, config, *extra):
    """``python -m erc_lib.report`` on the sandbox: its notebooks, its reports folder, and the results doc it
    regenerates written into the sandbox (never the checkout's docs/results.md)."""
    return main(["--config", str(config), "--notebooks-dir", str(sandbox / "notebooks"),
                 "--out", str(sandbox / "reports"), "--results-doc", str(sandbox / "results.md"), *extra])


def fake_results(folder):
    history = [{"epoch": e, "dev_weighted_f1": d, "test_weighted_f1": t}
               for e, d, t in [(1, 50.0, 60.0), (2, 70.0, 62.0), (3, 65.0, 66.0)]]
    rows = []
    for seed, (wf1, best) in enumerate([(62.0, 2), (64.0, 2)]):
        for split in ("dev", "test"):
            rows.append({"dataset": "mosi", "model": "SDT", "variant": "t+a", "seed": seed, "split": split,
                         "weighted_f1": wf1 if split == "test" else 70.0, "accuracy": wf1 + 1, "best_epoch": best})
    common = {"started": "2025-01-01T10:00:00+00:00", "written": "2025-01-01T10:30:00+00:00",
              "environment": {"python": "3.11", "packages": {"torch": "2.13.0"}}}
    write_json(folder / "03_sdt_mosi.json", {
        "notebook": "03_sdt", "status": "complete", "parameters": {"dataset": "mosi", "seeds": 2}, "rows": rows,
        "histories": {"mosi|t+a|0": history, "mosi|t+a|1": history[:2]}, "wall_seconds": 1800, "device": "cpu",
        **common})
    write_json(folder / "05_emonet.json", {"notebook": "05_emonet", "status": "running", "started": "x"})
    claims = [  # the format of erc_lib.claims
        {"id": "sdt-sd-fused", "paper": "SDT", "text": "SDT beats its no-distillation variant", "dataset": "iemocap-sdt",
         "published": "SDT Table 3", "published_difference": 2.98,
         "ours": {"mean": 63.0, "std": 1.41, "n_seeds": 5, "variant": "t+a"},
         "other": {"mean": 60.0, "std": 0.5, "n_seeds": 5, "variant": "no KL"},
         "baseline": {"variant": "BiGRU", "mean": 61.0, "std": 0.5, "n_seeds": 5},
         "comparison": {"difference": 3.0, "ci_low": 1.5, "ci_high": 4.5, "n_dialogues": 31}, "verdict": "holds",
         "reason": "r"},
        {"id": "emonet-beats-compm", "paper": "EmoNet", "text": "speaker behaviour helps", "dataset": "emorynlp",
         "published": "x", "published_difference": None, "ours": {"mean": 30.1, "std": 0.25, "n_seeds": 3},
         "other": {"mean": 30.0, "std": 0.3, "n_seeds": 3}, "baseline": None,
         "comparison": {"difference": 0.1, "ci_low": -1.0, "ci_high": 1.2}, "verdict": "inconclusive", "reason": "r"}]
    payload = json.loads((folder / "03_sdt_mosi.json").read_text())
    write_json(folder / "03_sdt_mosi.json", {**payload, "claims": claims})
    assert os.environ["ERC_RESULTS_DIR"] == str(folder)
    collect_claims()  # results/claims.json, as the front page writes it
