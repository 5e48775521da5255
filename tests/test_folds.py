"""Cross-validation folds (erc_lib.data.folds): every dialogue tested exactly once, fold 0 the standard
split, dev never from a fold's test, file order kept, fold in the fit-cache key.

Expected values come from the data files (IEMOCAP's sessions in its dialogue ids, the standard
splits' sizes in the shared data README: IEMOCAP 108 / 12 / 31 dialogues, MOSI's SDK folds 52 / 10 /
31 videos, EmoryNLP 713 / 99 / 85 scenes) and from a constructed dataset.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erc_lib import fitcache
from erc_lib.data import SPLITS, DataError, Dialogue, ERCData, load_dataset, standardize_features
from erc_lib.data.folds import FOLDS, STANDARD_FOLD, fold_data, fold_of_dialogues, n_folds
from conftest import require_dataset, toy

# ERC_HYPOTHESIS_EXAMPLES lowers the count for mutation runs (docs/mutation.md).
FAST = settings(max_examples=int(os.environ.get("ERC_HYPOTHESIS_EXAMPLES", "30")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def ids(dialogues) -> list[str]:
    return [d.dialogue_id for d in dialogues]


def test_every_dialogue_is_tested_exactly_once_and_fold_0_is_the_standard_split():
    data = toy()
    folds = [fold_data(data, k) for k in range(n_folds("emorynlp"))]
    tested = [i for f in folds for i in ids(f.splits["test"])]
    everything = [i for s in SPLITS for i in ids(data.splits[s])]
    assert sorted(tested) == sorted(everything) and len(tested) == 20      # each of the 20 once
    assert {s: ids(folds[0].splits[s]) for s in SPLITS} == {s: ids(data.splits[s]) for s in SPLITS}
    # folds 1-4 split the 15 standard train + dev dialogues into groups of 4, 4, 4 and 3 (KFold)
    assert sorted(len(f.splits["test"]) for f in folds[1:]) == [3, 4, 4, 4]
    assert all(set(ids(f.splits["test"])) <= {f"train-{i}" for i in range(12)} | {f"dev-{i}" for i in range(3)}
               for f in folds[1:])


def test_each_fold_is_a_partition_with_the_standard_dev_size_and_file_order():
    data = toy()
    order = {i: n for n, i in enumerate(i for s in SPLITS for i in ids(data.splits[s]))}
    for k in range(1, 5):
        f = fold_data(data, k)
        parts = [set(ids(f.splits[s])) for s in SPLITS]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])   # disjoint
        assert sum(map(len, parts)) == 20                                               # and complete
        assert len(f.splits["dev"]) == 3                                                # the standard dev's size
        for s in SPLITS:
            positions = [order[i] for i in ids(f.splits[s])]
            assert positions == sorted(positions), f"fold {k} {s} is not in file order"
        assert f.fold == k and f.name == "emorynlp" and f.key == f"emorynlp@fold{k}"


def test_folds_are_seeded_and_the_seed_moves_them():
    data = toy()
    assert fold_of_dialogues(data, 0) == fold_of_dialogues(data, 0)
    assert fold_of_dialogues(data, 0) != fold_of_dialogues(data, 1)
    assert ids(fold_data(data, 2, seed=3).splits["dev"]) == ids(fold_data(data, 2, seed=3).splits["dev"])


def test_standardising_one_fold_leaves_the_dataset_and_other_folds_alone():
    data = toy()
    one, two = fold_data(data, 1), fold_data(data, 2)
    standardize_features(one)
    # dialogue "train-0" keeps its raw feature (position 0) in the dataset and in fold 2
    raw = {d.dialogue_id: float(d.features["audio"][0, 0]) for s in SPLITS for d in data.splits[s]}
    assert raw["train-0"] == 0.0 and raw["test-4"] == 19.0
    assert all(float(d.features["audio"][0, 0]) == raw[d.dialogue_id] for s in SPLITS for d in two.splits[s])
    train = np.concatenate([d.features["audio"] for d in one.splits["train"]])
    assert abs(float(train.mean())) < 1e-5 and abs(float(train.std()) - 1) < 1e-5   # fold 1's own statistics


def test_bad_folds_and_datasets_are_named():
    with pytest.raises(ValueError, match=r"meld.*no cross-validation folds.*emorynlp"):
        fold_data(toy("meld"), 1)
    for bad in (-1, 5, 1.0, True):
        with pytest.raises(ValueError, match=r"folds 0 \.\. 4"):
            fold_data(toy(), bad)


def test_fold_is_in_the_fit_cache_key_and_fold_0_shares_the_standard_key():
    data = toy()
    keys = [fitcache.data_fingerprint(fold_data(data, k)) for k in range(5)]
    assert keys[0] == fitcache.data_fingerprint(data)
    assert len(set(keys)) == 5
    # the fold number alone changes the key: the same splits labelled as another fold
    one = fold_data(data, 1)
    relabelled = ERCData(one.name, one.label_names, one.splits, one.notes, fold=2)
    assert fitcache.data_fingerprint(relabelled) != fitcache.data_fingerprint(one)


def test_iemocap_folds_are_its_sessions():
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    assert FOLDS["iemocap"] == 5 and STANDARD_FOLD == 0
    folds = [fold_data(data, k) for k in range(5)]
    for k, f in enumerate(folds):
        session = 5 if k == 0 else k
        assert {d.dialogue_id[:5] for d in f.splits["test"]} == {f"Ses0{session}"}
        assert all(d.dialogue_id[:5] != f"Ses0{session}" for s in ("train", "dev") for d in f.splits[s])
        assert len(f.splits["dev"]) == 12
    assert [len(f.splits["test"]) for f in folds][0] == 31
    assert sum(len(f.splits["test"]) for f in folds) == 151
    assert sum(len(d) for f in folds for d in f.splits["test"]) == 7433


@pytest.mark.parametrize("name, standard, total", [("mosi-clean", (52, 10, 31), 93), ("emorynlp", (713, 99, 85), 897)])
def test_mosi_and_emorynlp_folds_cover_every_video_or_scene_once(name, standard, total):
    require_dataset(name)
    data = load_dataset(name)
    assert tuple(len(data.splits[s]) for s in SPLITS) == standard
    folds = [fold_data(data, k) for k in range(FOLDS[name])]
    tested = [i for f in folds for i in ids(f.splits["test"])]
    assert len(tested) == len(set(tested)) == total
    assert ids(folds[0].splits["test"]) == ids(data.splits["test"])
    for f in folds[1:]:
        assert len(f.splits["dev"]) == standard[1]
        assert not set(ids(f.splits["dev"])) & set(ids(f.splits["test"]))


# ----------------------------------------------------------------------------- fold-stratified bootstrap
def test_stratified_bootstrap_keeps_each_folds_size_constructed_case():
    """Two folds of two one-utterance dialogues each. A is right everywhere; B is right on fold 1's
    dialogues and wrong on fold 2's. A resample that keeps each fold's size always holds two fold-2
    dialogues of four, so A - B in accuracy is 100 - 50 = 50 points in every resample: the interval
    is [50, 50] and its standard error 0. The unstratified bootstrap draws 0 to 4 fold-2 dialogues."""
    from erc_lib.metrics import paired_bootstrap

    y = np.array([1, 1, 1, 1])
    a, b = np.array([1, 1, 1, 1]), np.array([1, 1, 0, 0])
    folds = ["fold 1", "fold 1", "fold 2", "fold 2"]
    r = paired_bootstrap(y, a, b, [1, 1, 1, 1], 2, metric="accuracy", n_resamples=2000, strata=folds)
    assert (r["difference"], r["ci_low"], r["ci_high"], r["standard_error"]) == (50.0, 50.0, 50.0, 0.0)
    assert r["n_strata"] == 2 and r["n_dialogues"] == 4
    plain = paired_bootstrap(y, a, b, [1, 1, 1, 1], 2, metric="accuracy", n_resamples=2000)
    assert plain["difference"] == 50.0 and plain["ci_low"] < 50 < plain["ci_high"] and plain["n_strata"] == 1


def test_one_stratum_is_the_plain_bootstrap_and_strata_are_checked():
    from erc_lib.metrics import paired_bootstrap

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    a, b = rng.integers(0, 3, (3, 40)), rng.integers(0, 3, (3, 40))
    lengths = [4] * 10
    plain = paired_bootstrap(y, a, b, lengths, 3)
    one = paired_bootstrap(y, a, b, lengths, 3, strata=[7] * 10)
    assert {k: one[k] for k in plain} == plain
    with pytest.raises(ValueError, match="strata give"):
        paired_bootstrap(y, a, b, lengths, 3, strata=[0] * 9)


# ----------------------------------------------------------------------------- folds in the experiment loop
def _fit(y, pred, n_classes=2):
    from erc_lib.metrics import classification_metrics
    from erc_lib.training import FitResult

    m = classification_metrics(y, pred, [str(c) for c in range(n_classes)])
    return FitResult([], 1, m, m, {"y_true": np.asarray(y), "y_pred": np.asarray(pred)}, 1.0, 1.0)


def test_cross_validated_difference_pools_every_fold_with_its_own_predictions():
    """Fold 1 and fold 2, two one-utterance dialogues each. A is right everywhere; B is right on
    fold 1 and wrong on fold 2 (seed 0) or wrong on the second dialogue of fold 2 only (seed 1).
    Pooled accuracy: A 100, B (50 + 75) / 2 = 62.5, so A - B = 37.5; the fold-stratified interval
    keeps two fold-2 dialogues in each resample."""
    from erc_lib.experiment import Experiment, cross_validated_difference

    exp = Experiment()
    y = [1, 1]
    for k, b_preds in ((1, ([1, 1], [1, 1])), (2, ([0, 0], [1, 0]))):
        key = f"toy@fold{k}"
        exp.test_truth[key] = {"labels": y, "dialogue_lengths": [1, 1]}
        for seed in (0, 1):
            exp.fits[(key, "A", seed)] = _fit(y, [1, 1])
            exp.fits[(key, "B", seed)] = _fit(y, b_preds[seed])
    r = cross_validated_difference(exp, "A", "B", "toy", folds=[1, 2], metric="accuracy", n_resamples=2000)
    assert r["difference"] == 37.5 and r["a_mean"] == 100.0 and r["b_mean"] == 62.5
    assert r["n_dialogues"] == 4 and r["n_strata"] == 2 and r["folds"] == [1, 2] and r["n_seeds_a"] == 2
    assert r["ci_low"] <= 37.5 <= r["ci_high"] and r["ci_high"] <= 50.0   # at most two of four dialogues wrong for B
    exp.fits.pop(("toy@fold2", "B", 1))
    with pytest.raises(ValueError, match=r"seeds \[0\] on toy@fold2"):
        cross_validated_difference(exp, "A", "B", "toy", folds=[1, 2])
    with pytest.raises(KeyError, match="toy@fold3"):
        cross_validated_difference(exp, "A", "B", "toy", folds=[1, 3])


def test_run_experiment_keys_a_folds_runs_by_fold():
    from erc_lib.experiment import RunSpec, run_experiment
    from erc_lib.models.baselines import build_logistic_regression
    from erc_lib.training import TrainConfig

    data = toy()
    fold = fold_data(data, 2)
    spec = RunSpec("logreg", lambda: build_logistic_regression(fold, ["audio"]), inputs=("audio",), model="LR")
    exp = run_experiment(fold, [spec], 1, TrainConfig(device="cpu", epochs=1), progress=False, cache=False)
    assert set(exp.fits) == {("emorynlp@fold2", "logreg", 0)}
    assert set(exp.test_truth) == {"emorynlp@fold2"}
    assert {(r["dataset"], r["fold"]) for r in exp.rows} == {("emorynlp@fold2", 2)}
    assert len(exp.test_truth["emorynlp@fold2"]["dialogue_lengths"]) == len(fold.splits["test"])
    plain = run_experiment(data, [RunSpec("logreg", lambda: build_logistic_regression(data, ["audio"]), inputs=("audio",))],
                           1, TrainConfig(device="cpu", epochs=1), progress=False, cache=False)
    assert set(plain.fits) == {("emorynlp", "logreg", 0)} and "fold" not in plain.rows[0]


# ----------------------------------------------------------------------------- the fold rules on constructed data
def iemocap_like(test_ids=("Ses05F_impro01", "Ses05M_script01"), pool_sessions=(1, 1, 2, 2, 3, 3, 4, 4, 4),
                 dev: int = 3) -> ERCData:
    """A dataset named ``iemocap`` of one-utterance dialogues with IEMOCAP's ids: the pool (train +
    dev, the last ``dev`` as dev) one dialogue per entry of ``pool_sessions`` (``Ses0<s>F_impro0<i>``),
    the test the given ids."""
    d = lambda i: Dialogue(i, ["A"], ["x"], np.array([0]), {"audio": np.zeros((1, 1), dtype=np.float32)})  # noqa: E731
    pool = [d(f"Ses0{s}F_impro0{i}") for i, s in enumerate(pool_sessions)]
    return ERCData("iemocap", ["neg", "pos"], {"train": pool[:-dev], "dev": pool[-dev:],
                                               "test": [d(i) for i in test_ids]}).validate()


def test_iemocap_fold_s_tests_session_s_and_fold_0_session_5():
    """Constructed IEMOCAP ids: every session-s dialogue (1-4) goes to fold s, session 5 (the standard
    test) to fold 0, read from the id's ``Ses0<s>`` prefix."""
    data = iemocap_like()
    expected = {d.dialogue_id: int(d.dialogue_id[4]) % 5 for s in SPLITS for d in data.splits[s]}
    assert fold_of_dialogues(data) == expected
    assert ids(fold_data(data, 3).splits["test"]) == ["Ses03F_impro04", "Ses03F_impro05"]


