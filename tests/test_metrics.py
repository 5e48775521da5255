"""Utterance-level metrics and the paired bootstrap (erc_lib.metrics) on constructed cases whose
answers are computed by hand in the comments."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.metrics import classification_metrics, majority_baseline, paired_bootstrap

NAMES = ["neutral", "joy", "anger", "fear"]
# truth   0 0 0 1 1 2        class 0: TP 2, FP 0, FN 1 -> F1 = 2*2 / (2*2 + 0 + 1) = 0.8
# predict 0 0 1 1 2 2        class 1: TP 1, FP 1, FN 1 -> F1 = 2 / 4 = 0.5
#                            class 2: TP 1, FP 1, FN 0 -> F1 = 2 / 3; class 3 absent -> 0
Y_TRUE, Y_PRED = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, NAMES)
    assert m["weighted_f1"] == pytest.approx(100 * (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)    # 67.78
    assert m["macro_f1"] == pytest.approx(100 * (0.8 + 0.5 + 2 / 3 + 0) / 4)             # 49.17, over all 4 names
    assert m["accuracy"] == pytest.approx(100 * 4 / 6)
    assert m["per_class_f1"] == pytest.approx({"neutral": 80.0, "joy": 50.0, "anger": 200 / 3, "fear": 0.0})
    assert list(m["per_class_f1"]) == NAMES
    assert m["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]      # rows: truth
    assert m["n"] == 6
    column = classification_metrics(np.array(Y_TRUE)[:, None], np.array(Y_PRED)[None, :], NAMES)
    assert column == m                                                   # any shape is read as 1-D


OUTSIDE = r"^labels outside 0\.\.3; did padding \(-100\) slip through\?$"


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([], [], "^no utterances to score$"), ([0, -100], [0, 0], OUTSIDE), ([0, 4], [0, 0], OUTSIDE),
    ([0, 1], [0, 4], OUTSIDE), ([0, 1], [-1, 0], OUTSIDE)])
def test_classification_metrics_rejects_bad_labels(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(y_true, y_pred, NAMES)


def test_majority_baseline_predicts_the_most_frequent_train_class():
    # train: class 2 three times -> always "anger". test 0 2 2 1: accuracy 2/4; anger F1 = 2*2/(4+2+0) = 2/3,
    # support 2 of 4 -> weighted F1 = 100 * (2/4) * (2/3) = 33.33
    m = majority_baseline([2, 2, 1, 0, 2], [0, 2, 2, 1], NAMES)
    assert m["label"] == "anger" and m["accuracy"] == pytest.approx(50.0)
    assert m["weighted_f1"] == pytest.approx(100 / 3) and m["confusion"][1] == [0, 0, 1, 0]
    assert majority_baseline([[1], [1], [0]], [1, 0], NAMES)["label"] == "joy"
    one = majority_baseline([0, 3, 3], [3], NAMES)                 # a single test utterance
    assert one["label"] == "fear" and one["accuracy"] == 100.0 and one["n"] == 1


def test_bootstrap_of_a_constant_gap_is_a_point():
    """A right on every utterance, B wrong on every one: each resample's accuracy gap is 100."""
    y = np.array([0, 1, 0, 1, 2, 2])
    r = paired_bootstrap(y, y, (y + 1) % 3, [2, 2, 2], 3, metric="accuracy", n_resamples=200)
    assert (r["difference"], r["ci_low"], r["ci_high"], r["standard_error"]) == (100.0, 100.0, 100.0, 0.0)
    assert r["excludes_zero"] and r["a_mean"] == 100.0 and r["b_mean"] == 0.0
    assert (r["n_dialogues"], r["n_resamples"], r["n_seeds_a"], r["n_seeds_b"]) == (3, 200, 1, 1)
    assert r["metric"] == "accuracy" and r["confidence"] == 0.95
    w = paired_bootstrap(y, y, (y + 1) % 3, [2, 2, 2], 3, n_resamples=50)
    assert (w["difference"], w["ci_low"], w["ci_high"], w["metric"]) == (100.0, 100.0, 100.0, "weighted_f1")


