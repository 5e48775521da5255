"""Equal-budget tuning (erc_lib.tune): a real 2-trial smoke study, every search space builds
and trains, the IEMOCAP tuning split, shared studies, determinism, dev-only objective, errors."""
from __future__ import annotations

import shutil

import numpy as np
import optuna
import pytest
import torch
import yaml

from erc_lib import tune as tuning
from erc_lib import zoo
from erc_lib.data import Dialogue, ERCData, load_dataset
from erc_lib.experiment import run_experiment
from erc_lib.training import TrainConfig

from conftest import require_dataset

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


@pytest.fixture
def fake_data(monkeypatch):
    """``prepare_dataset`` returns synthetic data (no files read; noisy enough that dev is not
    saturated); returns a setter for it."""
    holder = {"data": lambda: synthetic(noise=3.0)}
    monkeypatch.setattr("erc_lib.features.text.prepare_dataset", lambda name, **kw: holder["data"]())
    return holder


def _trials(result):
    return [(t.params, t.value) for t in result.study.trials]


# ----------------------------------------------------------------------------- (a) real smoke study
@pytest.mark.slow
def test_smoke_study_on_iemocap_records_defaults_fits_and_history(tmp_path):
    require_dataset("iemocap")
    url = f"sqlite:///{tmp_path / 'tuning.db'}"
    result = tuning.tune("sdt", "iemocap", trials=2, seeds_per_trial=2, rescore_top=1, rescore_seeds=1, storage=url,
                         out=tmp_path / "sdt.yaml", n_dialogues={"train": 10, "dev": 4, "test": 4}, epochs=2, log=lambda line: None)
    saved = yaml.safe_load((tmp_path / "sdt.yaml").read_text())
    t = saved["tuning"]
    assert set(saved) == {"model", "train", "tuning"}
    assert t["trials"] == 2 and t["seeds_per_trial"] == 2 and t["validation"].startswith("holdout") and t["smoke"]
    assert [h[:2] for h in t["history"]] == [[0, "defaults"], [1, "search"]]
    assert t["default_dev_weighted_f1"] is not None and t["best_dev_weighted_f1"] >= t["default_dev_weighted_f1"]
    assert t["pruning"] == "none" and not t["storage"].startswith("sqlite:////")
    study = optuna.load_study(study_name="sdt_iemocap", storage=url)
    kinds = [tr.user_attrs["kind"] for tr in study.trials]
    # re-scored: the best search trial and the defaults, once each (one trial when the defaults are the best)
    best = max(study.trials[:2], key=lambda tr: tr.value).number
    assert kinds[:2] == ["defaults", "search"]
    assert sorted(tr.user_attrs["of"] for tr in study.trials if tr.user_attrs["kind"] == "rescore") == sorted({best, 0})
    assert all(tr.state == optuna.trial.TrialState.COMPLETE for tr in study.trials)
    assert [len(tr.user_attrs["dev_weighted_f1_per_fit"]) for tr in study.trials] == [2, 2] + [1] * len({best, 0})


# ----------------------------------------------------------------------------- (b) every search space
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


def test_compm_finetune_and_unknown_inputs_fail_before_work(tmp_path):
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(ValueError, match="no search space"):
        tuning.tune("compm_finetune", "emorynlp", 1, storage=url)
    with pytest.raises(ValueError, match="unknown model"):
        tuning.tune("gpt", "iemocap", 1, storage=url)
    with pytest.raises(ValueError, match="unknown dataset"):
        tuning.tune("sdt", "imdb", 1, storage=url)
    with pytest.raises(ValueError, match="trials"):
        tuning.tune("sdt", "iemocap", 0, storage=url)
    with pytest.raises(ValueError, match="seeds_per_trial"):
        tuning.tune("sdt", "iemocap", 2, seeds_per_trial=0, storage=url)
    with pytest.raises(ValueError, match="validation"):
        tuning.tune("sdt", "iemocap", 1, storage=url, validation="test")
    assert not (tmp_path / "never.db").exists()
    with pytest.raises(ValueError, match="unknown kind"):
        tuning.sample(optuna.trial.FixedTrial({}), {"model": {"x": ("gauss", 0, 1)}})
    with pytest.raises(SystemExit):
        tuning.main(["--model", "sdt", "--dataset", "iemocap", "--trials", "0"])
    with pytest.raises(SystemExit):
        tuning.main(["--trials", "2"])                                    # neither --all nor a study