@pytest.mark.parametrize("test_ids, pool_sessions, found", [
    # a session-5 dialogue in train / dev: the standard test is session 5, the folds would overlap it
    (("Ses05F_impro01",), (1, 2, 3, 4, 5), "test sessions [5], train/dev sessions [1, 2, 3, 4, 5]"),
    # a test dialogue of another session
    (("Ses05F_impro01", "Ses04M_script02"), (1, 2, 3, 4), "test sessions [4, 5], train/dev sessions [1, 2, 3, 4]"),
])
def test_iemocap_dialogues_off_the_session_rule_are_refused_with_the_sessions_named(test_ids, pool_sessions, found):
    data = iemocap_like(test_ids, pool_sessions, dev=1)
    with pytest.raises(DataError) as err:
        fold_of_dialogues(data)
    # the train/dev sessions are numpy integers, which numpy 2 prints as np.int64(s): read the numbers
    message = re.sub(r"np\.int64\((\d+)\)", r"\1", str(err.value))
    assert message == f"IEMOCAP folds are sessions: the standard test must be session 5 and train/dev sessions 1-4 ({found})"


def test_an_id_without_a_session_or_given_twice_is_named():
    with pytest.raises(DataError, match=r"IEMOCAP dialogue id 'Session1_a' does not name its session "
                                        r"\(expected 'Ses01\.\.\.' to 'Ses05\.\.\.'\)"):
        fold_of_dialogues(iemocap_like(test_ids=("Ses05F_impro01", "Session1_a")))
    data = toy()
    data.splits["dev"][0].dialogue_id = "train-0"    # validate() would refuse it; the fold rule checks again
    with pytest.raises(DataError, match="emorynlp: a dialogue id occurs twice, so folds cannot be told apart"):
        fold_of_dialogues(data)


