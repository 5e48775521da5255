"""Every model and training setting is checked when the configuration is built
(erc_lib.ranges via erc_lib.zoo.settings): the committed defaults and tuned files pass, and a bad
override fails before any training with the field, the value and the allowed range."""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_one_rule_checks_notebook_parameters_with_the_value_and_what_is_allowed():
    """The notebooks' parameters use the same :class:`ranges.Rule` (the former ``notebook.Param``)."""
    seeds = ranges.Rule(int, 1, 100)
    assert seeds.problem("seeds", 3) is None and seeds.problem("seeds", 100) is None
    assert seeds.problem("seeds", "3") == "seeds='3' is a str, expected an integer in [1, 100]"
    assert seeds.problem("seeds", True) == "seeds=True is a bool, expected an integer in [1, 100]"
    assert seeds.problem("seeds", 0) == "seeds=0 is out of range (an integer in [1, 100])"
    assert seeds.problem("seeds", None) == "seeds=None is not allowed (an integer in [1, 100])"
    assert ranges.Rule(float, 1e-9, 1.0, nullable=True).problem("lr", None) is None
    codes = ranges.Rule(str, pattern="tav")
    assert codes.problem("modalities", "ta") is None
    for bad in ("tt", "", "tx"):
        assert codes.problem("modalities", bad) == (f"modalities={bad!r} is not allowed "
                                                    "(a string of distinct characters from 'tav')")
    datasets = ranges.Rule(list, item=ranges.Rule(str, choices=("iemocap", "mosi")), min_items=1)
    assert datasets.problem("datasets", ["mosi"]) is None
    assert datasets.problem("datasets", []) == "datasets=[] needs at least 1 item(s)"
    assert datasets.problem("datasets", ["imdb"]) == "datasets: item 'imdb' is not allowed (allowed items: ['iemocap', 'mosi'])"
    assert datasets.problem("datasets", [3]) == "datasets: item 3 is a int, expected one of ['iemocap', 'mosi']"
    assert ranges.Rule(dict).problem("model_overrides", [1]) == "model_overrides=[1] is a list, expected a mapping"


@given(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2), st.text(max_size=3),
                 st.lists(st.integers(-2, 2), max_size=4)))
@settings(max_examples=200, deadline=None)
def test_a_rule_names_a_problem_exactly_when_it_refuses_the_value(value):
    rules = (ranges.PROBABILITY, ranges.SIZE, ranges.FLAG, ranges.Rule(str, pattern="tav"),
             ranges.Rule(list, item=ranges.Rule(int, 0), min_items=1), ranges.Rule(int, 1, 3, nullable=True),
             ranges.Rule(str, choices=("a", "b")), ranges.Rule(list, length=3, item=ranges.NON_NEGATIVE))
    for rule in rules:
        assert (rule.problem("x", value) is None) == rule.allows(value), (rule, value)