def test_saturated_dataset_is_refused_before_any_work(tmp_path):
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(tuning.SaturatedObjectiveError, match="mosi.*saturated.*mosi-clean"):
        tuning.tune("bigru", "mosi", 2, storage=url)
    assert not (tmp_path / "never.db").exists()
    with pytest.raises(SystemExit):
        tuning.main(["--model", "sdt", "--dataset", "mosi"])
    assert ("sdt", "mosi", None) not in tuning.STUDIES and ("sdt", "mosi-clean", None) in tuning.STUDIES


def test_a_saturated_objective_stops_the_study(tmp_path, fake_data):
    """Dev that any setting scores 100 on (classes far apart, no noise) cannot rank settings."""
    def separable():
        data = synthetic()
        for split in data.splits.values():
            for d in split:
                d.features["text"] = np.eye(16, dtype=np.float32)[d.labels] * 50
        return data

    fake_data["data"] = separable
    with pytest.raises(tuning.SaturatedObjectiveError, match="meld: dev weighted F1 100.00 >= 99"):
        tuning.tune("logreg", "meld", 4, seeds_per_trial=2, storage=f"sqlite:///{tmp_path / 's.db'}",
                    out=tmp_path / "s.yaml", log=lambda line: None)
    assert not (tmp_path / "s.yaml").exists()


def test_defaults_are_trial_0_and_the_written_settings_never_score_below_them(tmp_path, fake_data):
    result = tuning.tune("bigru", "meld", 4, seeds_per_trial=2, rescore_top=2, rescore_seeds=1, epochs=2,
                         storage=f"sqlite:///{tmp_path / 'd.db'}", out=tmp_path / "d.yaml", log=lambda line: None)
    t = result.config["tuning"]
    first = result.study.trials[0]
    assert first.user_attrs["kind"] == "defaults" and first.params == {}
    assert 0 in t["rescored_trials"] and len(t["rescored_trials"]) in (2, 3)
    assert t["best_dev_weighted_f1"] >= t["default_dev_weighted_f1"]
    assert t["best_fits"] == t["default_fits"] == 3                      # compared on the same number of fits
    if t["best_is_defaults"]:
        assert result.model_args == {} and result.train_args == {}


def test_a_short_study_never_overwrites_a_committed_tuned_file(tmp_path, monkeypatch, fake_data):
    (tmp_path / "configs" / "tuned").mkdir(parents=True)
    shutil.copy(zoo.CONFIG_DIR / "defaults.yaml", tmp_path / "configs" / "defaults.yaml")
    monkeypatch.setattr(zoo, "CONFIG_DIR", tmp_path / "configs")
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path / "results"))
    committed = tmp_path / "configs" / "tuned" / "logreg_meld.yaml"
    committed.write_text("model: {C: 0.5}\n")
    url = f"sqlite:///{tmp_path / 't.db'}"
    result = tuning.tune("logreg", "meld", 2, storage=url, log=lambda line: None)      # below the budget of 24
    assert committed.read_text() == "model: {C: 0.5}\n"
    assert result.path == tuning.results_dir() / "tuned" / "logreg_meld.yaml" and result.path.exists()
    with pytest.raises(ValueError, match="would overwrite the committed"):
        tuning.tune("logreg", "meld", 2, storage=url, out=committed)
    assert committed.read_text() == "model: {C: 0.5}\n"
    forced = tuning.tune("logreg", "meld", 2, storage=url, study_name="forced", force=True, log=lambda line: None)
    assert forced.path == committed and set(yaml.safe_load(committed.read_text())) == {"model", "train", "tuning"}
    m, _ = zoo.settings("logreg", "meld", tuned=True)
    assert m == {**zoo.settings("logreg", "meld")[0], **forced.model_args}


# ----------------------------------------------------------------------------- (c) tuning split
def _ids(dialogues):
    return [d.dialogue_id for d in dialogues]


def test_iemocap_tuning_splits_are_seeded_disjoint_20_percent_and_differ_by_repeat():
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    split, again = tuning.tuning_split(data), tuning.tuning_split(load_dataset("iemocap"))
    pool = set(_ids(data.splits["train"] + data.splits["dev"]))
    test = set(_ids(data.splits["test"]))
    assert _ids(split.splits["dev"]) == _ids(again.splits["dev"]), "the split must be seeded"
    assert set(_ids(split.splits["train"])) | set(_ids(split.splits["dev"])) == pool
    assert not set(_ids(split.splits["train"])) & set(_ids(split.splits["dev"]))
    assert not (set(_ids(split.splits["train"])) | set(_ids(split.splits["dev"]))) & test
    assert len(split.splits["dev"]) == round(0.2 * len(pool)) == 24  # 20 % of 108 + 12 dialogues
    assert set(_ids(split.splits["dev"])) != set(_ids(data.splits["dev"]))
    assert _ids(split.splits["test"]) == _ids(data.splits["test"]) and "20%" in split.notes
    other = tuning.tuning_split(data, repeat=1)
    assert set(_ids(other.splits["dev"])) != set(_ids(split.splits["dev"])), "repeat r is another holdout"
    assert not (set(_ids(other.splits["dev"])) | set(_ids(other.splits["train"]))) & test
    standard = tuning.tuning_split(data, "standard")
    assert _ids(standard.splits["dev"]) == _ids(data.splits["dev"])


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


