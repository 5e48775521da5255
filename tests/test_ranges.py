"""Every model and training setting is checked when the configuration is built
(erc_lib.ranges via erc_lib.zoo.settings): the committed defaults and tuned files pass, and a bad
override fails before any training with the field, the value and the allowed range."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from erc_lib import ranges, zoo
from erc_lib.models.baselines import BiGRUConfig
from erc_lib.models.compm import EMONET_ABLATION, CoMPMConfig
from erc_lib.models.mister_e import KL_FORMS, MISTER_E_VARIANTS, MiSTEREConfig
from erc_lib.models.sdt import SDTConfig
from erc_lib.training import TrainConfig

DATASETS = ("iemocap", "meld", "emorynlp", "mosi")
DERIVED = {"input_dims", "n_classes", "class_weights", "encoder_mode"}  # set by the builders, never overridden


def test_every_config_field_has_a_rule():
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(ranges.TRAIN_RULES)
    for config, model in ((SDTConfig, "sdt"), (MiSTEREConfig, "mister_e"), (BiGRUConfig, "bigru"), (CoMPMConfig, "compm")):
        assert {f.name for f in dataclasses.fields(config)} - DERIVED <= set(zoo.MODELS[model].rules), model
    assert zoo.MODELS["mister_e"].rules["variant"].choices == MISTER_E_VARIANTS
    assert zoo.MODELS["mister_e"].rules["kl_form"].choices == KL_FORMS
    assert zoo.MODELS["compm"].rules["row"].choices == tuple(EMONET_ABLATION)


@pytest.mark.parametrize("model", [m for m in zoo.MODELS])
def test_committed_defaults_and_tuned_files_pass(model):
    for dataset in DATASETS:
        zoo.settings(model, dataset)  # raises on a value out of range
    for path in sorted((zoo.CONFIG_DIR / "tuned").glob(f"{model}_*.yaml")):
        if any(path.stem.startswith(m + "_") and len(m) > len(model) for m in zoo.MODELS):
            continue  # compm_finetune_* is not compm's
        best = yaml.safe_load(path.read_text()) or {}
        ranges.check_settings(model, best.get("model") or {}, best.get("train") or {}, zoo.MODELS[model].rules)


@pytest.mark.parametrize("model, overrides, train, expected", [
    ("sdt", {"dropout": 1.0}, {}, "dropout=1.0 is outside its range (a number in [0, 1))"),
    ("sdt", {"gammas": [1.0, -1.0, 1.0]}, {}, "gammas=[1.0, -1.0, 1.0] is outside its range"),
    ("sdt", {"unimodal_gate": "sigmoid"}, {}, "one of ['learned', 'identity']"),
    ("mister_e", {"focal_gamma": -1.0}, {}, "focal_gamma=-1.0 is outside its range (a number >= 0)"),
    ("mister_e", {"con_temperature": 0}, {}, "con_temperature=0 is outside its range (a number > 0)"),
    ("bigru", {"hidden": 0}, {}, "hidden=0 is outside its range (an integer >= 1)"),
    ("compm", {"window": 2.5}, {}, "window=2.5"),
    ("sdt", {"d_modle": 64}, {}, "unknown setting 'd_modle'"),
    ("sdt", {}, {"lr": -0.001}, "lr=-0.001 is outside its range (a number in (0, 1])"),
    ("bigru", {}, {"patience": 0}, "patience=0"),
    ("mister_e", {}, {"batch_size": True}, "batch_size=True"),
    ("sdt", {}, {"optimiser": "adam"}, "unknown setting 'optimiser'"),
])
def test_a_bad_override_fails_with_field_value_and_range(model, overrides, train, expected):
    with pytest.raises(ValueError) as e:
        zoo.resolve(model, "iemocap", use_tuned=False, model_args=overrides, train_args=train)
    assert expected in str(e.value)


def test_rules_describe_and_allow():
    assert ranges.PROBABILITY.allows(0.0) and not ranges.PROBABILITY.allows(1.0)
    assert ranges.POSITIVE.allows(1) and not ranges.POSITIVE.allows(0.0) and not ranges.SIZE.allows(True)
    assert ranges.Rule(int, 1, nullable=True).describe() == "an integer >= 1 or None"
