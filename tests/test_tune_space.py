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