# ----------------------------------------------------------------------------- (d) shared studies
def _worker(url, name, out, trials):
    import erc_lib.tune as t

    # A forked child must not enter an OpenMP parallel region: the parent's thread pool did not
    # survive the fork (GNU OpenMP then waits forever, seen here in a weight initialisation).
    torch.set_num_threads(1)
    t.tune("bigru", "meld", trials, seeds_per_trial=2, rescore_top=2, rescore_seeds=1, epochs=2, storage=url,
           study_name=name, out=out, log=lambda line: None)


@pytest.mark.slow
def test_two_processes_share_one_study_without_losing_or_repeating_a_trial(tmp_path, fake_data):
    """Two worker processes (forked, so they see the synthetic data) on one SQLite study: exactly
    the budget of search trials, each trial number once, every trial complete, one re-scoring."""
    import multiprocessing

    url, out = f"sqlite:///{tmp_path / 'shared.db'}", tmp_path / "shared.yaml"
    tuning.init_storage(url)                       # as `--jobs` does: the schema exists before the workers start
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(url, "shared", out, 6)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
    codes = [proc.exitcode for proc in procs]
    assert codes == [0, 0], f"worker exit codes {codes} (None: still running after 300 s)"
    study = optuna.load_study(study_name="shared", storage=url)
    kinds = [t.user_attrs["kind"] for t in study.trials]
    assert kinds.count("defaults") == 1 and kinds.count("defaults") + kinds.count("search") == 6
    assert kinds.count("rescore") in (2, 3)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    params = [t.params for t in study.trials if t.user_attrs["kind"] == "search"]
    assert len({tuple(sorted(p.items())) for p in params}) == len(params), "no search trial is run twice"
    assert yaml.safe_load(out.read_text())["tuning"]["trials"] == 6


