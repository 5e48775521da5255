"""Notebook 06's analysis helpers (erc_lib.studies.mister_e), on constructed fits whose gate weights
and per-expert predictions are written by hand: each expert's own head scored alone, the long table
of gate weights (Fig. 5a) and the case dialogue whose gate varies most (Fig. 6 / 9). The comparison
rows (MISTER_E_ROWS) are pinned with the other models' rows in tests/test_ablations.py."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.fit_result import FitResult
from erc_lib.studies.mister_e import case_dialogue, expert_head_rows, gate_weights

from toy_models import toy_data


def _fit(best_epoch=1, **outputs) -> FitResult:
    return FitResult(history=[], best_epoch=best_epoch, dev={}, test={},
                     test_outputs={k: np.asarray(v) for k, v in outputs.items()}, seconds=1.0,
                     train_utterances_per_second=1.0)


class _Experiment:
    def __init__(self, fits):
        self.fits = fits


def _one_hot(classes):
    return np.eye(3, dtype=np.float32)[classes]


def test_expert_head_rows_score_each_kept_expert_head_of_the_labelled_rows_only():
    """Test labels 0, 1, 2, 0: the speech head is right everywhere (every score 100), the text head
    predicts the next class everywhere (every score 0), the multimodal head was not kept (no row);
    the run of another row is not read."""
    data = toy_data(test_labels=((0, 1), (2, 0)))
    y = np.array([0, 1, 2, 0])
    fits = {("toy", "mister_e", 0): _fit(4, y_true=y, y_pred=y, logits_speech=_one_hot(y),
                                         logits_text=_one_hot((y + 1) % 3)),
            ("toy", "speech", 0): _fit(2, y_true=y, y_pred=y, logits_speech=_one_hot(y))}
    rows = expert_head_rows(data, fits)
    common = {"dataset": "toy", "model": "MiSTER-E", "seed": 0, "split": "test", "best_epoch": 4}
    assert rows == [
        {**common, "variant": "mister_e / speech head", "weighted_f1": 100.0, "accuracy": 100.0, "macro_f1": 100.0,
         "per_class_f1": {"c0": 100.0, "c1": 100.0, "c2": 100.0}},
        {**common, "variant": "mister_e / text head", "weighted_f1": 0.0, "accuracy": 0.0, "macro_f1": 0.0,
         "per_class_f1": {"c0": 0.0, "c1": 0.0, "c2": 0.0}}]


def test_gate_weights_long_table_of_the_three_expert_gates_of_the_named_variants():
    """Two utterances per run. MiSTER-E seed 0 and feat-MoE seed 1 are read; monolithic (not named)
    and a one-column gate (No-Loss-MoE here in the text-only mode) are not. Long format: every
    utterance's speech weight, then text, then multimodal."""
    fits = {("toy", "MiSTER-E", 0): _fit(gate=[[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]),
            ("toy", "monolithic", 0): _fit(gate=[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
            ("toy", "No-Loss-MoE", 0): _fit(gate=[[1.0], [1.0]]),
            ("toy", "feat-MoE", 1): _fit(gate=[[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])}
    long = gate_weights(_Experiment(fits))
    assert list(long.columns) == ["variant", "seed", "expert", "gate weight"]
    expected = [(v, s, e, w) for e, ws in (("speech", (0.2, 0.6, 0.1, 0.3)), ("text", (0.3, 0.2, 0.1, 0.3)),
                                          ("multimodal", (0.5, 0.2, 0.8, 0.4)))
                for (v, s), w in zip((("MiSTER-E", 0), ("MiSTER-E", 0), ("feat-MoE", 1), ("feat-MoE", 1)), ws)]
    got = list(zip(long["variant"], long["seed"], long["expert"], long["gate weight"]))
    assert [g[:3] for g in got] == [x[:3] for x in expected]
    assert [g[3] for g in got] == pytest.approx([x[3] for x in expected])
    empty = gate_weights(_Experiment({("toy", "monolithic", 0): fits[("toy", "monolithic", 0)]}))
    assert empty.empty and list(empty.columns) == ["variant", "seed", "expert", "gate weight"]


def test_case_dialogue_is_the_test_dialogue_whose_gate_varies_most():
    """Test dialogues of 2 and 3 utterances; the first one's gate is the same on both utterances
    (spread 0), the second's changes: the second is picked, with each expert's prediction, the
    mixture's, the truth (class names) and the weights, one row per utterance."""
    data = toy_data(test_labels=((0, 1), (2, 0, 1)))
    y = np.array([0, 1, 2, 0, 1])
    fit = _fit(y_true=y, y_pred=[0, 1, 2, 0, 2],
               gate=[[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.3, 0.4, 0.3]],
               logits_speech=_one_hot([0, 1, 2, 0, 0]), logits_text=_one_hot([1, 1, 1, 1, 1]),
               logits_multimodal=_one_hot([0, 1, 2, 0, 1]))
    dialogue_id, table = case_dialogue(fit, data)
    assert dialogue_id == "test1"
    assert list(table.columns) == ["utterance", "text", "speech expert", "text expert", "multimodal expert", "MiSTER-E",
                                   "true", "β speech", "β text", "β multimodal"]
    assert table["utterance"].tolist() == [1, 2, 3] and table["text"].tolist() == ["u", "u", "u"]
    assert table["speech expert"].tolist() == ["c2", "c0", "c0"]
    assert table["text expert"].tolist() == ["c1", "c1", "c1"]
    assert table["multimodal expert"].tolist() == ["c2", "c0", "c1"]
    assert table["MiSTER-E"].tolist() == ["c2", "c0", "c2"] and table["true"].tolist() == ["c2", "c0", "c1"]
    assert table["β speech"].tolist() == pytest.approx([0.1, 0.8, 0.3])
    assert table["β text"].tolist() == pytest.approx([0.1, 0.1, 0.4])
    assert table["β multimodal"].tolist() == pytest.approx([0.8, 0.1, 0.3])
    with pytest.raises(KeyError):   # a single network keeps no per-expert logits
        case_dialogue(_fit(y_true=y, y_pred=y, gate=np.ones((5, 1))), data)
