"""Bad input fails early and clearly, caches are keyed by content, untrusted pickles never run,
interrupted runs are never read as finished (one test per failure mode)."""
from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import require_dataset
from erc_lib.data import DataError, UnsafePickleError, convert_pickle, load_dataset, load_pickle
from erc_lib.notebook import NOTEBOOKS, ParameterError, start, validate
from erc_lib.paths import REPO_ROOT, data_dir

NOTEBOOK_FILES = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def notebook_defaults(name: str) -> dict:
    """The values of a notebook's parameters cell, as papermill reads them."""
    import papermill as pm

    return {k: eval(v["default"]) for k, v in pm.inspect_notebook(str(REPO_ROOT / "notebooks" / f"{name}.ipynb")).items()}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Results, figures and caches in a temporary folder."""
    for var in ("ERC_RESULTS_DIR", "ERC_FIGURES_DIR", "ERC_CACHE_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.delenv("ERC_SMOKE", raising=False)
    return tmp_path


# ----------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_parameters_cell_parses_without_warnings_and_matches_the_validator(path, caplog):
    """papermill reads every parameter (no 'Unable to parse line' warning) and they are exactly
    the names the notebook's validator checks; the defaults pass validation."""
    import papermill as pm

    if path.stem not in NOTEBOOKS:
        pytest.skip(f"{path.stem} takes no validated parameters")
    with caplog.at_level(logging.WARNING):
        found = pm.inspect_notebook(str(path))
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]
    assert set(found) == set(NOTEBOOKS[path.stem].params)
    validate(path.stem, notebook_defaults(path.stem))


@pytest.mark.parametrize("name, value, words", [
    ("modalities", "tx", ["modalities='tx'", "'tav'"]),        # a typo: silently ran text only before
    ("epochs", -1, ["epochs=-1", "1"]),                          # TypeError about a None state dict before
    ("seeds", 0, ["seeds=0", "[1"]),                            # "no rows for split 'test'" before
    ("dataset", "iemocup", ["dataset='iemocup'", "iemocap"]),
    ("device", "gpu", ["device='gpu'", "cuda"]),
])
def test_bad_parameter_is_named_with_what_is_allowed(name, value, words, outputs):
    params = {**notebook_defaults("03_sdt"), name: value}
    with pytest.raises(ParameterError) as err:
        start("03_sdt", params)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not list((outputs / "erc_results_dir").glob("*.json"))  # nothing was marked or written


def test_smoke_never_replaces_an_invalid_value(outputs):
    params = {**notebook_defaults("03_sdt"), "smoke": True, "epochs": 0}
    with pytest.raises(ParameterError, match="epochs=0"):
        start("03_sdt", params)


def test_unknown_parameter_is_refused():
    with pytest.raises(ParameterError, match="unknown parameter 'epoch'"):
        validate("03_sdt", {**notebook_defaults("03_sdt"), "epoch": 3})


def test_unwritable_results_folder_fails_before_work(outputs, monkeypatch):
    blocker = outputs / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    monkeypatch.setenv("ERC_RESULTS_DIR", str(blocker / "results"))
    with pytest.raises(PermissionError, match="ERC_RESULTS_DIR"):
        start("03_sdt", notebook_defaults("03_sdt"))


def test_cuda_without_cuda_is_a_clear_error(outputs):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from erc_lib.runtime import DeviceError

    with pytest.raises(DeviceError, match="device='cpu'"):
        start("03_sdt", {**notebook_defaults("03_sdt"), "device": "cuda"})


# ----------------------------------------------------------------------------- data


def test_truncated_pickle_names_the_file_and_the_cause(tmp_path):
    require_dataset("iemocap")
    src = data_dir() / "iemocap" / "cosmic" / "iemocap.pkl"
    (tmp_path / "iemocap" / "cosmic").mkdir(parents=True)
    cut = tmp_path / "iemocap" / "cosmic" / "iemocap.pkl"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated") as err:
        load_dataset("iemocap", root=tmp_path)
    assert str(cut) in str(err.value)