@pytest.mark.slow
def test_a_killed_worker_trial_is_failed_and_re_run(tmp_path, fake_data, monkeypatch):
    """A trial left running by a killed worker (heartbeat stopped) is marked failed after the grace
    period and the study still reaches its budget of completed trials."""
    monkeypatch.setattr(tuning, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(tuning, "GRACE_SECONDS", 2)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    run = tuning.make_run("bigru", "meld", 3, 1, 0, 0, study_name="killed", epochs=1, out=tmp_path / "k.yaml")
    study = tuning._open_study(run, url)
    study.enqueue_trial({}, user_attrs={"kind": "defaults"})
    orphan = study.ask()                                                # "killed": one heartbeat, then nothing
    study._storage.record_heartbeat(orphan._trial_id)
    import time

    time.sleep(3)
    tuning.run_study(run, url, log=lambda line: None)
    states = [t.state for t in optuna.load_study(study_name="killed", storage=url).trials]
    assert states[0] == optuna.trial.TrialState.FAIL
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3


def test_same_call_same_trials_and_test_labels_never_matter(tmp_path, fake_data):
    a = tuning.tune("bigru", "meld", 3, seeds_per_trial=2, rescore_seeds=0, storage=f"sqlite:///{tmp_path / 'a.db'}",
                    out=tmp_path / "a.yaml", epochs=2, log=lambda line: None)

    def scrambled():
        data = synthetic(noise=3.0)
        for d in data.splits["test"]:
            d.labels = np.random.default_rng(1).permutation(d.labels)
            d.features["text"] = d.features["text"][::-1].copy()
        return data

    fake_data["data"] = scrambled
    b = tuning.tune("bigru", "meld", 3, seeds_per_trial=2, rescore_seeds=0, storage=f"sqlite:///{tmp_path / 'b.db'}",
                    out=tmp_path / "b.yaml", epochs=2, log=lambda line: None)
    assert _trials(a) == _trials(b)


def test_saved_config_is_read_by_zoo_settings(tmp_path, monkeypatch, fake_data):
    (tmp_path / "configs").mkdir()
    shutil.copy(zoo.CONFIG_DIR / "defaults.yaml", tmp_path / "configs" / "defaults.yaml")
    monkeypatch.setattr(zoo, "CONFIG_DIR", tmp_path / "configs")
    result = tuning.tune("logreg", "meld", 3, seeds_per_trial=1, rescore_seeds=0, force=True,
                         storage=f"sqlite:///{tmp_path / 't.db'}", log=lambda line: None)
    assert result.path == tmp_path / "configs" / "tuned" / "logreg_meld.yaml"
    m, _ = zoo.settings("logreg", "meld", tuned=True)
    assert m == {**zoo.settings("logreg", "meld")[0], **result.model_args}
    table = tuning.summary_table([result.path])
    assert table.loc[0, "trials"] == 3 and table.loc[0, "tuned (dev)"] >= table.loc[0, "defaults (dev)"]
    curve = tuning.best_so_far(result.path)
    assert list(curve["trial"]) == [0, 1, 2] and curve["best so far"].is_monotonic_increasing


def test_only_runs_the_named_studies_in_the_given_order_and_refuses_unknown_names(capsys):
    import argparse

    args = argparse.Namespace(all=True, only=["sdt_iemocap", "logreg_iemocap", "sdt_iemocap"])
    assert tuning._selected(args) == [("sdt", "iemocap", None), ("logreg", "iemocap", None)]
    with pytest.raises(SystemExit):
        tuning.main(["--all", "--only", "sdt_imocap"])
    assert "no study named sdt_imocap" in capsys.readouterr().err


# ----------------------------------------------------------------------------- (e) invariants on a fake objective
# The study machinery with every fit replaced by a recorded call (no training): which settings,
# which seed, which train / dev / test dialogues each fit was given, and what it scored. The
# budget is a small one written into a copy of configs/defaults.yaml.
import math  # noqa: E402

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
        call = {"dataset": data.name, "seeds": list(seeds), "config": config, "cache": cache,
                "model_args": dict(spec.identity["model_args"]),
                **{split: tuple(_ids(data.splits[split])) for split in ("train", "dev", "test")}}
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


def test_trial_0_is_the_defaults_and_every_fit_of_a_trial_has_its_own_seed(fake_fits):
    result = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    calls, study = fake_fits["calls"], result.study
    defaults_m, defaults_t = zoo.settings("logreg", "meld")
    # trial 0: the defaults, both fits (seeds 0 and 1) with the default settings
    assert study.trials[0].user_attrs["kind"] == "defaults" and study.trials[0].params == {}
    assert [c["seeds"] for c in calls[:2]] == [[0], [1]]
    assert all(c["model_args"] == defaults_m for c in calls[:2])
    assert calls[0]["config"] == TrainConfig(**{**defaults_t, "device": "cpu", "progress": False})
    assert all(c["cache"] is False for c in calls)                       # tuning never reads the fit cache
    # 4 trials x 2 fits, then the re-scoring: 2 more fits (seeds 2 and 3) of each re-scored trial
    kinds = [t.user_attrs["kind"] for t in study.trials]
    assert kinds[:4] == ["defaults", "search", "search", "search"] and set(kinds[4:]) == {"rescore"}
    position = 0
    for trial in sorted(study.trials, key=lambda t: t.number):
        fits = calls[position: position + len(trial.user_attrs["repeats"])]
        position += len(fits)
        seeds = [c["seeds"][0] for c in fits]
        expected = [2, 3] if trial.user_attrs["kind"] == "rescore" else [0, 1]     # fresh seeds when re-scoring
        assert seeds == expected == trial.user_attrs["repeats"], trial.number
        assert trial.user_attrs["dev_weighted_f1_per_fit"] == [c["value"] for c in fits]
        assert trial.value == pytest.approx(np.mean([c["value"] for c in fits]))
        if trial.user_attrs["kind"] == "search":
            assert fits[0]["model_args"] == {**defaults_m, **tuning.sample(optuna.trial.FixedTrial(trial.params),
                                                                           tuning.search_space("logreg"))[0]}
    assert position == len(calls) == 8 + 2 * len(result.config["tuning"]["rescored_trials"])
    # meld validates on its own dev split, every fit; test dialogues never in train or dev
    data = synthetic(noise=3.0)
    assert all(c["dev"] == tuple(_ids(data.splits["dev"])) and c["test"] == tuple(_ids(data.splits["test"]))
               for c in calls)
    assert result.path == fake_fits["configs"] / "tuned" / "logreg_meld.yaml"    # the full budget: committed file
    assert result.config["tuning"]["validation"] == "standard dev split; fit r trains with seed r"


def test_iemocap_fits_validate_on_distinct_seeded_holdouts(fake_fits, fake_data):
    fake_fits_data = lambda: synthetic("iemocap", n=(16, 4, 5), noise=3.0)
    fake_data["data"] = fake_fits_data
    result = tuning.tune("logreg", "iemocap", storage=fake_fits["storage"], log=lambda line: None)
    data = fake_fits_data()
    pool = set(_ids(data.splits["train"] + data.splits["dev"]))
    holdouts = {}
    for c in fake_fits["calls"]:
        (seed,) = c["seeds"]
        holdouts.setdefault(seed, set()).add(c["dev"])
        assert len(c["dev"]) == 4 and set(c["dev"]) | set(c["train"]) == pool and not set(c["dev"]) & set(c["train"])
        assert c["test"] == tuple(_ids(data.splits["test"]))
        expected = tuning.tuning_split(data, "holdout", seed)          # fit r: holdout r (random_state=r)
        assert c["dev"] == tuple(_ids(expected.splits["dev"])) and c["train"] == tuple(_ids(expected.splits["train"]))
    assert sorted(holdouts) == [0, 1, 2, 3] and all(len(v) == 1 for v in holdouts.values())
    assert len({next(iter(v)) for v in holdouts.values()}) == 4, "each fit number validates on its own holdout"
    assert result.config["tuning"]["validation"].startswith("holdout: fit r validates on a seeded 20%")


def test_rescoring_decides_the_winner_by_the_mean_of_all_its_fits(fake_fits):
    """Scores (constructed): search fits (seeds 0, 1) score 60 + 10 log10 C; re-scoring fits (seeds
    2, 3) score 60 - 30 log10 C. A re-scored trial's mean over its 4 fits is 60 - 10 log10 C, so
    among the re-scored trials (the 2 best search trials and the defaults, C = 1) the one with the
    smallest C wins, although it ranked lowest in the search."""
    fake_fits["objective"] = lambda call, i: (60 + 10 * math.log10(call["model_args"]["C"]) if call["seeds"][0] < 2
                                              else 60 - 30 * math.log10(call["model_args"]["C"]))
    result = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    t = result.config["tuning"]
    search = [tr for tr in result.study.trials if tr.user_attrs["kind"] in ("defaults", "search")]
    c_of = lambda tr: tr.params.get("model.C", 1.0)
    top2 = sorted((tr for tr in search), key=lambda tr: -c_of(tr))[:2]
    rescored = {tr.number: c_of(tr) for tr in top2} | {0: 1.0}
    assert sorted(t["rescored_trials"]) == sorted(rescored) and t["rescore_seeds"] == 2
    winner = min(rescored, key=lambda n: rescored[n])
    assert t["best_trial"] == winner and t["best_fits"] == t["default_fits"] == 4
    assert t["best_dev_weighted_f1"] == pytest.approx(60 - 10 * math.log10(rescored[winner]), abs=1e-3)
    assert t["default_dev_weighted_f1"] == pytest.approx(60.0, abs=1e-3)
    assert t["best_is_defaults"] == (winner == 0) and t["trials"] == 4 and t["seeds_per_trial"] == 2
    assert [h[:2] for h in t["history"]] == [[0, "defaults"], [1, "search"], [2, "search"], [3, "search"]]
    assert [h[2] for h in t["history"]] == [pytest.approx(round(tr.value, 3)) for tr in search]
    if winner != 0:
        assert result.model_args["C"] == pytest.approx(rescored[winner])
    else:
        assert result.model_args == {} and result.train_args == {}


def test_without_rescoring_the_best_search_trial_wins_and_ties_go_to_the_earlier_trial(fake_fits):
    fake_fits["objective"] = lambda call, i: 70.0
    result = tuning.tune("logreg", "meld", rescore_top=2, rescore_seeds=0, force=True, storage=fake_fits["storage"],
                         log=lambda line: None)
    t = result.config["tuning"]
    assert t["rescored_trials"] == [] and t["rescore_seeds"] == 0 and len(fake_fits["calls"]) == 8
    assert t["best_trial"] == 0 and t["best_is_defaults"] and t["best_fits"] == 2     # a tie: the defaults stay
    fake_fits["calls"].clear()
    fake_fits["objective"] = lambda call, i: 50.0 + i                  # later fits score higher
    other = tuning.tune("logreg", "meld", rescore_seeds=0, force=True, study_name="rising",
                        storage=fake_fits["storage"], log=lambda line: None)
    assert other.config["tuning"]["best_trial"] == 3 and other.config["tuning"]["best_dev_weighted_f1"] == 56.5


@pytest.mark.parametrize("change", [{"trials": 3}, {"seeds_per_trial": 1}, {"rescore_top": 1}, {"rescore_seeds": 1},
                                    {"n_dialogues": SMOKE_SIZE} if (SMOKE_SIZE := {"train": 10, "dev": 4, "test": 4})
                                    else {}, {"epochs": 2}])
def test_a_short_or_smoke_study_never_writes_configs_tuned(change, fake_fits):
    committed = fake_fits["configs"] / "tuned" / "logreg_meld.yaml"
    full = tuning.make_run("logreg", "meld")
    assert full.out == committed and (full.trials, full.seeds_per_trial, full.rescore_top, full.rescore_seeds,
                                      full.saturation_trials) == tuple(SMALL_BUDGET.values())
    above = tuning.make_run("logreg", "meld", trials=5, seeds_per_trial=3, rescore_top=3, rescore_seeds=3)
    assert above.out == committed                                      # more than the budget is not short
    short = tuning.make_run("logreg", "meld", **change)
    assert short.out == tuning.results_dir() / "tuned" / "logreg_meld.yaml"
    with pytest.raises(ValueError, match=r"^a study below the budget \{'trials': 4, 'seeds_per_trial': 2, "
                                         r"'rescore_top': 2, 'rescore_seeds': 2\} \(or at smoke size\) would overwrite "
                                         r"the committed .*logreg_meld.yaml; pass force=True \(--force\) or another out$"):
        tuning.make_run("logreg", "meld", out=committed, **change)
    assert tuning.make_run("logreg", "meld", force=True, **change).out == committed
    result = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None, **change)
    assert result.path == short.out and result.path.exists() and not committed.exists()
    assert result.config["tuning"]["smoke"] == ("n_dialogues" in change or "epochs" in change)


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
    (fake_fits["configs"] / "defaults.yaml").write_text(yaml.safe_dump({**table, "tuning": {"rescore_top": 0}}))
    assert tuning.budget() == {"trials": 24, "seeds_per_trial": 2, "rescore_top": 0, "rescore_seeds": 3,
                               "saturation_trials": 3}
    assert tuning.SMOKE_DIALOGUES == {"train": 10, "dev": 4, "test": 4} and tuning.SMOKE_EPOCHS == 2