@given(seed=st.integers(0, 10_000), n_pool=st.integers(8, 40))
@FAST
def test_random_folds_are_numbered_in_file_order(seed, n_pool):
    """KFold draws the groups at random; they are numbered by their first dialogue in the files, so fold 1
    holds the first standard train dialogue and each later fold starts later in the files."""
    data = toy(sizes=(n_pool - 3, 3, 5))
    assignment = fold_of_dialogues(data, seed)
    pool = [d.dialogue_id for s in ("train", "dev") for d in data.splits[s]]
    first = [min(i for i, d in enumerate(pool) if assignment[d] == k) for k in range(1, 5)]
    assert first[0] == 0 and first == sorted(first) and len(set(first)) == 4
    assert {assignment[d] for d in pool} == {1, 2, 3, 4}
    assert {assignment[d.dialogue_id] for d in data.splits["test"]} == {0}


def test_the_fold_seed_moves_the_folds_test_dialogues_too():
    """``fold_data(data, k, seed)`` tests the dialogues ``fold_of_dialogues(data, seed)`` puts in fold k,
    for every seed (not only the default): the seed that draws the folds is the one given."""
    data = toy()
    for seed in (0, 3, 11):
        assignment = fold_of_dialogues(data, seed)
        for k in range(1, 5):
            assert ids(fold_data(data, k, seed=seed).splits["test"]) == [
                i for s in SPLITS for i in ids(data.splits[s]) if assignment[i] == k], (seed, k)
    assert ids(fold_data(data, 1, seed=3).splits["test"]) != ids(fold_data(data, 1).splits["test"])
