"""The model table (erc_lib.zoo.MODELS): one entry per model name, complete and consistent with the
model code it points at.

The expected values are written from the config dataclasses and the builders' signatures (which
arguments a user may set), from ``configs/defaults.yaml`` and from the model names and display
names used before the table existed, never read back from the table itself.
"""
from __future__ import annotations

import dataclasses
import inspect

import pytest
import yaml

from data_files import toy_data
from erc_lib import zoo
from erc_lib.models import baselines, compm, mister_e, sdt
from erc_lib.ranges import TRAIN_RULES

#: Config fields the builders set from the data (never a user setting).
DERIVED = {"input_dims", "n_classes", "class_weights", "encoder_mode"}
#: Builder parameters that are the data, the inputs or the model's mode, not settings.
NOT_SETTINGS = {"data", "modalities", "options", "encoder_mode"}
#: CoMPM-family settings read by the spec rather than the builder: the EmoNet ablation row (the
#: builder's ``options``) and the speaker window and token limits of :func:`compm.compm_splits`.
COMPM_SPEC_SETTINGS = {"row", "window", "max_context_tokens", "max_utterance_tokens"}
#: model name -> (display name, config class, builder), as the code dispatched before the table.
BY_HAND = {
    "logreg": ("logistic regression (no context)", None, baselines.build_logistic_regression),
    "bigru": ("BiGRU (context)", baselines.BiGRUConfig, baselines.build_bigru),
    "sdt": ("SDT", sdt.SDTConfig, sdt.build_sdt),
    "mister_e": ("MiSTER-E", mister_e.MiSTEREConfig, mister_e.build_mister_e),
    "compm": ("CoMPM", compm.CoMPMConfig, compm.build_compm),
    "emonet": ("EmoNet", compm.CoMPMConfig, compm.build_compm),
    "compm_finetune": ("CoMPM", compm.CoMPMConfig, compm.build_compm),
}


def user_settings(model: str) -> set[str]:
    """The names a user may set for ``model``: its config fields minus those derived from the
    data, plus the builder's own keyword flags (``class_weighted``, ...), plus for the CoMPM family
    the settings its spec reads."""
    _, config, builder = BY_HAND[model]
    fields = {f.name for f in dataclasses.fields(config)} - DERIVED if config else set()
    flags = {name for name, p in inspect.signature(builder).parameters.items()
             if p.kind is not inspect.Parameter.VAR_KEYWORD and name not in NOT_SETTINGS}
    extra = COMPM_SPEC_SETTINGS if builder is compm.build_compm else set()
    return fields | flags | extra


def test_the_table_lists_every_model_in_order_with_its_display_name_and_code():
    assert list(zoo.MODELS) == ["logreg", "bigru", "sdt", "mister_e", "compm", "emonet", "compm_finetune"]
    for name, (display, config, builder) in BY_HAND.items():
        entry = zoo.MODELS[name]
        assert (entry.name, entry.display, entry.config, entry.builder) == (name, display, config, builder)
    assert zoo.MODEL_NAMES == {name: display for name, (display, _, _) in BY_HAND.items()}


@pytest.mark.parametrize("model", list(BY_HAND))
def test_rules_cover_exactly_the_settings_a_user_may_override(model):
    assert set(zoo.MODELS[model].rules) == user_settings(model)


def test_rules_and_search_spaces_sit_beside_their_config_class():
    """One place per model: its module holds the config class, the rules and the search space."""
    assert zoo.MODELS["sdt"].rules is sdt.SDT_RULES and zoo.MODELS["sdt"].space is sdt.SEARCH_SPACE
    assert zoo.MODELS["mister_e"].rules is mister_e.MISTER_E_RULES and zoo.MODELS["mister_e"].space is mister_e.SEARCH_SPACE
    assert zoo.MODELS["bigru"].rules is baselines.BIGRU_RULES and zoo.MODELS["bigru"].space is baselines.BIGRU_SEARCH_SPACE
    assert zoo.MODELS["logreg"].rules is baselines.LOGREG_RULES
    for name in ("compm", "emonet", "compm_finetune"):
        assert zoo.MODELS[name].rules is compm.COMPM_RULES
    assert zoo.MODELS["compm"].space is compm.SEARCH_SPACE and zoo.MODELS["emonet"].space is compm.EMONET_SEARCH_SPACE


