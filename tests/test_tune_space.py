"""Search spaces (erc_lib.tune.space): every model's space, read from the model table, samples
settings that build and train."""
from __future__ import annotations

import optuna
import pytest

from erc_lib import tune as tuning
from erc_lib import zoo
from erc_lib.experiment import run_experiment
from erc_lib.training import TrainConfig

from tune_helpers import TUNABLE, synthetic


@pytest.mark.parametrize("sampler_seed", [0, 1, 2])
@pytest.mark.parametrize("model", TUNABLE)
def test_every_sampled_config_builds_and_trains(model, sampler_seed):
    space = tuning.search_space(model)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=sampler_seed)).ask()
    model_args, train_args = tuning.sample(trial, space)
    assert set(model_args) == set(space["model"]) and set(train_args) == set(space["train"])
    data = synthetic()
    m, t = zoo.settings(model, "iemocap", model_args=model_args, train_args={**train_args, "epochs": 1})
    m.pop("speaker_roles", None)  # synthetic speakers carry no IEMOCAP M/F role
    spec = zoo.model_spec(model, data, model_args=m, train_args=t)
    exp = run_experiment(data, [spec], [0], TrainConfig(device="cpu"), progress=False)
    fit = exp.fit(spec.variant)
    assert len(fit.history) == 1 and 0 <= fit.dev["weighted_f1"] <= 100


def test_sample_asks_the_trial_for_each_kind_with_its_name_range_and_scale():
    """A recording trial: a ``log`` entry is a float drawn on a log scale, ``float`` on a linear one, ``int`` an
    integer in its inclusive range, a ``choice`` of scalars is suggested as itself and a choice of lists by index
    (``<name>#index``, the options' positions); each parameter is named ``model.<name>`` / ``train.<name>`` and the
    drawn values come back split by part."""
    from erc_lib.tune.space import sample

    class Recording:
        def __init__(self):
            self.calls = []

        def suggest_float(self, name, low, high, log=False):
            self.calls.append(("float", name, low, high, log))
            return high

        def suggest_int(self, name, low, high):
            self.calls.append(("int", name, low, high))
            return low

        def suggest_categorical(self, name, choices):
            self.calls.append(("categorical", name, choices))
            return choices[-1]

    trial = Recording()
    space = {"model": {"lr": ("log", 1e-4, 1e-2), "dropout": ("float", 0.1, 0.5), "layers": ("int", 1, 3),
                       "act": ("choice", ["relu", "gelu"]), "gammas": ("choice", [[1, 1], [0.5, 2]])},
             "train": {"batch_size": ("int", 8, 32)}}
    model_args, train_args = sample(trial, space)
    assert trial.calls == [("float", "model.lr", 1e-4, 1e-2, True), ("float", "model.dropout", 0.1, 0.5, False),
                           ("int", "model.layers", 1, 3), ("categorical", "model.act", ["relu", "gelu"]),
                           ("categorical", "model.gammas#index", [0, 1]), ("int", "train.batch_size", 8, 32)]
    assert model_args == {"lr": 1e-2, "dropout": 0.5, "layers": 1, "act": "gelu", "gammas": [0.5, 2]}
    assert train_args == {"batch_size": 8}
