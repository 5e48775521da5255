"""One study (erc_lib.tune.study): a real 2-trial smoke study, the defaults as trial 0, re-scoring,
saturation, shared studies across processes, determinism, a dev-only objective, protected
committed files, errors before any work."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import yaml

from erc_lib import tune as tuning
from erc_lib import zoo
from erc_lib.paths import REPO_ROOT, results_dir
from erc_lib.training import TrainConfig
from erc_lib.tune import study as tune_study

from conftest import require_dataset
from tune_helpers import synthetic, trials_of, dialogue_ids, SMALL_BUDGET, fake_data, fake_fits  # noqa: F401 (fixtures)


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
    assert result.path == results_dir() / "tuned" / "logreg_meld.yaml" and result.path.exists()
    with pytest.raises(ValueError, match="would overwrite the committed"):
        tuning.tune("logreg", "meld", 2, storage=url, out=committed)
    assert committed.read_text() == "model: {C: 0.5}\n"
    forced = tuning.tune("logreg", "meld", 2, storage=url, study_name="forced", force=True, log=lambda line: None)
    assert forced.path == committed and set(yaml.safe_load(committed.read_text())) == {"model", "train", "tuning"}
    m, _ = zoo.settings("logreg", "meld", tuned=True)
    assert m == {**zoo.settings("logreg", "meld")[0], **forced.model_args}


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
    monkeypatch.setattr(tune_study, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(tune_study, "GRACE_SECONDS", 2)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    run = tuning.make_run("bigru", "meld", 3, 1, 0, 0, study_name="killed", epochs=1, out=tmp_path / "k.yaml")
    study = tune_study._open_study(run, url)
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
    assert trials_of(a) == trials_of(b)


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
    assert all(c["dev"] == tuple(dialogue_ids(data.splits["dev"])) and c["test"] == tuple(dialogue_ids(data.splits["test"]))
               for c in calls)
    assert result.path == fake_fits["configs"] / "tuned" / "logreg_meld.yaml"    # the full budget: committed file
    assert result.config["tuning"]["validation"] == "standard dev split; fit r trains with seed r"


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
    assert short.out == results_dir() / "tuned" / "logreg_meld.yaml"
    with pytest.raises(ValueError, match=r"^a study below the budget \{'trials': 4, 'seeds_per_trial': 2, "
                                         r"'rescore_top': 2, 'rescore_seeds': 2\} \(or at smoke size\) would overwrite "
                                         r"the committed .*logreg_meld.yaml; pass force=True \(--force\) or another out$"):
        tuning.make_run("logreg", "meld", out=committed, **change)
    assert tuning.make_run("logreg", "meld", force=True, **change).out == committed
    result = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None, **change)
    assert result.path == short.out and result.path.exists() and not committed.exists()
    assert result.config["tuning"]["smoke"] == ("n_dialogues" in change or "epochs" in change)


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
        with pytest.raises(tuning.SaturatedObjectiveError) as error:
            run()
        assert str(error.value) == (
            f"meld: dev weighted F1 {max(scores):.2f} >= 99 within the first {len(scores)} trial(s) of study "
            "'logreg_meld': this dev split cannot rank settings (saturated; an input was probably fitted on the videos "
            "or dialogues dev is carved from). Tune on a dataset variant with a clean dev (e.g. mosi-clean).")
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


def test_storage_written_into_a_tuned_file_is_portable_and_never_a_password():
    inside = f"sqlite:///{REPO_ROOT / 'results' / 'tuning.db'}"
    assert tune_study._portable(inside) == "sqlite:///results/tuning.db"
    assert tune_study._portable("sqlite:////elsewhere/studies/tuning.db") == "sqlite:///tuning.db"
    assert tune_study._portable("postgresql://user:secret@db.example.org/studies") == "db.example.org/studies"
    assert tune_study._portable("postgresql://db.example.org/studies") == "postgresql://db.example.org/studies"
    assert tuning.default_storage() == f"sqlite:///{results_dir() / 'tuning.db'}"


def test_init_storage_creates_the_tables_once_and_names_a_storage_it_cannot_open(tmp_path, fake_fits):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    tuning.init_storage(url)
    assert (tmp_path / "studies.db").exists()
    assert optuna.get_all_study_names(url) == []                      # the schema is there, no study yet
    tuning.init_storage(url)                                          # a second call leaves it as it is
    for open_storage in (tuning.init_storage,
                         lambda url: tune_study._open_study(tuning.make_run("logreg", "meld", 1), url)):
        with pytest.raises(ValueError) as error:
            open_storage("nosuchdriver://x")
        assert str(error.value) == ("cannot open study storage 'nosuchdriver://x': NoSuchModuleError: "
                                    "Can't load plugin: sqlalchemy.dialects:nosuchdriver")


def _frozen(number, kind, value, seconds, fits=None, params=None, state=optuna.trial.TrialState.COMPLETE, **attrs):
    """A finished trial of a logistic-regression study, built by hand (start and end ``seconds`` apart)."""
    import datetime

    start = datetime.datetime(2026, 1, 1, 12, 0, 0)
    space = {"model.C": optuna.distributions.FloatDistribution(0.001, 10.0, log=True),
             "model.class_weighted": optuna.distributions.CategoricalDistribution([False, True])}
    params = params or {}
    user_attrs = {"kind": kind, **({"dev_weighted_f1_per_fit": fits} if fits is not None else {}), **attrs}
    return optuna.trial.FrozenTrial(number=number, state=state, value=value, values=None, datetime_start=start,
                                    datetime_complete=start + datetime.timedelta(seconds=seconds), params=params,
                                    distributions={k: space[k] for k in params}, user_attrs=user_attrs,
                                    system_attrs={}, intermediate_values={}, trial_id=number)


def test_the_tuned_file_of_a_study_built_by_hand(tmp_path, fake_fits):
    """Trials written out by hand: the defaults (2 fits, 50.1 and 50.2), two search trials, one of them
    re-scored with 3 more fits, a failed trial and one re-scoring of the defaults; every field of the
    tuning block follows from them."""
    run = tuning.make_run("logreg", "iemocap", trials=3, seeds_per_trial=2, rescore_top=1, rescore_seeds=3,
                          out=tmp_path / "nested" / "folder" / "logreg_iemocap.yaml")
    url = f"sqlite:///{tmp_path / 'hand.db'}"
    study = tune_study._open_study(run, url)
    C = {"model.C": 2.0, "model.class_weighted": True}
    for trial in (_frozen(0, "defaults", 50.15, 10.26, [50.1, 50.2]),
                  _frozen(1, "search", 52.0, 20.0, [51.0, 53.0], C),
                  _frozen(2, "search", 51.0, 30.0, [51.0, 51.0], {"model.C": 0.5, "model.class_weighted": False}),
                  _frozen(3, "search", None, 500.0, None, C, state=optuna.trial.TrialState.FAIL),  # not timed
                  _frozen(4, "rescore", 49.0, 40.0, [48.0, 49.0, 50.0], C, of=1),
                  _frozen(5, "rescore", 50.001, 50.0, [50.0, 50.0, 50.003], of=0)):
        study.add_trial(trial)
    config = tune_study._save(run, study, tune_study.search_space("logreg"), url)
    text = (tmp_path / "nested" / "folder" / "logreg_iemocap.yaml").read_text()
    assert yaml.safe_load(text) == config and list(config) == ["model", "train", "tuning"]
    t = dict(config["tuning"])
    date = t.pop("date")
    assert date.endswith("+00:00") and len(date) == len("2026-12-07T18:00:00+00:00")   # UTC, to the second
    # trial 1: (51 + 53 + 48 + 49 + 50) / 5 = 50.2; the defaults: (50.1 + 50.2 + 50 + 50 + 50.003) / 5 = 50.0606; 1 wins
    assert config["model"] == {"C": 2.0, "class_weighted": True} and config["train"] == {}
    assert t == {"trials": 3, "seeds_per_trial": 2, "rescored_trials": [0, 1], "rescore_seeds": 3, "pruning": "none",
                 "validation": "holdout: fit r validates on a seeded 20% of the train+dev dialogues "
                               "(train_test_split random_state=r) and trains with seed r on the rest",
                 "best_trial": 1, "best_is_defaults": False, "best_dev_weighted_f1": 50.2, "best_fits": 5,
                 "default_dev_weighted_f1": 50.061, "default_fits": 5,
                 "trial_seconds": 150.3,                       # 10.26 + 20 + 30 + 40 + 50, the failed trial left out
                 "smoke": False, "storage": "sqlite:///" + (tmp_path / "hand.db").name, "study_name": "logreg_iemocap",
                 "history": [[0, "defaults", 50.15], [1, "search", 52.0], [2, "search", 51.0]]}

    # a study whose defaults trial failed, with a trial told before per-fit scores were recorded
    lone = tuning.make_run("logreg", "meld", trials=1, seeds_per_trial=2, rescore_top=0, rescore_seeds=3,
                           study_name="lone", out=tmp_path / "lone.yaml")
    study = tune_study._open_study(lone, url)
    study.add_trial(_frozen(0, "defaults", None, 1.0, state=optuna.trial.TrialState.FAIL))
    study.add_trial(_frozen(1, "search", 47.123456, 2.0, None, C))
    t = tune_study._save(lone, study, tune_study.search_space("logreg"), url)["tuning"]
    assert (t["best_trial"], t["best_dev_weighted_f1"], t["best_fits"], t["rescored_trials"], t["rescore_seeds"]) == (
        1, 47.123, 1, [], 0)
    assert (t["default_dev_weighted_f1"], t["default_fits"], t["validation"]) == (
        None, 0, "standard dev split; fit r trains with seed r")
    empty = tuning.make_run("logreg", "meld", trials=1, study_name="empty", out=tmp_path / "empty.yaml")
    with pytest.raises(ValueError) as error:
        tune_study._save(empty, tune_study._open_study(empty, url), {}, url)
    assert str(error.value) == "study 'empty' has no completed trial; run more trials"


def test_a_trial_another_worker_asked_counts_toward_the_budget_before_it_starts(tmp_path, fake_fits):
    """Another worker's trial, asked but not yet started (no kind recorded yet), is a search trial: with
    the defaults done and that trial running, a budget of 2 search trials is reached and this worker waits."""
    run = tuning.make_run("logreg", "meld", trials=2, seeds_per_trial=1, rescore_top=0, rescore_seeds=0,
                          out=tmp_path / "wait.yaml")
    url = f"sqlite:///{tmp_path / 'wait.db'}"
    study = tune_study._open_study(run, url)
    study.add_trial(_frozen(0, "defaults", 50.0, 1.0, [50.0]))
    study.ask()                                                           # another worker's, still running
    assert tune_study._next_trial(run, study) == (None, "wait")
    assert tune_study.run_study(run, url, log=lambda line: None, wait=False) is False   # comes back to it later
    with pytest.raises(AssertionError, match="a lone worker waited"):    # by default a worker waits for the others
        tune_study.run_study(run, url, log=lambda line: None)
    assert not run.out.exists()


def test_the_defaults_are_re_scored_even_when_they_rank_last_and_nothing_is_without_rescore_seeds(fake_fits):
    fake_fits["objective"] = lambda call, i: 50.0 + i                    # later fits score higher: the defaults last
    result = tuning.tune("logreg", "meld", rescore_top=1, rescore_seeds=2, force=True, storage=fake_fits["storage"],
                         log=lambda line: None)
    rescored = {t.user_attrs["of"]: t.user_attrs["defaults"] for t in result.study.trials
                if t.user_attrs["kind"] == "rescore"}
    assert rescored == {3: False, 0: True} and result.config["tuning"]["rescored_trials"] == [0, 3]
    none = tuning.tune("logreg", "meld", rescore_top=2, rescore_seeds=0, force=True, study_name="none",
                       storage=fake_fits["storage"], log=lambda line: None)
    assert [t.user_attrs["kind"] for t in none.study.trials] == ["defaults", "search", "search", "search"]


def test_tune_is_make_run_then_run_study_and_returns_what_it_wrote(tmp_path, fake_fits):
    result = tuning.tune("logreg", "meld", storage=fake_fits["storage"], inputs=["text"], log=lambda line: None)
    written = yaml.safe_load(result.path.read_text())
    assert result.path == fake_fits["configs"] / "tuned" / "logreg_meld_t.yaml"     # the inputs name the file
    assert (result.model_args, result.train_args, result.best_dev_weighted_f1, result.config) == (
        written["model"], written["train"], written["tuning"]["best_dev_weighted_f1"], written)
    run = tuning.make_run("logreg", "meld", study_name="by hand", out=tmp_path / "by_hand.yaml")
    assert (run.device, run.sampler_seed, run.validation) == ("cpu", 0, "auto")     # trains on the CPU unless told
    tune_study.run_study(run, fake_fits["storage"], log=lambda line: None)
    by_hand = optuna.load_study(study_name="by hand", storage=fake_fits["storage"])
    assert [t.params for t in by_hand.trials] == [t.params for t in result.study.trials]   # the same default seed


def test_heartbeats_are_recorded_while_a_trial_runs_and_stop_with_it(monkeypatch, tmp_path, fake_fits):
    """A running trial records a heartbeat at once and then every HEARTBEAT_SECONDS, from a daemon thread
    (a crashed worker is not kept alive by it) that ends with the trial; the storage counts a trial whose
    heartbeats stopped GRACE_SECONDS ago as killed."""
    import time

    beats = []
    study = type("Study", (), {"_storage": type("Storage", (), {"record_heartbeat": lambda self, i: beats.append(i)})()})()
    trial = type("Trial", (), {"_trial_id": 7})()
    shipped = tune_study.HEARTBEAT_SECONDS
    monkeypatch.setattr(tune_study, "HEARTBEAT_SECONDS", 0.05)
    with tune_study._Heartbeat(study, trial) as heartbeat:
        assert heartbeat.thread.daemon and heartbeat.thread.is_alive()
        time.sleep(0.3)
    assert not heartbeat.thread.is_alive()
    assert 2 <= len(beats) <= 8 and set(beats) == {7}              # at 0 s, then about every 0.05 s
    monkeypatch.setattr(tune_study, "HEARTBEAT_SECONDS", shipped)
    storage = tune_study._open_study(tuning.make_run("logreg", "meld", 1), f"sqlite:///{tmp_path / 'h.db'}")._storage
    assert (storage.get_heartbeat_interval(), storage._backend.grace_period) == (30, 120) == (
        tune_study.HEARTBEAT_SECONDS, tune_study.GRACE_SECONDS)


def test_one_lock_file_per_storage_made_even_in_a_new_results_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path / "new" / "results"))
    a, b = tune_study._lock("sqlite:///a.db"), tune_study._lock("sqlite:///b.db")
    assert a.lock_file != b.lock_file and tune_study._lock("sqlite:///a.db").lock_file == a.lock_file
    assert all(Path(lock.lock_file).parent == results_dir() / "tuning-locks" for lock in (a, b))
    with a:
        assert Path(a.lock_file).exists()


def test_a_search_trial_trains_with_the_training_settings_it_drew(fake_fits):
    """BiGRU's search space has training settings (lr, batch size, weight decay, patience): every fit of
    a search trial trains with the trial's draws, the defaults trial with the defaults."""
    result = tuning.tune("bigru", "meld", rescore_seeds=0, force=True, storage=fake_fits["storage"],
                         log=lambda line: None)
    _, defaults = zoo.settings("bigru", "meld")
    calls = iter(fake_fits["calls"])
    for trial in sorted(result.study.trials, key=lambda t: t.number):
        for _ in trial.user_attrs["repeats"]:
            config = next(calls)["config"]
            drawn = {k.split(".", 1)[1]: v for k, v in trial.params.items() if k.startswith("train.")}
            expected = defaults if trial.user_attrs["kind"] == "defaults" else {**defaults, **drawn}
            assert {k: getattr(config, k) for k in ("lr", "batch_size", "weight_decay", "patience")} == {
                k: expected[k] for k in ("lr", "batch_size", "weight_decay", "patience")}, trial.number
    assert len([t for t in result.study.trials if t.params]) == 3        # three search trials drew settings