def test_bootstrap_resamples_whole_dialogues():
    """Two dialogues of 2 utterances. Dialogue 1: A and B both right. Dialogue 2: A right, B wrong.
    A resample draws 2 dialogues with replacement; the accuracy gap is 100 x (copies of dialogue 2)
    / 2: 0, 50 or 100 with probabilities 1/4, 1/2, 1/4. So the 95% interval is [0, 100], the
    standard error sqrt(1/4 * 50^2 + 1/4 * 50^2) = 35.36, the full-set gap 50; and the central 40%
    interval (30th to 70th percentile) is [50, 50]."""
    y = np.array([0, 1, 2, 0])
    a, b = y.copy(), np.array([0, 1, 0, 1])
    r = paired_bootstrap(y, a, b, [2, 2], 3, metric="accuracy", n_resamples=4000)
    assert r["difference"] == 50.0 and (r["ci_low"], r["ci_high"]) == (0.0, 100.0) and not r["excludes_zero"]
    assert r["standard_error"] == pytest.approx(35.36, abs=1.5)
    narrow = paired_bootstrap(y, a, b, [2, 2], 3, metric="accuracy", n_resamples=4000, confidence=0.4)
    assert (narrow["ci_low"], narrow["ci_high"]) == (50.0, 50.0) and narrow["excludes_zero"]
    # (utterances resampled one by one would give gaps of 25 k, k ~ Binomial(4, 1/2): a 30th percentile of 25)


def test_bootstrap_resamples_seeds_too():
    """A has two seeds (one right everywhere, one wrong everywhere); B has one seed right on one of
    the two utterances of every dialogue, so B scores 50 in every resample. A's mean over two
    seeds drawn with replacement is 100, 50 or 0 (probabilities 1/4, 1/2, 1/4) whatever dialogues
    are drawn: the 95% interval of A - B is [-50, 50]; the full-set gap is (100 + 0) / 2 - 50 = 0."""
    y = np.array([0, 1, 1, 2, 2, 0])
    a = np.stack([y, (y + 1) % 3])
    b = np.array([0, 0, 1, 0, 2, 1])
    r = paired_bootstrap(y, a, b, [2, 2, 2], 3, metric="accuracy", n_resamples=4000)
    assert r["difference"] == 0.0 and (r["ci_low"], r["ci_high"]) == (-50.0, 50.0)
    assert r["a_mean"] == 50.0 and r["b_mean"] == 50.0 and (r["n_seeds_a"], r["n_seeds_b"]) == (2, 1)
    assert r["standard_error"] == pytest.approx(35.36, abs=1.5)
    flipped = paired_bootstrap(y, b, a, [2, 2, 2], 3, metric="accuracy", n_resamples=4000)
    assert (flipped["ci_low"], flipped["ci_high"]) == (-50.0, 50.0) and (flipped["n_seeds_a"], flipped["n_seeds_b"]) == (1, 2)


def test_bootstrap_weighted_f1_equals_the_hand_computed_one():
    """The full-set difference in weighted F1 of the constructed case above against a perfect B:
    67.78 - 100 = -32.22; in one dialogue resampled to itself every time (a single dialogue) the
    interval is that point."""
    r = paired_bootstrap(Y_TRUE, Y_PRED, Y_TRUE, [6], 4, n_resamples=100)
    expected = 100 * (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6 - 100
    assert r["difference"] == pytest.approx(expected)
    assert r["ci_low"] == pytest.approx(expected) and r["ci_high"] == pytest.approx(expected)
    assert r["a_mean"] == pytest.approx(expected + 100) and r["b_mean"] == 100.0
    assert r["excludes_zero"] and r["standard_error"] == pytest.approx(0.0, abs=1e-9)
    one = paired_bootstrap(Y_TRUE, Y_PRED, Y_TRUE, [6], 4, n_resamples=1)
    assert one["standard_error"] == 0.0 and one["n_resamples"] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"predictions_a": [0, 1, 2]}, "^predictions cover 3 / 4 utterances, labels 4$"),
    ({"predictions_b": [[0, 1, 2, 0, 1]]}, "^predictions cover 4 / 5 utterances, labels 4$"),
    ({"dialogue_lengths": [2, 1]}, "^dialogue lengths sum to 3, but there are 4 utterances$"),
    ({"dialogue_lengths": [4, 0]}, "^dialogue lengths sum to 4, but there are 4 utterances$"),
    ({"confidence": 1.0}, r"^confidence must be in \(0, 1\), got 1.0$"),
    ({"confidence": 0.0}, r"^confidence must be in \(0, 1\), got 0.0$"),
    ({"metric": "macro_f1"}, "^metric must be 'weighted_f1' or 'accuracy', got 'macro_f1'$")])
