"""Notebook 03's analysis helpers (erc_lib.studies.sdt): each run's student heads scored alone
(the SDT ablation rows are pinned with the other models' rows in tests/test_ablations.py)."""
from __future__ import annotations

import pytest

from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.studies.sdt import student_rows
from erc_lib.training import TrainConfig

from toy_models import ConstantModel, constant_weighted_f1, toy_data

CFG = TrainConfig(epochs=1, batch_size=64, device="cpu", progress=False, patience=None)
# dev: class 0 is the majority (3 of 6); test: class 2 is (3 of 6), class 0 has 1 of 6
DEV, TEST = ((0, 0, 1, 0), (2, 1)), ((2, 2, 1), (0, 1, 2))


def _run(specs, seeds, data=None, **kw):
    return run_experiment(data or toy_data(DEV, TEST), specs, seeds, CFG, progress=False, cache=False, **kw)


def _const(variant, shift=0, student=None, **kw):
    return RunSpec(variant, lambda: ConstantModel(shift, student), ["text"], model="toy", keep=("logits_text",), **kw)


def test_student_rows_score_each_students_head():
    exp = _run([_const("A", student=2)], [0, 1])
    rows = student_rows(exp, ["c0", "c1", "c2"])
    assert [(r["dataset"], r["variant"], r["student"], r["seed"]) for r in rows] == [("toy", "A", "text", 0),
                                                                                     ("toy", "A", "text", 1)]
    assert all(r["weighted_f1"] == pytest.approx(constant_weighted_f1([2, 2, 1, 0, 1, 2], 2)) for r in rows)
