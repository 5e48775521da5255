"""Where the project reads and writes (erc_lib/paths.py), by its documented contract: the environment variables
move every folder, smoke runs write to a ``smoke/`` sub-folder, writes are atomic and refused folders are named."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from erc_lib.paths import (SMOKE_FOLDER, atomic_write, cache_dir, check_writable, data_dir, figures_dir, results_dir,
                           smoke_from_env, use_smoke_folders, write_json)


def test_environment_variables_move_every_folder(tmp_path, monkeypatch):
    for var in ("ERC_DATA_DIR", "ERC_CACHE_DIR", "ERC_RESULTS_DIR", "ERC_FIGURES_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    assert data_dir() == (tmp_path / "erc_data_dir").resolve() and not data_dir().exists()   # never created
    assert cache_dir() == tmp_path / "erc_cache_dir" and cache_dir().is_dir()               # created on demand
    assert results_dir(smoke=False) == tmp_path / "erc_results_dir"
    assert figures_dir(smoke=False) == tmp_path / "erc_figures_dir"
    assert results_dir(smoke=True) == tmp_path / "erc_results_dir" / SMOKE_FOLDER == tmp_path / "erc_results_dir" / "smoke"
    assert figures_dir(smoke=True).is_dir() and figures_dir(smoke=True).name == "smoke"


def test_smoke_runs_write_to_the_smoke_sub_folder_whichever_switch_is_on(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("ERC_SMOKE", raising=False)
    use_smoke_folders(False)
    assert results_dir() == tmp_path
    monkeypatch.setenv("ERC_SMOKE", "1")
    assert results_dir() == tmp_path / "smoke"
    monkeypatch.delenv("ERC_SMOKE")
    use_smoke_folders(True)
    assert results_dir() == tmp_path / "smoke" and results_dir(smoke=False) == tmp_path


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("Yes", True), (" on ", True),
                                             ("0", False), ("", False), ("no", False), ("smoke", False)])
def test_erc_smoke_values(value, expected, monkeypatch):
    monkeypatch.setenv("ERC_SMOKE", value)
    assert smoke_from_env() is expected
    assert smoke_from_env(default=True) is True


def test_atomic_write_replaces_whole_files_and_keeps_the_old_one_when_writing_fails(tmp_path):
    path = tmp_path / "sub" / "a.npz"
    assert atomic_write(path, lambda tmp: tmp.write_text("first")) == path
    assert path.read_text() == "first"
    seen = []

    def failing(tmp: Path):
        seen.append(tmp)
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, failing)
    assert path.read_text() == "first"                                   # the old file, whole
    assert seen[0].suffix == ".npz" and seen[0].parent == path.parent    # same folder, same suffix
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.npz"]    # no temporary file left


def test_write_json_writes_numpy_scalars_as_floats_and_compactly_without_indent(tmp_path):
    path = write_json(tmp_path / "r.json", {"f1": np.float32(0.5), "n": 3})
    assert json.loads(path.read_text()) == {"f1": 0.5, "n": 3} and "\n" in path.read_text()
    write_json(tmp_path / "c.json", {"a": [1, 2]}, indent=None)
    assert (tmp_path / "c.json").read_text() == '{"a":[1,2]}'


def test_check_writable_names_a_folder_it_cannot_write(tmp_path):
    assert check_writable(tmp_path / "new") == tmp_path / "new" and (tmp_path / "new").is_dir()
    assert list((tmp_path / "new").iterdir()) == []                      # the probe file is removed
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(PermissionError, match="ERC_RESULTS_DIR") as err:
        check_writable(blocker / "results")
    assert str(blocker / "results") in str(err.value)