def _ends(spec: tuple) -> list:
    """The values a search-space entry can produce at its ends: both bounds, or every choice."""
    return list(spec[1]) if spec[0] == "choice" else [spec[1], spec[2]]


@pytest.mark.parametrize("model", [m for m in BY_HAND if m != "compm_finetune"])
def test_every_search_interval_lies_inside_its_rule(model):
    space = zoo.MODELS[model].space
    rules = {"model": zoo.MODELS[model].rules, "train": TRAIN_RULES}
    for part in ("model", "train"):
        for name, spec in space[part].items():
            assert name in rules[part], f"{model}: {part}.{name} has no rule"
            for value in _ends(spec):
                assert rules[part][name].allows(value), f"{model}: {part}.{name}={value!r} outside its rule"
            if spec[0] != "choice":
                assert spec[1] < spec[2] and (spec[0] != "log" or spec[1] > 0), f"{model}: {part}.{name}"


def test_only_the_fine_tuned_encoder_has_no_search_space_and_says_why():
    untuned = [name for name, entry in zoo.MODELS.items() if entry.space is None]
    assert untuned == ["compm_finetune"] and "tune the frozen mode 'compm'" in zoo.MODELS["compm_finetune"].untuned


def test_every_model_of_the_defaults_file_is_in_the_table_and_every_entry_reads_a_section():
    table = yaml.safe_load((zoo.CONFIG_DIR / "defaults.yaml").read_text())
    sections = set(table) - {"tuning"}
    assert sections <= set(zoo.MODELS)
    assert {entry.defaults for entry in zoo.MODELS.values()} == sections
    assert zoo.MODELS["emonet"].defaults == "compm"  # EmoNet shares CoMPM's defaults


def test_compm_family_rows_and_modes():
    assert {n: (e.row, e.encoder_mode) for n, e in zoo.MODELS.items() if e.row} == {
        "compm": ("CoMPM", "frozen"), "emonet": ("+ normalised weighted CE", "frozen"),
        "compm_finetune": ("CoMPM", "finetune")}
    assert all(row in compm.EMONET_ABLATION for row in ("CoMPM", "+ normalised weighted CE"))


def test_an_unknown_model_fails_with_the_known_names():
    expected = ("unknown model 'gpt'; expected one of "
                "('logreg', 'bigru', 'sdt', 'mister_e', 'compm', 'emonet', 'compm_finetune')")
    for call in (lambda: zoo.model_entry("gpt"), lambda: zoo.settings("gpt", "iemocap"),
                 lambda: zoo.model_spec("gpt", None)):
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) == expected


def test_only_mister_e_reads_expert_inputs():
    assert [n for n, e in zoo.MODELS.items() if e.experts] == ["mister_e"]


# ----------------------------------------------------------------------------- settings: which layer wins
def _write_configs(folder, defaults: dict, tuned: dict[str, dict] | None = None):
    (folder / "tuned").mkdir(parents=True)
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    for name, content in (tuned or {}).items():
        (folder / "tuned" / f"{name}.yaml").write_text(yaml.safe_dump(content))


