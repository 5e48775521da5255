"""Paired differences between two rows (:mod:`erc_lib.differences`): over seeds and test dialogues,
of a kept student output rather than the fused one, over the pooled test sets of cross-validation folds,
and their reading and table. Constructed cases: models that predict one class fixed by their variant and
seed (tests/toy_models.py), and folds of four one-utterance dialogues, so each number is known by hand
(the cross-validated verdicts built on them: tests/test_crossval.py)."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.differences import (comparison_table, cross_validated_difference, interval_reading, paired_difference,
                                  pooled_test_set)
from erc_lib.experiment import Experiment
from erc_lib.fit_result import FitResult
from erc_lib.metrics import classification_metrics

from toy_models import DEV, constant_spec, constant_weighted_f1, run_constant, toy_data


def test_student_comparison_reads_the_student_output_not_the_fused_one():
    """A and B fuse to the same class (0), their text students predict 0 and 2: on the fused
    output the difference is 0, on the students' output it is wF1(class 0) - wF1(class 2)."""
    exp = run_constant([constant_spec("A", student=0), constant_spec("B", student=2)], [0])
    fused = paired_difference(exp, "A", exp, "B", n_resamples=50)
    student = paired_difference(exp, "A", exp, "B", n_resamples=50, output="logits_text")
    labels = [2, 2, 1, 0, 1, 2]
    assert fused["difference"] == 0.0 and fused["output"] == "y_pred"
    assert student["output"] == "logits_text"
    assert student["a_mean"] == pytest.approx(constant_weighted_f1(labels, 0))
    assert student["b_mean"] == pytest.approx(constant_weighted_f1(labels, 2))
    assert student["difference"] == pytest.approx(constant_weighted_f1(labels, 0) - constant_weighted_f1(labels, 2))
    assert student["a"] == "A" and student["b"] == "B" and student["dataset"] == "toy"
    assert exp.fit("A").test_outputs["logits_text"].shape == (6, 3)


def test_paired_difference_over_seeds_and_its_std():
    """Seeds 0, 1, 2 of A predict classes 0, 1, 2; B (shift 2) predicts 2, 0, 1: the same three
    constant predictions, so the difference is 0 and both seed stds are the std of the three
    scores, by hand."""
    exp = run_constant([constant_spec("A"), constant_spec("B", shift=2)], [0, 1, 2])
    c = paired_difference(exp, "A", exp, "B", n_resamples=20)
    labels = [2, 2, 1, 0, 1, 2]
    scores = [constant_weighted_f1(labels, k) for k in range(3)]
    assert c["difference"] == pytest.approx(0.0, abs=1e-9)
    assert c["a_std"] == pytest.approx(np.std(scores, ddof=1)) and c["b_std"] == pytest.approx(np.std(scores, ddof=1))
    assert c["a_mean"] == pytest.approx(np.mean(scores))
    one = run_constant([constant_spec("A")], [1])
    c1 = paired_difference(one, "A", exp, "B", n_resamples=20)  # seed 1 of A vs the three seeds of B
    assert c1["a_std"] == 0.0 and c1["a_mean"] == pytest.approx(scores[1])
    with pytest.raises(KeyError) as err:
        paired_difference(exp, "A", exp, "C")
    assert err.value.args[0] == "no runs of 'A' or 'C'"
    assert c1["standard_error"] > 0 and paired_difference(one, "A", exp, "B", n_resamples=1)["standard_error"] == 0.0
    other = run_constant([constant_spec("A")], [0], data=toy_data(DEV, ((2, 2, 1), (0, 1, 0))))
    with pytest.raises(ValueError, match="same test utterances"):
        paired_difference(exp, "A", other, "A")


def test_interval_reading_and_table():
    assert interval_reading({"ci_low": 0.1, "ci_high": 2}) == "A better"
    assert interval_reading({"ci_low": -2, "ci_high": -0.1}) == "B better"
    assert interval_reading({"ci_low": 0.0, "ci_high": 1}) == "inconclusive"
    assert interval_reading({"ci_low": -1, "ci_high": 0.0}) == "inconclusive"
    c = {"a": "A", "b": "B", "dataset": "toy", "a_mean": 60.0, "a_std": 1.0, "n_seeds_a": 3, "b_mean": 58.5,
         "b_std": 0.5, "n_seeds_b": 3, "difference": 1.5, "ci_low": 0.25, "ci_high": 2.75}
    row = comparison_table([c]).iloc[0]
    assert row["A"] == "60.00 ± 1.00 (3)" and row["B"] == "58.50 ± 0.50 (3)" and row["95% CI"] == "[+0.25, +2.75]"
    assert row["reading"] == "A better" and row["difference"] == 1.5


# ----------------------------------------------------------------------------- pooled over cross-validation folds
def _fit(y, pred, student=None, n_classes=2):
    """A fit scored on labels ``y`` with predictions ``pred`` and, when given, a kept ``logits_text`` output
    (one-hot rows of the classes ``student``)."""
    m = classification_metrics(y, pred, [str(c) for c in range(n_classes)])
    outputs = {"y_true": np.asarray(y), "y_pred": np.asarray(pred)}
    if student is not None:
        outputs["logits_text"] = np.eye(n_classes)[student]
    return FitResult([], 1, m, m, outputs, 1.0, 1.0)


