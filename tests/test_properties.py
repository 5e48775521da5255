"""Property-based tests (Hypothesis) of invariants that hold for EVERY input:

* masked losses, and the predictions / metrics read off a padded batch, do not change when
  padding is added (padding never contributes, whatever values it holds);
* the paired bootstrap of identical predictions is exactly 0, it is antisymmetric in A and B,
  and its point difference is scikit-learn's metric difference;
* a speaker history holds only earlier utterances of the same speaker that the split may see
  (never the current or a later utterance), and exactly the last ``window`` of them;
* verdicts (:func:`erc_lib.claims.verdict`, the six-verdict rule with a published size and a
  detectable effect) are monotone in the interval and follow from where it lies.

Each test runs a bounded number of small examples (``settings(max_examples=..., deadline=None)``)
so that all of them together take well under a minute on a 2-core CPU.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erc_lib.data import Dialogue, ERCData, collate_dialogues
from erc_lib.losses import (focal_loss, masked_cross_entropy, masked_kl_distillation, supervised_contrastive_loss,
                            weighted_cross_entropy)
from erc_lib.metrics import classification_metrics, paired_bootstrap

# ERC_HYPOTHESIS_EXAMPLES lowers the count for mutation runs (docs/mutation.md), where every
# surviving mutant re-runs these tests.
FAST = settings(max_examples=int(os.environ.get("ERC_HYPOTHESIS_EXAMPLES", "30")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


# ============================================================================ padding
@st.composite
def padded_case(draw):
    """A batch of dialogues ``(B, L)`` with real lengths >= 1, and a padded copy: every row gets
    ``P >= 1`` extra padded slots and ``R >= 0`` all-padding rows are appended; the padding holds
    arbitrary logits / views and arbitrary valid labels."""
    B, L, C = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(2, 5))
    P, R, V, D = draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 3))
    lengths = draw(st.lists(st.integers(1, L), min_size=B, max_size=B))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Lp, Bp = L + P, B + R
    big = {"logits": rng.normal(scale=3.0, size=(Bp, Lp, C)), "teacher": rng.normal(scale=3.0, size=(Bp, Lp, C)),
           "views": rng.normal(size=(Bp, Lp, V, D)), "labels": rng.integers(0, C, (Bp, Lp))}
    mask = np.zeros((Bp, Lp), dtype=bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    # the unpadded case: the first B rows, first L slots (the same real values)
    small = {k: torch.as_tensor(v[:B, :L].copy()) for k, v in big.items()}
    small["mask"] = torch.as_tensor(mask[:B, :L].copy())
    small["labels"] = small["labels"].masked_fill(~small["mask"], -100)
    padded = {k: torch.as_tensor(v) for k, v in big.items()}
    padded["mask"] = torch.as_tensor(mask)
    weights = torch.as_tensor(rng.uniform(0.1, 3.0, C))
    return small, padded, C, weights, draw(st.sampled_from([0.5, 1.0, 2.0, 8.0])), draw(st.sampled_from([0.0, 1.0, 3.0]))


def _all_losses(case, C, weights, temperature, gamma):
    out = {
        "ce": masked_cross_entropy(case["logits"], case["labels"], case["mask"]),
        "ce_weighted": masked_cross_entropy(case["logits"], case["labels"], case["mask"], weights),
        "wce": weighted_cross_entropy(case["logits"], case["labels"], case["mask"], weights),
        "wce_plain": weighted_cross_entropy(case["logits"], case["labels"], case["mask"]),
        "kl": masked_kl_distillation(case["logits"], case["teacher"], case["mask"], temperature),
        "kl_t2": masked_kl_distillation(case["logits"], case["teacher"], case["mask"], temperature, scale_by_t2=True),
        "focal": focal_loss(case["logits"], case["labels"], case["mask"], gamma),
        "supcon_dialogue": supervised_contrastive_loss(case["views"], case["labels"], case["mask"], temperature),
        "supcon_batch": supervised_contrastive_loss(case["views"], case["labels"], case["mask"], temperature,
                                                    per_dialogue=False),
    }
    return {k: float(v) for k, v in out.items()}


@FAST
@given(padded_case())
def test_masked_losses_ignore_any_amount_of_padding(case):
    """Every masked loss is a mean over real utterances (and, for the contrastive loss, over
    anchors, positives and contrast vectors among real utterances), so extra padded slots and
    all-padding dialogues, whatever logits, views and labels they hold, leave it unchanged."""
    small, padded, C, weights, temperature, gamma = case
    expected = _all_losses(small, C, weights, temperature, gamma)
    got = _all_losses(padded, C, weights, temperature, gamma)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-9), name


class _PerUtteranceModel(torch.nn.Module):
    """Logits of an utterance from its own features only (a linear map), masked CE as loss."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(dim, n_classes).double()

    def forward(self, batch):
        return {"logits": self.linear(batch.features["text"].double())}

    def loss(self, out, batch):
        return {"total": masked_cross_entropy(out["logits"], batch.labels, batch.mask)}