@pytest.mark.parametrize("scores, saturated", [
    ([99.0], True),                      # the threshold itself is saturated (>= 99)
    ([98.99], False),
    ([50.0, 50.0, 99.0], True),          # the last of the first 3 trials
    ([50.0, 50.0, 50.0, 99.5], False),   # the 4th trial is past the saturation window
])
def test_the_saturation_threshold_at_its_boundary(scores, saturated, fake_fits):
    """Trial k's two fits both score ``scores[k]`` (50 after the list); re-scoring fits score 100
    and never count."""
    assert tuning.SATURATION == 99.0
    fake_fits["objective"] = lambda call, i: 100.0 if call["seeds"][0] >= 2 else (
        scores[i // 2] if i // 2 < len(scores) else 50.0)
    run = lambda: tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    if saturated:
        with pytest.raises(tuning.SaturatedObjectiveError,
                           match=f"^meld: dev weighted F1 {max(scores):.2f} >= 99 within the first {len(scores)} "
                                 "trial\\(s\\) of study 'logreg_meld': this dev split cannot rank settings"):
            run()
        assert not (fake_fits["configs"] / "tuned" / "logreg_meld.yaml").exists()
        assert len(fake_fits["calls"]) == 2 * len(scores)                # stopped at once
    else:
        assert run().config["tuning"]["trials"] == 4


def test_a_failing_fit_fails_its_trial_and_says_which(fake_fits):
    def objective(call, i):
        if i == 2:
            raise RuntimeError("out of memory")
        return 50.0

    fake_fits["objective"] = objective
    lines = []
    with pytest.raises(RuntimeError, match="out of memory"):
        tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lines.append)
    study = optuna.load_study(study_name="logreg_meld", storage=fake_fits["storage"])
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert lines[-1] == "logreg_meld trial 1 (search) FAILED: RuntimeError: out of memory"
    fake_fits["objective"] = lambda call, i: 50.0                     # the re-started study re-runs it
    again = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    assert again.config["tuning"]["trials"] == 4


# ----------------------------------------------------------------------------- (f) files and tables
def test_storage_written_into_a_tuned_file_is_portable_and_never_a_password():
    inside = f"sqlite:///{tuning.REPO_ROOT / 'results' / 'tuning.db'}"
    assert tuning._portable(inside) == "sqlite:///results/tuning.db"
    assert tuning._portable("sqlite:////elsewhere/studies/tuning.db") == "sqlite:///tuning.db"
    assert tuning._portable("postgresql://user:secret@db.example.org/studies") == "db.example.org/studies"
    assert tuning._portable("postgresql://db.example.org/studies") == "postgresql://db.example.org/studies"
    assert tuning.default_storage() == f"sqlite:///{tuning.results_dir() / 'tuning.db'}"


def test_model_inputs_read_speech_as_audio_except_for_mister_e_experts():
    assert tuning._model_inputs("bigru", ["speech", "text"]) == ["audio", "text"]
    assert tuning._model_inputs("mister_e", ["speech", "text"]) == ["speech", "text"]
    assert tuning._model_inputs("sdt", None) is None and tuning._model_inputs("mister_e", None) is None
    assert tuning.resolve_validation("iemocap", "auto") == "holdout" == tuning.resolve_validation("iemocap-sdt", "auto")
    assert tuning.resolve_validation("meld", "auto") == "standard" == tuning.resolve_validation("iemocap", "standard")
    assert tuning.resolve_validation("meld", "holdout") == "holdout"


def test_summary_table_and_best_so_far_read_the_tuning_block(tmp_path):
    path = tmp_path / "bigru_meld.yaml"
    path.write_text(yaml.safe_dump({"model": {"hidden": 64}, "train": {}, "tuning": {
        "trials": 3, "seeds_per_trial": 2, "rescored_trials": [0, 2], "rescore_seeds": 3, "trial_seconds": 150.0,
        "default_dev_weighted_f1": 50.5, "best_dev_weighted_f1": 52.25, "best_is_defaults": False,
        "validation": "holdout: fit r validates on ...",
        "history": [[0, "defaults", 50.0], [1, "search", 49.0], [2, "search", 53.0]]}}))
    old = tmp_path / "logreg_meld.yaml"                               # an earlier file listing its seeds
    old.write_text(yaml.safe_dump({"model": {}, "train": {}, "tuning": {"trials": 12, "seeds": [0, 1, 2],
                                                                        "validation": "standard dev split; fit r"}}))
    table = tuning.summary_table([path, old])
    assert table.to_dict("records")[0] == {
        "study": "bigru_meld", "trials": 3, "fits per trial": 2, "re-scored": 2, "re-score fits": 3, "CPU min": 2.5,
        "defaults (dev)": 50.5, "tuned (dev)": 52.25, "defaults won": False, "validation": "holdout"}
    second = table.iloc[1]
    assert (second["study"], second["trials"], second["fits per trial"], second["re-scored"], second["CPU min"],
            second["validation"]) == ("logreg_meld", 12, 3, 0, 0.0, "standard dev split")
    assert second[["re-score fits", "defaults (dev)", "tuned (dev)", "defaults won"]].isna().all()
    curve = tuning.best_so_far(path)
    assert curve.to_dict("list") == {"trial": [0, 1, 2], "kind": ["defaults", "search", "search"],
                                     "score": [50.0, 49.0, 53.0], "best so far": [50.0, 50.0, 53.0]}


def test_the_command_line_runs_a_smoke_study_in_process(fake_fits, monkeypatch, capsys):
    """``main`` with one job: every study checked first, then run by one in-process worker; the smoke
    flag passes the smoke sizes and writes to results/tuned/; ``--all`` at full size writes SUMMARY.md."""
    prepared, setups = [], []
    monkeypatch.setattr("erc_lib.features.text.prepare_dataset",
                        lambda name, **kw: prepared.append((name, kw)) or synthetic(noise=3.0))
    monkeypatch.setattr("erc_lib.runtime.setup", lambda device, threads: setups.append((device, threads)))
    configs, url = fake_fits["configs"], fake_fits["storage"]
    assert tuning.main(["--model", "logreg", "--dataset", "meld", "--storage", url, "--smoke", "--cpu-threads", "2",
                        "--trials", "3", "--seeds-per-trial", "1", "--rescore-seeds", "1", "--worker-id", "7"]) == 0
    assert setups == [("cpu", 2)]
    assert len(optuna.load_study(study_name="logreg_meld", storage=url).trials) >= 3      # the given storage
    assert prepared[0] == ("meld", {"n_dialogues": {"train": 10, "dev": 4, "test": 4}, "device": "cpu",
                                    "standardize": False, "progress": False})
    smoke = tuning.results_dir() / "tuned" / "logreg_meld.yaml"
    assert smoke.exists() and not (configs / "tuned" / "logreg_meld.yaml").exists()
    assert all(c["config"].epochs == 2 for c in fake_fits["calls"])              # SMOKE_EPOCHS
    t = yaml.safe_load(smoke.read_text())["tuning"]
    assert (t["trials"], t["seeds_per_trial"], t["rescore_seeds"]) == (3, 1, 1) and t["smoke"]
    out = capsys.readouterr().out
    assert out.startswith("[worker 7] study logreg_meld: 3 trials x 1 fits -> ")    # a worker's lines are tagged
    assert "studies, " not in out                                        # a worker prints no summary
    with pytest.raises(SystemExit):
        tuning.main(["--model", "logreg", "--dataset", "meld", "--jobs", "0"])


def test_the_command_line_with_all_writes_the_summary_of_every_tuned_file(fake_fits, monkeypatch, capsys):
    monkeypatch.setattr("erc_lib.runtime.setup", lambda device, threads: None)
    configs = fake_fits["configs"]
    assert tuning.main(["--all", "--only", "logreg_meld", "--storage", fake_fits["storage"]]) == 0
    assert (configs / "tuned" / "logreg_meld.yaml").exists() and all(c["config"].epochs != 2 for c in fake_fits["calls"])
    summary = (configs / "tuned" / "SUMMARY.md").read_text()
    assert summary.startswith("# Tuning summary (generated by `python -m erc_lib.tune --all`)\n\nBudget (configs/defaults.yaml): ")
    assert "logreg_meld" in summary and str(SMALL_BUDGET) in summary and summary.endswith("|\n")
    out = capsys.readouterr().out
    assert out.startswith("study logreg_meld: 4 trials x 2 fits -> ") and "\n1 studies, " in out
    # write_summary tables exactly the files it is given
    (configs / "tuned" / "bigru_meld.yaml").write_text((configs / "tuned" / "logreg_meld.yaml").read_text())
    only = tuning.write_summary([configs / "tuned" / "bigru_meld.yaml"]).read_text()
    assert "bigru_meld" in only and "logreg_meld" not in only


def test_a_worker_returns_the_studies_written_and_fails_loudly(fake_fits, monkeypatch, capsys):
    """``_worker`` (one process of ``--jobs``): the studies it wrote, the input selection kept in the
    file name, and a broken study reported by name and turned into exit status 1 after the others."""
    import argparse

    monkeypatch.setattr("erc_lib.runtime.setup", lambda device, threads: None)
    args = lambda **kw: argparse.Namespace(**{
        "all": False, "only": None, "model": "logreg", "dataset": "meld", "inputs": None, "trials": None,
        "seeds_per_trial": None, "rescore_seeds": None, "storage": fake_fits["storage"], "validation": "auto",
        "smoke": False, "force": False, "device": "cpu", "cpu_threads": 1, "worker_id": None, **kw})
    assert tuning._worker(args(inputs=["text"])) == 1
    assert (fake_fits["configs"] / "tuned" / "logreg_meld_t.yaml").exists()
    capsys.readouterr()

    def broken(call, i):
        raise RuntimeError("boom")

    fake_fits["objective"] = broken
    with pytest.raises(SystemExit) as stop:
        tuning._worker(args(storage=fake_fits["storage"].replace("fake.db", "broken.db")))
    assert stop.value.code == 1
    out = capsys.readouterr().out.splitlines()
    assert "study logreg_meld stopped: RuntimeError: boom" in out and out[-1] == "FAILED logreg_meld: RuntimeError: boom"


def test_study_selection_display_and_help(capsys):
    import argparse

    assert tuning._selected(argparse.Namespace(all=True, only=None)) == list(tuning.STUDIES)
    assert tuning._selected(argparse.Namespace(all=False, model="bigru", dataset="meld", inputs=["speech", "text"])) == [
        ("bigru", "meld", ("speech", "text"))]
    assert tuning._selected(argparse.Namespace(all=False, model="sdt", dataset="meld", inputs=None)) == [
        ("sdt", "meld", None)]
    with pytest.raises(ValueError, match=r"^--only: no study named sdt_x, emonet_y; the studies are logreg_iemocap, "
                                         r"bigru_iemocap, sdt_iemocap, "):
        tuning._selected(argparse.Namespace(all=True, only=["sdt_x", "emonet_y"]))
    assert tuning._display(tuning.REPO_ROOT / "configs" / "tuned" / "x.yaml") == "configs/tuned/x.yaml"
    assert tuning._display(tuning.Path("/elsewhere/x.yaml")) == "/elsewhere/x.yaml"
    with pytest.raises(SystemExit):
        tuning.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m erc_lib.tune ")
    assert ("Equal-budget hyper-parameter tuning with Optuna: one budget for every model, shown to be enough."
            in " ".join(out.split()))                                   # the module's first line, wrapped