def two_fold_experiment() -> Experiment:
    """Folds 1 and 2 of a dataset "toy", each two one-utterance dialogues labelled 0 and 1.
    A (seeds 0, 1) is right everywhere; its text student says 0 everywhere. B seed 0 says 0 everywhere,
    B seed 1 is right on fold 1 and says 0 on fold 2; B's student is right everywhere. C has seed 0 only,
    A's predictions."""
    exp = Experiment()
    y = [0, 1]
    for k in (1, 2):
        key = f"toy@fold{k}"
        exp.test_truth[key] = {"labels": y, "dialogue_lengths": [1, 1]}
        for seed in (0, 1):
            exp.fits[(key, "A", seed)] = _fit(y, [0, 1], student=[0, 0])
        exp.fits[(key, "B", 0)] = _fit(y, [0, 0], student=[0, 1])
        exp.fits[(key, "B", 1)] = _fit(y, [0, 1] if k == 1 else [0, 0], student=[0, 1])
        exp.fits[(key, "C", 0)] = _fit(y, [0, 1])
    return exp


# Pooled labels 0, 1, 0, 1. Weighted F1 by hand (two classes of two utterances each, weights 1/2):
#   all right: 100;  all 0: class 0 P 2/4 R 1 -> F1 2/3, class 1 F1 0 -> 33.33;
#   0, 1, 0, 0: class 0 P 2/3 R 1 -> F1 4/5, class 1 P 1 R 1/2 -> F1 2/3 -> 73.33.
ALL_ZERO, ONE_WRONG = 100 / 3, 50 * (4 / 5 + 2 / 3)


def test_cross_validated_difference_is_weighted_f1_over_the_pooled_folds_with_each_rows_seed_std():
    """By default the metric is weighted F1 (the protocol's), 1,000 resamples at bootstrap seed 0. A: 100 on
    both seeds (std 0). B: 33.33 and 73.33 on the pooled test set (seed std with ddof 1:
    40 / sqrt 2 = 28.28), mean 53.33, so A - B = 46.67. One seed has no seed std: 0."""
    exp = two_fold_experiment()
    r = cross_validated_difference(exp, "A", "B", "toy", folds=[1, 2])
    assert (r["a"], r["b"], r["dataset"], r["output"], r["folds"]) == ("A", "B", "toy", "y_pred", [1, 2])
    assert r["metric"] == "weighted_f1" and r["n_resamples"] == 1000 and r["n_strata"] == 2 and r["n_dialogues"] == 4
    assert r["a_mean"] == pytest.approx(100.0) and r["b_mean"] == pytest.approx((ALL_ZERO + ONE_WRONG) / 2)
    assert r["difference"] == pytest.approx(100 - (ALL_ZERO + ONE_WRONG) / 2)
    assert r["a_std"] == 0.0 and r["b_std"] == pytest.approx((ONE_WRONG - ALL_ZERO) / np.sqrt(2))
    one = cross_validated_difference(exp, "C", "B", "toy", folds=[1, 2])
    assert one["a_std"] == 0.0 and one["n_seeds_a"] == 1 and one["a_mean"] == pytest.approx(100.0)
    assert cross_validated_difference(exp, "B", "A", "toy", folds=[1, 2], metric="accuracy")["difference"] == pytest.approx(
        (50 + 75) / 2 - 100)


def test_cross_validated_difference_is_seeded_and_takes_its_resamples():
    """Same bootstrap seed, same interval; the default is seed 0; another seed draws other resamples."""
    exp = two_fold_experiment()
    run = lambda **kw: cross_validated_difference(exp, "A", "B", "toy", folds=[1, 2], **kw)  # noqa: E731
    assert run() == run(seed=0) and run(seed=1) == run(seed=1)
    assert run(seed=1)["standard_error"] != run(seed=0)["standard_error"]
    assert run(n_resamples=200)["n_resamples"] == 200


def test_a_kept_output_is_compared_by_its_highest_scoring_class():
    """``output="logits_text"``: A's student says 0 everywhere (33.33), B's is right everywhere (100)."""
    r = cross_validated_difference(two_fold_experiment(), "A", "B", "toy", folds=[1, 2], output="logits_text")
    assert r["output"] == "logits_text" and r["a_std"] == r["b_std"] == 0.0
    assert r["a_mean"] == pytest.approx(ALL_ZERO) and r["difference"] == pytest.approx(ALL_ZERO - 100)


def test_the_pooled_test_set_puts_each_folds_dialogues_with_their_own_fits_in_the_order_given():
    """Folds 2 then 1: labels, lengths and strata in that order; row s holds seed s of every fold; the model's
    predictions unless a kept output is named."""
    exp = two_fold_experiment()
    pooled = pooled_test_set(exp, "A", "B", "toy", [2, 1])
    assert pooled["labels"].tolist() == [0, 1, 0, 1] and pooled["dialogue_lengths"] == [1, 1, 1, 1]
    assert pooled["strata"] == [2, 2, 1, 1] and pooled["folds"] == [2, 1] and pooled["n_classes"] == 2
    assert pooled["a"].tolist() == [[0, 1, 0, 1], [0, 1, 0, 1]]
    assert pooled["b"].tolist() == [[0, 0, 0, 0], [0, 0, 0, 1]]             # seed 1: fold 2 all 0, fold 1 right
    assert pooled_test_set(exp, "A", "B", "toy", [2, 1], output="logits_text")["a"].tolist() == [[0, 0, 0, 0]] * 2


def test_pooling_refuses_no_folds_and_fits_scored_on_other_utterances():
    exp = two_fold_experiment()
    with pytest.raises(ValueError, match=r"^cross_validated_difference needs at least one fold$"):
        cross_validated_difference(exp, "A", "B", "toy", folds=[])
    exp.fits[("toy@fold2", "B", 1)] = _fit([1, 1], [1, 1])
    with pytest.raises(ValueError, match=r"^'B' on toy@fold2 was not scored on the fold's test utterances$"):
        pooled_test_set(exp, "A", "B", "toy", [1, 2])
