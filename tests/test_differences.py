"""Paired differences between two rows (:mod:`erc_lib.differences`): over seeds and test dialogues,
of a kept student output rather than the fused one, and their reading and table. Constructed cases:
models that predict one class fixed by their variant and seed (tests/toy_models.py), so each number
is known by hand (the cross-validated differences: tests/test_crossval.py)."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.differences import comparison_table, interval_reading, paired_difference

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