def _with_extra_padding(batch, extra: int, rng):
    """The batch with ``extra`` more padded slots per row holding arbitrary features."""
    B, L = batch.mask.shape
    pad = lambda x, fill: torch.cat([x, fill], dim=1)
    features = {m: pad(x, torch.as_tensor(rng.normal(size=(B, extra, x.shape[-1])), dtype=x.dtype))
                for m, x in batch.features.items()}
    batch.features = features
    batch.labels = pad(batch.labels, torch.full((B, extra), -100))
    batch.mask = pad(batch.mask, torch.zeros(B, extra, dtype=torch.bool))
    batch.speakers = pad(batch.speakers, torch.zeros(B, extra, dtype=batch.speakers.dtype))
    batch.global_speakers = pad(batch.global_speakers, torch.full((B, extra), -1, dtype=batch.global_speakers.dtype))
    return batch


@FAST
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4), extra=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_predictions_and_metrics_ignore_padding(lengths, extra, seed):
    """:func:`erc_lib.training.predict` reads only real utterances: scoring the dialogues one by
    one (no padding) or together in one batch padded further by ``extra`` slots gives the same
    labels, predictions and therefore the same metrics."""
    from erc_lib.data import DialogueDataset
    from erc_lib.training import predict

    rng = np.random.default_rng(seed)
    C, dim = 3, 4
    dialogues = [Dialogue(f"d{i}", ["A"] * n, ["u"] * n, rng.integers(0, C, n),
                          {"text": rng.normal(size=(n, dim))}) for i, n in enumerate(lengths)]
    ds = DialogueDataset(dialogues, ["text"], {"A": 0})
    model = _PerUtteranceModel(dim, C).eval()
    alone = predict(model, [collate_dialogues([ds[i]]) for i in range(len(ds))], torch.device("cpu"))
    together = predict(model, [_with_extra_padding(collate_dialogues([ds[i] for i in range(len(ds))]), extra, rng)],
                       torch.device("cpu"))
    truth = np.concatenate([d.labels for d in dialogues])
    assert np.array_equal(alone["y_true"], truth) and np.array_equal(together["y_true"], truth)
    assert np.array_equal(alone["y_pred"], together["y_pred"])
    np.testing.assert_allclose(alone["logits"], together["logits"], rtol=1e-12)
    names = ["a", "b", "c"]
    assert classification_metrics(truth, alone["y_pred"], names) == classification_metrics(truth, together["y_pred"], names)


# ============================================================================ bootstrap
@st.composite
def bootstrap_case(draw):
    n_classes = draw(st.integers(2, 5))
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=8))
    n = sum(lengths)
    labels = st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)
    y = np.array(draw(labels))
    n_seeds = draw(st.integers(1, 3))
    a = np.array([draw(labels) for _ in range(n_seeds)])
    b = np.array([draw(labels) for _ in range(n_seeds)])
    return y, a, b, np.array(lengths), n_classes, draw(st.sampled_from(["weighted_f1", "accuracy"])), \
        draw(st.integers(0, 2**16))


def _metric_by_hand(y: np.ndarray, p: np.ndarray, n_classes: int, metric: str) -> float:
    """Accuracy, or weighted F1 = sum_c (support_c / n) * 2 TP_c / (2 TP_c + FP_c + FN_c) with
    F1 0 for a class never true nor predicted (scikit-learn's zero_division=0), in percent."""
    if metric == "accuracy":
        return 100.0 * float(np.mean(y == p))
    total = 0.0
    for c in range(n_classes):
        tp, fp, fn = np.sum((p == c) & (y == c)), np.sum((p == c) & (y != c)), np.sum((p != c) & (y == c))
        f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
        total += f1 * np.sum(y == c) / len(y)
    return 100.0 * total


