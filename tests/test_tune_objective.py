"""The tuning objective (erc_lib.tune.objective): the budget, the seeded IEMOCAP tuning split,
a fit per repeat on its own holdout, and the inputs a study's model reads."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

from erc_lib import tune as tuning
from erc_lib.data import ERCData, load_dataset

from conftest import require_dataset
from tune_helpers import synthetic, dialogue_ids, SMALL_BUDGET, fake_data, fake_fits  # noqa: F401 (fixtures)


def test_iemocap_tuning_splits_are_seeded_disjoint_20_percent_and_differ_by_repeat():
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    split, again = tuning.tuning_split(data), tuning.tuning_split(load_dataset("iemocap"))
    pool = set(dialogue_ids(data.splits["train"] + data.splits["dev"]))
    test = set(dialogue_ids(data.splits["test"]))
    assert dialogue_ids(split.splits["dev"]) == dialogue_ids(again.splits["dev"]), "the split must be seeded"
    assert set(dialogue_ids(split.splits["train"])) | set(dialogue_ids(split.splits["dev"])) == pool
    assert not set(dialogue_ids(split.splits["train"])) & set(dialogue_ids(split.splits["dev"]))
    assert not (set(dialogue_ids(split.splits["train"])) | set(dialogue_ids(split.splits["dev"]))) & test
    assert len(split.splits["dev"]) == round(0.2 * len(pool)) == 24  # 20 % of 108 + 12 dialogues
    assert set(dialogue_ids(split.splits["dev"])) != set(dialogue_ids(data.splits["dev"]))
    assert dialogue_ids(split.splits["test"]) == dialogue_ids(data.splits["test"]) and "20%" in split.notes
    other = tuning.tuning_split(data, repeat=1)
    assert set(dialogue_ids(other.splits["dev"])) != set(dialogue_ids(split.splits["dev"])), "repeat r is another holdout"
    assert not (set(dialogue_ids(other.splits["dev"])) | set(dialogue_ids(other.splits["train"]))) & test
    standard = tuning.tuning_split(data, "standard")
    assert dialogue_ids(standard.splits["dev"]) == dialogue_ids(data.splits["dev"])


def test_tuning_splits_standardise_copies_never_the_callers_features():
    data = synthetic("iemocap-sdt", n=(16, 4, 5))
    before = data.splits["train"][0].features["text"].copy()
    a, b = tuning.tuning_split(data, repeat=0), tuning.tuning_split(data, repeat=1)
    assert np.array_equal(data.splits["train"][0].features["text"], before)
    train = np.concatenate([d.features["text"] for d in a.splits["train"]])
    assert np.allclose(train.mean(0), 0, atol=1e-5)                    # z-scored on its own train split
    assert len(b.splits["dev"]) == 4 and len(b.splits["train"]) == 16 and len(b.splits["test"]) == 5
    with pytest.raises(ValueError, match="validation"):
        tuning.tuning_split(synthetic(), "test")
    with pytest.raises(ValueError, match="repeat"):
        tuning.tuning_split(synthetic(), repeat=-1)


def test_a_tuning_split_is_the_same_dataset_with_a_note_saying_how_its_dev_was_drawn():
    data = synthetic("iemocap-sdt", n=(16, 4, 5))
    data.notes = "speaker names anonymised"
    standard = tuning.tuning_split(data, "standard", repeat=3)  # the standard split ignores the repeat
    assert (standard.name, standard.label_names, standard.notes) == ("iemocap-sdt", ["c0", "c1", "c2"],
                                                                     "speaker names anonymised")
    for split, count in (("train", 16), ("dev", 4), ("test", 5)):
        assert dialogue_ids(standard.splits[split]) == [f"{split}_{i}" for i in range(count)]
        assert [d.labels.tolist() for d in standard.splits[split]] == [d.labels.tolist() for d in data.splits[split]]
    holdout = tuning.tuning_split(data, "holdout", repeat=2)
    assert (holdout.name, holdout.label_names) == ("iemocap-sdt", ["c0", "c1", "c2"])
    assert holdout.notes == ("speaker names anonymised\ntuning split 2: dev = a seeded 20% of the train+dev dialogues "
                             "(4 dialogues, train_test_split random_state=2), train = the other 16; test untouched")
    data.notes = ""
    assert tuning.tuning_split(data, "holdout", repeat=0).notes == (
        "tuning split 0: dev = a seeded 20% of the train+dev dialogues (4 dialogues, train_test_split "
        "random_state=0), train = the other 16; test untouched")
    # without features there is nothing to standardise: the dialogues come back as they are
    bare = ERCData("meld", data.label_names, {s: [replace(d, features={}) for d in v] for s, v in data.splits.items()})
    split = tuning.tuning_split(bare, "standard")
    assert split.modalities == [] and dialogue_ids(split.splits["train"]) == dialogue_ids(bare.splits["train"])


def test_iemocap_fits_validate_on_distinct_seeded_holdouts(fake_fits, fake_data):
    fake_fits_data = lambda: synthetic("iemocap", n=(16, 4, 5), noise=3.0)
    fake_data["data"] = fake_fits_data
    result = tuning.tune("logreg", "iemocap", storage=fake_fits["storage"], log=lambda line: None)
    data = fake_fits_data()
    pool = set(dialogue_ids(data.splits["train"] + data.splits["dev"]))
    holdouts = {}
    for c in fake_fits["calls"]:
        (seed,) = c["seeds"]
        holdouts.setdefault(seed, set()).add(c["dev"])
        assert len(c["dev"]) == 4 and set(c["dev"]) | set(c["train"]) == pool and not set(c["dev"]) & set(c["train"])
        assert c["test"] == tuple(dialogue_ids(data.splits["test"]))
        expected = tuning.tuning_split(data, "holdout", seed)          # fit r: holdout r (random_state=r)
        assert c["dev"] == tuple(dialogue_ids(expected.splits["dev"])) and c["train"] == tuple(dialogue_ids(expected.splits["train"]))
    assert sorted(holdouts) == [0, 1, 2, 3] and all(len(v) == 1 for v in holdouts.values())
    assert len({next(iter(v)) for v in holdouts.values()}) == 4, "each fit number validates on its own holdout"
    assert result.config["tuning"]["validation"].startswith("holdout: fit r validates on a seeded 20%")


def test_smoke_cli_sizes_and_the_budget_file(fake_fits):
    assert tuning.budget() == SMALL_BUDGET
    table = yaml.safe_load((fake_fits["configs"] / "defaults.yaml").read_text())
    for key, bad in (("trials", 0), ("seeds_per_trial", 0), ("rescore_top", -1), ("rescore_seeds", -1),
                     ("saturation_trials", 0), ("trials", 2.5)):
        (fake_fits["configs"] / "defaults.yaml").write_text(yaml.safe_dump({**table, "tuning": {**SMALL_BUDGET,
                                                                                                  key: bad}}))
        with pytest.raises(ValueError, match=f"^configs/defaults.yaml tuning.{key} must be an integer >= "
                                             f"{0 if key.startswith('rescore') else 1}, got {bad!r}$"):
            tuning.budget()
    (fake_fits["configs"] / "defaults.yaml").write_text(yaml.safe_dump({**table, "tuning": {**SMALL_BUDGET,
                                                                                              "trials": True}}))
    with pytest.raises(ValueError, match=r"^configs/defaults.yaml tuning.trials must be an integer >= 1, got True$"):
        tuning.budget()
    # the budget lives in the file alone: a key left out or misspelt is an error, not a silent default
    (fake_fits["configs"] / "defaults.yaml").write_text(yaml.safe_dump({**table, "tuning": {"rescore_top": 0}}))
    with pytest.raises(ValueError) as error:
        tuning.budget()
    assert str(error.value) == ("configs/defaults.yaml tuning: needs exactly ['trials', 'seeds_per_trial', "
                                "'rescore_top', 'rescore_seeds', 'saturation_trials']; missing ['trials', "
                                "'seeds_per_trial', 'rescore_seeds', 'saturation_trials'], unknown []")
    misspelt = {k: v for k, v in SMALL_BUDGET.items() if k != "trials"} | {"trails": 30}
    (fake_fits["configs"] / "defaults.yaml").write_text(yaml.safe_dump({**table, "tuning": misspelt}))
    with pytest.raises(ValueError, match=r"missing \['trials'\], unknown \['trails'\]$"):
        tuning.budget()
    (fake_fits["configs"] / "defaults.yaml").write_text(yaml.safe_dump({**table, "tuning": {**SMALL_BUDGET,
                                                                                              "rescore_top": 0}}))
    assert tuning.budget() == {"trials": 4, "seeds_per_trial": 2, "rescore_top": 0, "rescore_seeds": 2,
                               "saturation_trials": 3}
    assert tuning.SMOKE_DIALOGUES == {"train": 10, "dev": 4, "test": 4} and tuning.SMOKE_EPOCHS == 2


def test_model_inputs_read_speech_as_audio_except_for_mister_e_experts():
    assert tuning.model_inputs("bigru", ["speech", "text"]) == ["audio", "text"]
    assert tuning.model_inputs("mister_e", ["speech", "text"]) == ["speech", "text"]
    assert tuning.model_inputs("sdt", None) is None and tuning.model_inputs("mister_e", None) is None
    assert tuning.resolve_validation("iemocap", "auto") == "holdout" == tuning.resolve_validation("iemocap-sdt", "auto")
    assert tuning.resolve_validation("meld", "auto") == "standard" == tuning.resolve_validation("iemocap", "standard")
    assert tuning.resolve_validation("meld", "holdout") == "holdout"


def test_a_trial_is_scored_with_this_datasets_settings_its_inputs_and_one_uncached_fit_per_repeat(monkeypatch, tmp_path):
    """StudyRun.score, every collaborator recorded: the settings are the dataset's layers with the trial's model and
    training overrides (zoo.settings), the smoke epoch count replaces the settings' one, each repeat r trains one
    fit of the model's spec on holdout r with seed r, the spec built from those settings and the model's inputs
    (``speech`` read as ``audio`` for a model without experts), outside the fit cache; the score is each fit's dev
    weighted F1, in repeat order."""
    from types import SimpleNamespace

    from erc_lib import experiment, zoo
    from erc_lib.tune.objective import StudyRun

    calls = {"settings": [], "spec": [], "run": []}

    def settings(model, dataset, model_args=None, train_args=None):
        calls["settings"].append((model, dataset, model_args, train_args))
        return {"hidden": 7}, {"lr": 0.01, "epochs": 40}

    def model_spec(model, data, inputs, model_args=None, train_args=None):
        calls["spec"].append((model, data, inputs, model_args, dict(train_args)))
        return SimpleNamespace(variant="v")

    def run(data, specs, seeds, config, progress=True, cache=True):
        calls["run"].append((data, seeds, config.epochs, config.lr, progress, cache))
        fit = SimpleNamespace(dev={"weighted_f1": 50.0 + seeds[0]})
        return SimpleNamespace(seed_fits=lambda variant: [fit])

    monkeypatch.setattr(zoo, "settings", settings)
    monkeypatch.setattr(zoo, "model_spec", model_spec)
    monkeypatch.setattr(experiment, "run_experiment", run)
    study = StudyRun("bigru", "iemocap", ["text", "speech"], 2, 2, 1, 1, 3, "holdout", tmp_path / "x.yaml", "s", epochs=3)
    monkeypatch.setattr(StudyRun, "splits", lambda self, r: f"holdout {r}")
    assert study.score({"hidden": 9}, {"lr": 0.5}, range(1, 3)) == [51.0, 52.0]
    assert calls["settings"] == [("bigru", "iemocap", {"hidden": 9}, {"lr": 0.5})]
    assert calls["spec"] == [("bigru", f"holdout {r}", ["text", "audio"], {"hidden": 7}, {"lr": 0.01, "epochs": 3})
                             for r in (1, 2)]
    assert calls["run"] == [(f"holdout {r}", [r], 3, 0.01, False, False) for r in (1, 2)]