def test_settings_layers_override_each_other_lowest_first(tmp_path, monkeypatch):
    """The module's contract: ``all`` row < the dataset's row < the tuned file < the caller's
    overrides. A constructed defaults table where one value is set in every layer and each other
    value in one layer only; the expected settings are read off it by hand."""
    _write_configs(tmp_path, {"sdt": {
        "all": {"model": {"d_model": 64, "temperature": 1.0, "dropout": 0.5},
                "train": {"epochs": 40, "lr": 0.001, "batch_size": 8}},
        "meld": {"model": {"temperature": 8.0, "dropout": 0.3}, "train": {"epochs": 50, "lr": 0.0005}}}},
        {"sdt_meld": {"model": {"dropout": 0.1}, "train": {"lr": 0.0002}}})
    monkeypatch.setattr(zoo, "CONFIG_DIR", tmp_path)
    assert zoo.settings("sdt", "meld") == ({"d_model": 64, "temperature": 8.0, "dropout": 0.3},
                                           {"epochs": 50, "lr": 0.0005, "batch_size": 8})
    assert zoo.settings("sdt", "meld", tuned=True) == ({"d_model": 64, "temperature": 8.0, "dropout": 0.1},
                                                       {"epochs": 50, "lr": 0.0002, "batch_size": 8})
    assert zoo.settings("sdt", "meld", tuned=True, model_args={"dropout": 0.2}, train_args={"lr": 0.0001}) == (
        {"d_model": 64, "temperature": 8.0, "dropout": 0.2}, {"epochs": 50, "lr": 0.0001, "batch_size": 8})
    # a dataset without a row of its own gets the ``all`` row
    assert zoo.settings("sdt", "iemocap") == ({"d_model": 64, "temperature": 1.0, "dropout": 0.5},
                                              {"epochs": 40, "lr": 0.001, "batch_size": 8})


def test_settings_read_the_papers_per_dataset_values_from_the_defaults_file():
    """configs/defaults.yaml as committed: SDT on MELD uses the authors' T = 8, identity gate and lr 5e-6
    over the ``all`` row's T = 1 and lr 5e-4; the BiGRU on IEMOCAP is class-weighted as SDT is."""
    m, t = zoo.settings("sdt", "meld")
    assert (m["temperature"], m["unimodal_gate"], t["lr"], t["epochs"]) == (8.0, "identity", 0.000005, 50)
    assert m["d_model"] == 128 and t["patience"] == 10  # from ``all``
    assert zoo.settings("bigru", "iemocap")[0]["class_weighted"] is True
    assert zoo.settings("bigru", "meld")[0]["class_weighted"] is False


# ----------------------------------------------------------------------------- baseline rows
def test_baseline_rows_read_the_tuned_file_of_their_inputs(tmp_path, monkeypatch):
    """:func:`zoo.baseline_specs` on the dataset's own modalities reads ``<model>_<dataset>.yaml``
    (no inputs suffix, as :func:`zoo.tuned_path` says) and adds the default-settings rows after the
    tuned ones; on fewer inputs than the dataset has, the suffixed file (``_t``)."""
    _write_configs(tmp_path, {
        "logreg": {"all": {"model": {"C": 1.0, "class_weighted": False}, "train": {}}},
        "bigru": {"all": {"model": {"hidden": 128, "dropout": 0.3}, "train": {"epochs": 40}}}},
        {"bigru_toy": {"model": {"hidden": 64}, "train": {"lr": 0.002}},
         "bigru_toy_t": {"model": {"hidden": 256}, "train": {}}})
    monkeypatch.setattr(zoo, "CONFIG_DIR", tmp_path)
    text_only = toy_data()
    specs = zoo.baseline_specs(text_only, "toy", ["text"])
    assert [(s.variant, s.columns["settings"]) for s in specs] == [
        ("logistic regression (no context)", "default"), ("BiGRU (context)", "tuned"),
        ("BiGRU (context, default settings)", "default")]
    assert specs[1].identity["model_args"] == {"hidden": 64, "dropout": 0.3}
    assert specs[1].train == {"epochs": 40, "lr": 0.002}
    assert specs[2].identity["model_args"] == {"hidden": 128, "dropout": 0.3} and specs[2].train == {"epochs": 40}
    two = toy_data(dims={"text": 4, "audio": 3})
    specs = zoo.baseline_specs(two, "toy", ["text"])
    assert specs[1].columns["settings"] == "tuned" and specs[1].identity["model_args"]["hidden"] == 256
    assert [s.columns["settings"] for s in zoo.baseline_specs(two, "toy", ["text", "audio"], use_tuned=True)] == [
        "default", "tuned", "default"]
    assert zoo.baseline_specs(text_only, "toy", ["text"], use_tuned=False)[1].columns["settings"] == "default"