def test_bootstrap_rejects_bad_input_before_work(kwargs, message):
    args = {"y_true": [0, 1, 2, 0], "predictions_a": [0, 1, 2, 0], "predictions_b": [0, 1, 2, 0],
            "dialogue_lengths": [2, 2], "n_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(**args)


def test_bootstrap_standard_error_is_the_sample_std_of_the_resampled_differences():
    """With two resamples d1 <= d2 the percentile interval is [d1 + 0.025 (d2 - d1), d1 + 0.975 (d2 - d1)]
    (linear interpolation), so its width is 0.95 |d2 - d1|, and the sample standard deviation
    (ddof 1) of two values is |d2 - d1| / sqrt(2)."""
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    a = np.array([0, 1, 2, 0, 0, 0, 0, 0])             # dialogue 1 right, dialogue 2 half right
    b = np.array([0, 0, 0, 0, 1, 2, 0, 1])
    for seed in range(20):                             # some seed draws two different resamples
        r = paired_bootstrap(y, a, b, [4, 4], 3, metric="accuracy", n_resamples=2, seed=seed)
        if r["ci_high"] > r["ci_low"]:
            break
    width = r["ci_high"] - r["ci_low"]
    assert width > 0 and r["standard_error"] == pytest.approx(width / 0.95 / np.sqrt(2))


def test_bootstrap_reads_labels_stored_as_floats_as_class_indices():
    """Labels, predictions and lengths read back from a JSON or CSV file as floats (0.0, 1.0, ...)
    are cast to integers: the same interval as the integer arrays."""
    y = np.array([0, 1, 2, 0, 1, 2])
    a, b = np.array([0, 1, 2, 0, 0, 2]), np.array([[0, 0, 2, 0, 1, 1], [1, 1, 2, 0, 1, 2]])
    ints = paired_bootstrap(y, a, b, [3, 3], 3, n_resamples=200)
    floats = paired_bootstrap(y.astype(float), a.astype(float), b.astype(float), np.array([3.0, 3.0]), 3,
                              n_resamples=200)
    assert floats == ints


def test_resampling_only_seeds_or_only_dialogues_freezes_the_other_source():
    """One test dialogue of 4 utterances and two seeds of A (all right; half right) against B (all
    wrong), accuracy: resampling the dialogues only always draws that one dialogue with both seeds, so
    every resample is the full difference (75 - 0) and the interval a point; resampling the seeds only
    draws seed pairs (100, 100), (100, 50), (50, 100), (50, 50): the differences 100, 75, 75, 50, all
    within [50, 100], with a spread."""
    y = [1, 1, 1, 1]
    a = [[1, 1, 1, 1], [1, 1, 0, 0]]
    b = [[0, 0, 0, 0], [0, 0, 0, 0]]
    dialogues = paired_bootstrap(y, a, b, [4], 2, metric="accuracy", n_resamples=500, resample="dialogues")
    assert (dialogues["difference"], dialogues["ci_low"], dialogues["ci_high"], dialogues["standard_error"]) == (75.0, 75.0, 75.0, 0.0)
    seeds = paired_bootstrap(y, a, b, [4], 2, metric="accuracy", n_resamples=500, resample="seeds")
    assert seeds["difference"] == 75.0 and seeds["ci_low"] == 50.0 and seeds["ci_high"] == 100.0
    assert seeds["standard_error"] > 10
    with pytest.raises(ValueError, match="resample must be"):
        paired_bootstrap(y, a, b, [4], 2, resample="utterances")


def test_seed_share_splits_the_variance_by_hand():
    """Seeds the only noise (one dialogue): share 1. Dialogues the only noise (one seed each): share 0.
    Both: the seed part over the sum of the two one-source variances, each the square of that
    bootstrap's standard error."""
    from erc_lib.metrics import seed_variance_share

    y, a, b = [1, 1, 1, 1], [[1, 1, 1, 1], [1, 1, 0, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert seed_variance_share(y, a, b, [4], 2, metric="accuracy")["seed_share"] == 1.0
    y2 = [1, 1, 0, 0]
    only_dialogues = seed_variance_share(y2, [1, 1, 1, 1], [1, 0, 1, 0], [2, 2], 2, metric="accuracy")
    assert only_dialogues["seed_share"] == 0.0 and only_dialogues["dialogue_variance"] > 0
    assert seed_variance_share(y2, [1, 1, 0, 0], [1, 1, 0, 0], [2, 2], 2)["seed_share"] == 0.0   # no variance at all
    rng = np.random.default_rng(3)
    y3 = rng.integers(0, 3, 60)
    a3, b3 = rng.integers(0, 3, (4, 60)), rng.integers(0, 3, (4, 60))
    both = seed_variance_share(y3, a3, b3, [6] * 10, 3, n_resamples=500, seed=1)
    s = paired_bootstrap(y3, a3, b3, [6] * 10, 3, n_resamples=500, seed=1, resample="seeds")["standard_error"] ** 2
    d = paired_bootstrap(y3, a3, b3, [6] * 10, 3, n_resamples=500, seed=1, resample="dialogues")["standard_error"] ** 2
    assert both == {"seed_variance": s, "dialogue_variance": d, "seed_share": s / (s + d)} and 0 < both["seed_share"] < 1


def test_seed_share_resamples_within_folds_and_keeps_a_small_seed_part():
    """Three properties of the split, each by construction.

    Folds: fold 1's two dialogues have A = B (difference 0), fold 2's have A right and B wrong
    (difference +100); resampled within folds, every resample holds two dialogues of each fold, so the
    difference is always 50 and the dialogue part is exactly 0; resampled across folds it is not.
    Defaults: 2,000 resamples and bootstrap seed 0, each part the square of that one-source
    bootstrap's standard error (with the same strata). Small variances: 200 one-utterance dialogues,
    A's second seed wrong on one utterance: both parts are below one squared point, and the seed part,
    however small, is a share above 0."""
    from erc_lib.metrics import seed_variance_share

    y = [1, 1, 1, 1]
    a, b = [[1, 1, 1, 1], [1, 1, 1, 1]], [[1, 1, 0, 0], [1, 1, 0, 0]]
    folds = ["fold 1", "fold 1", "fold 2", "fold 2"]
    within = seed_variance_share(y, a, b, [1, 1, 1, 1], 2, metric="accuracy", strata=folds)
    across = seed_variance_share(y, a, b, [1, 1, 1, 1], 2, metric="accuracy")
    assert within == {"seed_variance": 0.0, "dialogue_variance": 0.0, "seed_share": 0.0}
    assert across["dialogue_variance"] > 100 and across["seed_variance"] == 0.0

    rng = np.random.default_rng(5)
    y3, a3, b3 = rng.integers(0, 3, 60), rng.integers(0, 3, (3, 60)), rng.integers(0, 3, (3, 60))
    groups = [k % 2 for k in range(10)]
    both = seed_variance_share(y3, a3, b3, [6] * 10, 3, strata=groups)
    part = lambda how: paired_bootstrap(y3, a3, b3, [6] * 10, 3, n_resamples=2000, seed=0, strata=groups,  # noqa: E731
                                        resample=how)["standard_error"] ** 2
    assert both["seed_variance"] == part("seeds") and both["dialogue_variance"] == part("dialogues")

    y4 = [1] * 200
    a4 = [[1] * 200, [1] * 199 + [0]]
    small = seed_variance_share(y4, a4, [[1] * 200, [1] * 200], [1] * 200, 2, metric="accuracy")
    assert 0 < small["seed_variance"] + small["dialogue_variance"] < 1
    assert small["seed_share"] == small["seed_variance"] / (small["seed_variance"] + small["dialogue_variance"]) > 0
