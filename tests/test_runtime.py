"""Run-time settings (erc_lib/runtime.py): CPU threads read from the benchmark or refused, progress bars that follow
the environment, the device and the seeds."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from erc_lib.runtime import (DeviceError, measured_cpu_threads, progress_bar, resolve_device, seed_everything,
                             set_cpu_threads)


def test_auto_threads_reads_the_benchmark(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"best_threads": {"sdt": 2, "bigru": 1, "mister_e": 1}}))
    assert measured_cpu_threads("sdt", path)[0] == 2
    assert measured_cpu_threads(None, path)[:1] == (1,)          # the majority
    assert measured_cpu_threads("compm", path)[2] is True        # unmeasured model: the majority
    threads, note, measured = measured_cpu_threads(None, tmp_path / "missing.json")
    assert (threads, measured) == (1, False) and "missing.json" in note


def test_set_cpu_threads_auto_and_bad_values(monkeypatch, tmp_path):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("erc_lib.runtime.measured_cpu_threads", lambda model=None: (1, "test", True))
        assert set_cpu_threads("cpu", "auto") == 1
        monkeypatch.setattr("erc_lib.runtime.measured_cpu_threads", lambda model=None: (1, "none found", False))
        with pytest.warns(RuntimeWarning, match="none found"):
            set_cpu_threads("cpu", "auto", model="sdt")
        with pytest.raises(ValueError, match="auto"):
            set_cpu_threads("cpu", "many")
    finally:
        torch.set_num_threads(before)


def test_progress_bars_follow_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("ERC_PROGRESS", "off")
    assert progress_bar(range(3)).disable
    monkeypatch.setenv("ERC_PROGRESS", "text")
    bar = progress_bar(range(3))
    assert type(bar).__module__ == "tqdm.std"
    monkeypatch.setenv("ERC_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="ERC_PROGRESS"):
        progress_bar(range(3))


def test_resolve_device_follows_its_contract():
    """``auto`` is CUDA when available else the CPU; ``cpu`` is the CPU; CUDA without CUDA is a
    :class:`DeviceError` that says how to run on the CPU; anything else is a ValueError naming the choices."""
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "CPU", None, 0):
        with pytest.raises(ValueError, match=r"device must be one of \('auto', 'cpu', 'cuda'\)"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        for cuda in ("cuda", "cuda:1"):
            with pytest.raises(DeviceError, match="run with device='cpu'"):
                resolve_device(cuda)


def test_the_same_seed_gives_the_same_python_numpy_and_torch_draws():
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    seed_everything(3)
    first = draws()
    seed_everything(3)
    assert draws() == first
    seed_everything(4)
    assert all(a != b for a, b in zip(draws(), first))