def test_nan_in_one_mosi_audio_row_is_caught_at_load(tmp_path):
    require_dataset("mosi")
    shutil.copytree(data_dir() / "mosi", tmp_path / "mosi")
    path = tmp_path / "mosi" / "bclstm" / "audio_2way.pickle"
    content = list(load_pickle(path))
    content[0] = content[0].copy()
    content[0][3, 2, 5] = np.nan                      # train video 3, utterance 2
    with open(path, "wb") as f:
        pickle.dump(tuple(content), f)
    with pytest.raises(DataError) as err:
        load_dataset("mosi", root=tmp_path)
    message = str(err.value)
    assert "train" in message and "train_03" in message and "utterance 2" in message and "audio" in message


def test_nan_in_a_mosi_csv_names_file_and_row(tmp_path):
    require_dataset("mosi")
    shutil.copytree(data_dir() / "mosi", tmp_path / "mosi")
    csv = tmp_path / "mosi" / "bclstm" / "audio_test.csv"
    lines = csv.read_text().splitlines()
    cells = lines[4].split(",")
    cells[1] = "nan"
    lines[4] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="audio_test.csv row 5 column 2"):
        load_dataset("mosi", root=tmp_path)


class _Payload:
    """Unpickling this creates a file: a stand-in for code an attacker would run."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_malicious_pickle_is_refused_and_its_payload_does_not_run(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "features.pkl"
    with open(path, "wb") as f:
        pickle.dump({"text": np.zeros(3), "evil": _Payload(marker)}, f)
    with pytest.raises(UnsafePickleError) as err:
        load_pickle(path)
    assert not marker.exists()
    assert str(path) in str(err.value) and "trust_pickle=True" in str(err.value)
    with pytest.raises(UnsafePickleError):
        convert_pickle(path)
    assert not marker.exists()


def test_converted_pickle_is_read_without_pickle(tmp_path):
    path = tmp_path / "features.pkl"
    content = ({"a": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"a": [0, 1]}, ["a"], [], None, 3)
    with open(path, "wb") as f:
        pickle.dump(content, f)
    safe = convert_pickle(path)
    path.write_bytes(b"not a pickle any more")             # later runs read the .safe.npz instead
    again = load_pickle(path)
    np.testing.assert_array_equal(again[0]["a"], content[0]["a"])
    assert again[1:] == content[1:]
    assert safe.name == "features.pkl.safe.npz"


# ----------------------------------------------------------------------------- interrupted runs
def test_killed_run_leaves_no_json_any_reader_takes_as_finished(outputs):
    from erc_lib.claims import collect_claims
    from erc_lib.paths import results_dir, use_smoke_folders
    from erc_lib.results import IncompleteResultsError, read_results, write_results

    name = "03_sdt_mosi-clean"                               # the notebook's default dataset
    params = notebook_defaults("03_sdt")
    use_smoke_folders(bool(params["smoke"]))                 # the folders the run below writes to
    write_results(name, {"seeds": 3, "smoke": False}, [{"variant": "old"}], claims=[{"id": "old"}])
    assert read_results(name)["status"] == "complete"
    start("03_sdt", params)                                  # a new run starts ... and is killed here
    folder = results_dir()                                   # where this run writes (results/smoke/ at smoke size)
    with pytest.raises(IncompleteResultsError, match="running"):
        read_results(name)
    payload = json.loads((folder / f"{name}.json").read_text())
    assert payload["status"] == "running" and "rows" not in payload
    assert (folder / f"{name}.previous.json").exists()      # the old run is kept aside
    assert collect_claims(folder=folder) == []               # the report does not read it either
    claims = json.loads((folder / "claims.json").read_text())
    assert claims["missing_results"] == [{"file": f"{name}.json", "status": "running"}]


