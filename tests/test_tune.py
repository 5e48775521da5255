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