@FAST
@given(bootstrap_case())
def test_bootstrap_of_identical_predictions_is_exactly_zero(case):
    """A and B identical (same seeds, same predictions): every resample draws the same dialogues
    and the same seeds for both, so every difference, the interval and the point estimate are
    exactly 0, and the interval does not exclude zero."""
    y, a, _, lengths, n_classes, metric, seed = case
    r = paired_bootstrap(y, a, a.copy(), lengths, n_classes, metric=metric, n_resamples=200, seed=seed)
    assert (r["difference"], r["ci_low"], r["ci_high"], r["excludes_zero"]) == (0.0, 0.0, 0.0, False)


@FAST
@given(bootstrap_case())
def test_bootstrap_is_antisymmetric_and_its_difference_is_the_metric_difference(case):
    """Swapping A and B (same seed, hence the same resamples) negates every difference: the
    point estimate changes sign and the interval is mirrored. The point estimate is the mean
    over seeds of the metric (accuracy, or weighted F1 as scikit-learn defines it) for A minus
    that for B, and the interval lies in [-100, 100] with low <= high."""
    y, a, b, lengths, n_classes, metric, seed = case
    ab = paired_bootstrap(y, a, b, lengths, n_classes, metric=metric, n_resamples=200, seed=seed)
    ba = paired_bootstrap(y, b, a, lengths, n_classes, metric=metric, n_resamples=200, seed=seed)
    assert ab["difference"] == pytest.approx(-ba["difference"], abs=1e-9)
    assert ab["ci_low"] == pytest.approx(-ba["ci_high"], abs=1e-9)
    assert ab["ci_high"] == pytest.approx(-ba["ci_low"], abs=1e-9)
    assert -100 <= ab["ci_low"] <= ab["ci_high"] <= 100
    score = lambda preds: np.mean([_metric_by_hand(y, p, n_classes, metric) for p in preds])
    assert ab["a_mean"] == pytest.approx(score(a), abs=1e-9) and ab["b_mean"] == pytest.approx(score(b), abs=1e-9)
    assert ab["difference"] == pytest.approx(score(a) - score(b), abs=1e-9)
    assert ab["excludes_zero"] == (ab["ci_low"] > 0 or ab["ci_high"] < 0)


# ============================================================================ speaker histories
@st.composite
def speaker_dataset(draw):
    """A small dataset: 1-3 train and 0-3 dev/test dialogues of 1-5 utterances, speakers drawn
    from four names (so a name recurs within and across dialogues and splits)."""
    splits = {}
    for split, lo in (("train", 1), ("dev", 0), ("test", 0)):
        dialogues = []
        for i in range(draw(st.integers(lo, 3))):
            speakers = draw(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=5))
            dialogues.append(Dialogue(f"{split}_{i}", list(speakers), ["u"] * len(speakers),
                                      np.zeros(len(speakers), dtype=np.int64)))
        splits[split] = dialogues
    return ERCData("toy", ["x"], splits)


def _reference_history(data, scope, window):
    """Brute force from the definition: for utterance u of split s, the visible utterances are
    the earlier ones of u's dialogue (scope "dialogue"), or the training utterances plus the
    earlier ones of s (scope "dataset": dev and test each continue from the end of train);
    the history is the last ``window`` visible utterances of u's speaker, oldest first."""
    flat, n = [], 0
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for j, s in enumerate(d.speakers):
                flat.append((split, d.dialogue_id, j, s, n))
                n += 1
    out = {}
    for k, (split, dia, j, speaker, idx) in enumerate(flat):
        if scope == "dialogue":
            visible = [u for u in flat[:k] if u[1] == dia]
        else:
            visible = [u for u in flat[:k] if u[0] in ("train", split)]
        same = [u[4] for u in visible if u[3] == speaker]
        out.setdefault(dia, []).append(same if window is None else same[-window:] if same else [])
    return out


@FAST
@given(data=speaker_dataset(), scope=st.sampled_from(["dialogue", "dataset"]),
       window=st.one_of(st.none(), st.integers(1, 4)))
def test_speaker_history_is_the_last_window_earlier_turns_of_the_speaker(data, scope, window):
    """Every history holds only flat indices of EARLIER utterances (never the current or a later
    one) by the SAME speaker, at most ``window`` of them, oldest first; dev never reads test and
    test never reads dev; and it is exactly the brute-force history from the definition."""
    from erc_lib.data.speakers import speaker_history, utterance_offsets

    history = speaker_history(data, scope=scope, window=window)
    offsets = utterance_offsets(data)
    speaker_of, split_of = {}, {}
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for j, s in enumerate(d.speakers):
                speaker_of[offsets[d.dialogue_id] + j], split_of[offsets[d.dialogue_id] + j] = s, split
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            assert len(history[d.dialogue_id]) == len(d)
            for j, rows in enumerate(history[d.dialogue_id]):
                current = offsets[d.dialogue_id] + j
                assert all(i < current for i in rows) and rows == sorted(rows)
                assert all(speaker_of[i] == d.speakers[j] for i in rows)
                assert window is None or len(rows) <= window
                assert all(split_of[i] in ("train", split) for i in rows)
                if scope == "dialogue":
                    assert all(offsets[d.dialogue_id] <= i for i in rows)
    assert history == _reference_history(data, scope, window)