def test_a_finished_study_writes_its_file_once_and_again_only_when_it_is_gone(fake_fits):
    """Every worker that sees the study finished would write the file: the first one does and records it,
    the others (and a re-run of the same command) leave it as it is; a deleted file is written again."""
    first = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    first.path.write_text(first.path.read_text() + "# read and annotated by a person\n")
    tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    assert first.path.read_text().endswith("# read and annotated by a person\n")
    first.path.unlink()
    again = tuning.tune("logreg", "meld", storage=fake_fits["storage"], log=lambda line: None)
    assert again.path == first.path and not again.path.read_text().endswith("by a person\n")
    assert (again.model_args, again.best_dev_weighted_f1) == (first.model_args, first.best_dev_weighted_f1)


def test_a_study_is_named_after_its_inputs_keeps_them_and_its_sampler_seed_and_maximises(tmp_path, fake_fits):
    run = tuning.make_run("bigru", "iemocap", inputs=["speech", "text"], sampler_seed=5)
    assert (run.inputs, run.name, run.sampler_seed) == (["audio", "text"], "bigru_iemocap_at", 5)
    assert run.out == fake_fits["configs"] / "tuned" / "bigru_iemocap_at.yaml"
    experts = tuning.make_run("mister_e", "mosi-clean", inputs=["speech", "text"])
    assert (experts.inputs, experts.name) == (["speech", "text"], "mister_e_mosi-clean_st")   # expert names kept
    study = tune_study._open_study(run, f"sqlite:///{tmp_path / 'm.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE        # higher dev weighted F1 is better


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs a folder nobody can write to (/proc)")
def test_an_unwritable_output_folder_is_refused_before_any_work(fake_fits):
    with pytest.raises(PermissionError, match=r"^cannot write to /proc "):
        tuning.make_run("logreg", "meld", out="/proc/logreg_meld.yaml")
    assert fake_fits["calls"] == []
