"""Notebook 03's analysis helpers (erc_lib.studies.sdt): each run's student heads scored alone
(the SDT ablation rows are pinned with the other models' rows in tests/test_ablations.py)."""
from __future__ import annotations

import pytest

from erc_lib.studies.sdt import student_rows

from toy_models import constant_spec, constant_weighted_f1, run_constant


def test_student_rows_score_each_students_head():
    exp = run_constant([constant_spec("A", student=2)], [0, 1])
    rows = student_rows(exp, ["c0", "c1", "c2"])
    assert [(r["dataset"], r["variant"], r["student"], r["seed"]) for r in rows] == [("toy", "A", "text", 0),
                                                                                     ("toy", "A", "text", 1)]
    assert all(r["weighted_f1"] == pytest.approx(constant_weighted_f1([2, 2, 1, 0, 1, 2], 2)) for r in rows)