# ============================================================================ verdicts
# The verdict rule (erc_lib.claims.verdict, module docstring): how strongly a 95% interval of
# A - B supports the claim. Ranked by support, a verdict never gets weaker when the interval
# moves in the claimed direction.
VERDICT_RANK = {"contradicted": 0, "published effect ruled out": 1, "no effect found": 1, "underpowered": 2,
                "smaller than published": 2, "holds": 3}
points = st.floats(-30, 30, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3))


@st.composite
def verdict_case(draw):
    low = draw(points)
    width = draw(st.floats(0, 20, allow_nan=False).map(lambda x: round(x, 3)))
    sign = draw(st.sampled_from([1, -1]))
    published = draw(st.one_of(st.none(), st.floats(0.1, 15).map(lambda x: sign * round(x, 3))))
    detectable = draw(st.one_of(st.none(), st.floats(0, 10, allow_nan=False)))
    return low, low + width, sign, published, detectable, draw(st.integers(1, 300))


@FAST
@given(case=verdict_case(), shift=st.floats(0, 30, allow_nan=False).map(lambda x: round(x, 3)))
def test_verdict_is_monotone_in_the_interval(case, shift):
    """Moving the interval (same width) towards the claimed side never weakens the verdict:
    contradicted < ruled out / no effect found < underpowered / smaller than published < holds."""
    from erc_lib.claims import VERDICTS, verdict

    low, high, sign, published, detectable, n = case
    before, _ = verdict(low, high, sign, published, detectable, n)
    after, _ = verdict(low + sign * shift, high + sign * shift, sign, published, detectable, n)
    assert {before, after} <= set(VERDICTS) == set(VERDICT_RANK)
    assert VERDICT_RANK[after] >= VERDICT_RANK[before], (before, after)


@FAST
@given(case=verdict_case())
def test_verdict_follows_where_the_interval_lies(case):
    """From the definitions: an interval beyond zero on the other side is "contradicted"; one
    containing zero gets a verdict that claims no effect ("published effect ruled out",
    "underpowered" or "no effect found"); one beyond zero on the claimed side "holds" or, when
    it lies below a published size, is "smaller than published". Mirroring the interval, the
    sign and the published size (B - A instead of A - B) gives the same verdict."""
    from erc_lib.claims import verdict

    low, high, sign, published, detectable, n = case
    word, reason = verdict(low, high, sign, published, detectable, n)
    assert isinstance(reason, str) and reason
    claimed_side = low > 0 if sign > 0 else high < 0
    other_side = high < 0 if sign > 0 else low > 0
    if other_side:
        assert word == "contradicted"
    elif not claimed_side:
        assert word in ("published effect ruled out", "underpowered", "no effect found")
        if published is not None:
            assert word == ("underpowered" if low <= published <= high else "published effect ruled out")
    else:
        below = published is not None and (high < published if sign > 0 else low > published)
        assert word == ("smaller than published" if below else "holds")
    mirrored = None if published is None else -published
    assert verdict(-high, -low, -sign, mirrored, detectable, n)[0] == word


def test_verdict_without_a_published_size_needs_a_test_that_detects_two_points():
    """No size published here and the interval includes zero: "no effect found" only when the
    test could detect MEANINGFUL_POINTS; otherwise (or unknown power) "underpowered"."""
    from erc_lib.claims import MEANINGFUL_POINTS, verdict

    assert verdict(-1.0, 1.0, 1, None, MEANINGFUL_POINTS, 30)[0] == "no effect found"
    assert verdict(-1.0, 1.0, 1, None, MEANINGFUL_POINTS + 0.01, 30)[0] == "underpowered"
    assert verdict(-1.0, 1.0, 1, None, None, 30)[0] == "underpowered"
    with pytest.raises(ValueError):
        verdict(1.0, -1.0, 1)
    with pytest.raises(ValueError):
        verdict(-1.0, 1.0, 0)
