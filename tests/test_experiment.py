"""The one seed loop (:mod:`erc_lib.experiment`): every stored row, fit and prediction belongs to
the variant and seed it is keyed by; a comparison of student heads reads the student's output,
not the fused one; every "best" variant is chosen on dev. Constructed cases: models that predict
one class fixed by their variant and seed (tests/toy_models.py), so each stored number is known
by hand."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.experiment import (Experiment, RunSpec, comparison_table, interval_reading, merge, paired_difference,
                                run_experiment)
from erc_lib.training import TrainConfig

from toy_models import ConstantModel, ScriptedModel, constant_weighted_f1, toy_data

CFG = TrainConfig(epochs=1, batch_size=64, device="cpu", progress=False, patience=None)
# dev: class 0 is the majority (3 of 6); test: class 2 is (3 of 6), class 0 has 1 of 6
DEV, TEST = ((0, 0, 1, 0), (2, 1)), ((2, 2, 1), (0, 1, 2))


def _run(specs, seeds, data=None, **kw):
    return run_experiment(data or toy_data(DEV, TEST), specs, seeds, CFG, progress=False, cache=False, **kw)


def _const(variant, shift=0, student=None, **kw):
    return RunSpec(variant, lambda: ConstantModel(shift, student), ["text"], model="toy", keep=("logits_text",), **kw)


def test_rows_fits_and_predictions_belong_to_their_variant_and_seed():
    """Variant A predicts class ``seed % 3``, variant B ``(seed + 1) % 3``: each (variant, seed)
    row, fit and stored prediction list holds that class's numbers."""
    exp = _run([_const("A"), _const("B", shift=1)], [0, 1, 2])
    test_labels = [2, 2, 1, 0, 1, 2]
    dev_labels = [0, 0, 1, 0, 2, 1]
    assert exp.test_truth["toy"] == {"labels": test_labels, "dialogue_lengths": [3, 3]}
    for variant, shift in (("A", 0), ("B", 1)):
        for seed in (0, 1, 2):
            cls = (seed + shift) % 3
            f = exp.fit(variant, seed)
            assert f.config["seed"] == seed
            assert f.test_outputs["y_pred"].tolist() == [cls] * 6
            assert exp.predictions()[f"toy|{variant}|{seed}"] == [cls] * 6
            rows = {r["split"]: r for r in exp.rows if r["variant"] == variant and r["seed"] == seed}
            assert set(rows) == {"dev", "test"}
            assert rows["test"]["weighted_f1"] == pytest.approx(constant_weighted_f1(test_labels, cls))
            assert rows["dev"]["weighted_f1"] == pytest.approx(constant_weighted_f1(dev_labels, cls))
            assert rows["test"]["model"] == "toy" and rows["test"]["dataset"] == "toy"
            assert rows["test"]["cached"] is False
    assert [f.test_outputs["y_pred"][0] for f in exp.seed_fits("B")] == [1, 2, 0]  # seed order
    assert len(exp.rows) == 2 * 3 * 2 and set(exp.histories()) == {f"toy|{v}|{s}" for v in "AB" for s in (0, 1, 2)}
    assert exp.cache_status == {("toy", v, s): "uncached" for v in "AB" for s in (0, 1, 2)}
    # summed over seeds: each seed puts all 6 test utterances (1 of class 0, 2 of 1, 3 of 2) in its column
    assert exp.confusion("A").tolist() == [[1, 1, 1], [2, 2, 2], [3, 3, 3]]


def test_a_spec_gets_its_own_training_overrides_and_columns():
    data = toy_data(DEV, TEST)
    script = [(True, True)] * 3
    specs = [RunSpec("one", lambda: ScriptedModel(script), ["text"], train={"epochs": 1}, columns={"window": 3}),
             RunSpec("three", lambda: ScriptedModel(script), ["text"], train={"epochs": 3})]
    exp = run_experiment(data, specs, 1, CFG, progress=False, cache=False)
    assert len(exp.fit("one", 0).history) == 1 and len(exp.fit("three", 0).history) == 3
    assert [r.get("window") for r in exp.rows] == [3, 3, None, None]
    assert exp.rows[0]["model"] == "one"  # no model family given: the variant names the model


def test_student_comparison_reads_the_student_output_not_the_fused_one():
    """A and B fuse to the same class (0), their text students predict 0 and 2: on the fused
    output the difference is 0, on the students' output it is wF1(class 0) - wF1(class 2)."""
    exp = _run([_const("A", student=0), _const("B", student=2)], [0])
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


