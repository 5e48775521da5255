"""Shared fixtures of the tuner's tests (tests/test_tune_*.py): synthetic dialogues, a fake
``prepare_dataset`` and a fake objective whose every fit is a recorded call (no training)."""
from __future__ import annotations

import functools
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from erc_lib import experiment, zoo
from erc_lib.tune import cli as tune_cli
from erc_lib.tune import study as tune_study
from erc_lib.data import Dialogue, ERCData


TUNABLE = [m for m in zoo.MODELS if m != "compm_finetune"]
NAMES = ["Ses01_M", "Ses01_F", "Ses02_M", "Ses02_F"]


def synthetic(name="meld", n=(8, 4, 4), seed=0, dim=16, n_classes=3, noise=0.5) -> ERCData:
    """Dialogues with recurring speakers and label-dependent ``text`` features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)
    splits = {}
    for split, count in zip(("train", "dev", "test"), n):
        dialogues = []
        for i in range(count):
            length = int(rng.integers(4, 9))
            labels = rng.integers(0, n_classes, size=length).astype(np.int64)
            labels[:n_classes] = np.arange(n_classes)
            speakers = [NAMES[k] for k in rng.integers(0, len(NAMES), size=length)]
            feats = centres[labels] + noise * rng.normal(size=(length, dim)).astype(np.float32)
            dialogues.append(Dialogue(f"{split}_{i}", speakers, [f"utt {j}" for j in range(length)], labels,
                                      {"text": feats}))
        splits[split] = dialogues
    return ERCData(name, [f"c{k}" for k in range(n_classes)], splits).validate()


#: More fits than any study of these tests asks for (at most 6 trials x 2 fits, plus re-scoring).
MAX_FITS = 200


def count_fit(calls: list) -> None:
    """Fail the test once a study has asked for more than :data:`MAX_FITS` fits: it would never end."""
    if len(calls) >= MAX_FITS:
        raise AssertionError(f"the study asked for more than {MAX_FITS} fits: it would never end")


def _a_lone_worker_never_waits(monkeypatch) -> None:
    """In the test's own process a study has one worker, so nothing can finish the trials it would
    wait for: a wait fails the test at once instead of hanging it (forked workers sleep as usual)."""
    parent = os.getpid()

    def sleep(seconds):
        if os.getpid() == parent:
            raise AssertionError("a lone worker waited for trials no other worker runs: the study would never end")
        time.sleep(seconds)
    monkeypatch.setattr(tune_study, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=sleep))


def _no_worker_processes(argv, **kwargs):
    """The synthetic data and fake fits live in this process: a worker process would tune on real files."""
    raise AssertionError(f"a worker process was started: {argv}")


@pytest.fixture
def fake_data(monkeypatch):
    """``prepare_dataset`` returns synthetic data (no files read; noisy enough that dev is not
    saturated); returns a setter for it. A study that never ends fails the test instead of hanging it
    (:data:`MAX_FITS`, :func:`_a_lone_worker_never_waits`, :func:`_no_worker_processes`)."""
    holder = {"data": lambda: synthetic(noise=3.0)}
    monkeypatch.setattr("erc_lib.features.text.prepare_dataset", lambda name, **kw: holder["data"]())
    _a_lone_worker_never_waits(monkeypatch)
    monkeypatch.setattr(tune_cli, "subprocess", SimpleNamespace(Popen=_no_worker_processes))
    fits, real = [], experiment.run_experiment

    @functools.wraps(real)
    def counted(*args, **kwargs):
        count_fit(fits)
        fits.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr("erc_lib.experiment.run_experiment", counted)
    return holder


def trials_of(result):
    """``(params, value)`` of every trial of a :class:`erc_lib.tune.TuneResult`'s study, in order."""
    return [(t.params, t.value) for t in result.study.trials]


def dialogue_ids(dialogues):
    """The ids of ``dialogues``, in order."""
    return [d.dialogue_id for d in dialogues]


#: A small budget written into a copy of configs/defaults.yaml for the fake objective.
SMALL_BUDGET = {"trials": 4, "seeds_per_trial": 2, "rescore_top": 2, "rescore_seeds": 2, "saturation_trials": 3}


class _DevOnlyFit:
    """A fit whose test scores cannot be read: the objective must read dev only."""

    def __init__(self, dev: float):
        self.dev = {"weighted_f1": dev}

    @property
    def test(self):
        raise AssertionError("tuning read a test score")

    @property
    def test_outputs(self):
        raise AssertionError("tuning read test outputs")


@pytest.fixture
def fake_fits(tmp_path, monkeypatch, fake_data):
    """Every fit is a recorded call; ``holder["objective"](call, index)`` gives its dev score."""
    configs = tmp_path / "configs"
    (configs / "tuned").mkdir(parents=True)
    defaults = yaml.safe_load((zoo.CONFIG_DIR / "defaults.yaml").read_text())
    defaults["tuning"] = dict(SMALL_BUDGET)
    (configs / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    monkeypatch.setattr(zoo, "CONFIG_DIR", configs)
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path / "results"))
    calls, holder = [], {"objective": lambda call, index: 50.0}

    def run_experiment(data, specs, seeds, config, progress=True, cache=True):
        (spec,) = specs
        count_fit(calls)
        call = {"dataset": data.name, "seeds": list(seeds), "config": config, "cache": cache,
                "model_args": dict(spec.identity["model_args"]),
                **{split: tuple(dialogue_ids(data.splits[split])) for split in ("train", "dev", "test")}}
        value = holder["objective"](call, len(calls))
        calls.append({**call, "value": value})

        class Result:
            def seed_fits(self, variant):
                assert variant == spec.variant
                return [_DevOnlyFit(value)]
        return Result()

    monkeypatch.setattr("erc_lib.experiment.run_experiment", run_experiment)
    holder["calls"] = calls
    holder["storage"] = f"sqlite:///{tmp_path / 'fake.db'}"
    holder["configs"] = configs
    return holder