def test_student_rows_score_each_students_head():
    from erc_lib.models.sdt import student_rows

    exp = _run([_const("A", student=2)], [0, 1])
    rows = student_rows(exp, ["c0", "c1", "c2"])
    assert [(r["variant"], r["student"], r["seed"]) for r in rows] == [("A", "text", 0), ("A", "text", 1)]
    assert all(r["weighted_f1"] == pytest.approx(constant_weighted_f1([2, 2, 1, 0, 1, 2], 2)) for r in rows)


def test_paired_difference_over_seeds_and_its_std():
    """Seeds 0, 1, 2 of A predict classes 0, 1, 2; B (shift 2) predicts 2, 0, 1: the same three
    constant predictions, so the difference is 0 and both seed stds are the std of the three
    scores, by hand."""
    exp = _run([_const("A"), _const("B", shift=2)], [0, 1, 2])
    c = paired_difference(exp, "A", exp, "B", n_resamples=20)
    labels = [2, 2, 1, 0, 1, 2]
    scores = [constant_weighted_f1(labels, k) for k in range(3)]
    assert c["difference"] == pytest.approx(0.0, abs=1e-9)
    assert c["a_std"] == pytest.approx(np.std(scores, ddof=1)) and c["b_std"] == pytest.approx(np.std(scores, ddof=1))
    assert c["a_mean"] == pytest.approx(np.mean(scores))
    one = _run([_const("A")], [1])
    c1 = paired_difference(one, "A", exp, "B", n_resamples=20)  # seed 1 of A vs the three seeds of B
    assert c1["a_std"] == 0.0 and c1["a_mean"] == pytest.approx(scores[1])
    with pytest.raises(KeyError, match="no runs"):
        paired_difference(exp, "A", exp, "C")
    other = _run([_const("A")], [0], data=toy_data(DEV, ((2, 2, 1), (0, 1, 0))))
    with pytest.raises(ValueError, match="same test utterances"):
        paired_difference(exp, "A", other, "A")


def test_best_variant_is_chosen_on_dev_when_dev_and_test_disagree():
    """A predicts class 0 (dev majority), B class 2 (test majority): dev picks A, test would pick B."""
    exp = _run([_const("A"), _const("B", shift=2)], [0])
    assert exp.best_variant(["A", "B"]) == "A"
    assert exp.best_variant(["B", "A"]) == "A"
    assert exp.best_variant(["A", "B"], split="test") == "B"
    assert exp.best_variant(["C"]) is None and exp.best_variant(["C", "B"]) == "B"
    table = exp.results_table()
    dev = dict(zip(table["variant"], table["dev weighted_f1"]))
    dev_labels = [0, 0, 1, 0, 2, 1]
    assert dev["A"] == "33.33 ± 0.00" and constant_weighted_f1(dev_labels, 0) == pytest.approx(100 / 3)
    assert dev["B"] == "4.76 ± 0.00" and constant_weighted_f1(dev_labels, 2) == pytest.approx(100 / 21)
    test = dict(zip(table["variant"], table["weighted_f1_mean"]))
    assert test["B"] == pytest.approx(constant_weighted_f1([2, 2, 1, 0, 1, 2], 2), abs=0.01)


def test_merge_keeps_every_run_and_later_runs_replace_earlier():
    a = _run([_const("A")], [0])
    b = _run([_const("A", shift=1), _const("B")], [0])
    m = merge(a, b)
    assert m.fit("A", 0).test_outputs["y_pred"][0] == 1 and set(m.fits) == {("toy", "A", 0), ("toy", "B", 0)}
    assert len(m.rows) == 6 and m.test_truth == a.test_truth


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


def test_bad_specs_and_seeds_are_refused_before_work():
    with pytest.raises(ValueError, match="at least one"):
        _run([], 1)
    with pytest.raises(ValueError, match="seeds"):
        _run([_const("A")], [])
    with pytest.raises(ValueError, match="duplicate variant names.*'A'"):
        _run([_const("A"), _const("A")], 1)
    with pytest.raises(TypeError, match="neither"):
        _run([RunSpec("x", lambda: object(), ["text"])], 1)
    exp = _run([_const("A")], 2)
    assert sorted(s for _, _, s in exp.fits) == [0, 1]
    with pytest.raises(KeyError, match="no unique run"):
        exp.fit("A", 5)
