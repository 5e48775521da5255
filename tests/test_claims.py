"""Paired bootstrap intervals (known answers), verdicts, and claims measured from an experiment."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.claims import CLAIMS, evaluate_claims, verdict
from erc_lib.metrics import classification_metrics, paired_bootstrap


def _test_set(seed=0, n_dialogues=31, n_classes=4):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 40, size=n_dialogues)
    y = rng.integers(0, n_classes, lengths.sum())
    return y, lengths


def test_identical_predictions_give_exactly_zero():
    y, lengths = _test_set()
    rng = np.random.default_rng(1)
    preds = np.where(rng.random((5, len(y))) < 0.6, y, rng.integers(0, 4, (5, len(y))))
    r = paired_bootstrap(y, preds, preds, lengths, 4)
    assert (r["difference"], r["ci_low"], r["ci_high"]) == (0.0, 0.0, 0.0) and not r["excludes_zero"]


def test_fixing_errors_gives_a_positive_interval():
    y, lengths = _test_set()
    rng = np.random.default_rng(2)
    worse = np.where(rng.random(len(y)) < 0.5, y, (y + 1) % 4)
    wrong = np.flatnonzero(worse != y)
    better = worse.copy()
    better[wrong[: len(wrong) // 3]] = y[wrong[: len(wrong) // 3]]     # fix a known third of the errors
    r = paired_bootstrap(y, better, worse, lengths, 4, metric="accuracy")
    assert r["difference"] == pytest.approx(100 * (len(wrong) // 3) / len(y))
    assert 0 < r["ci_low"] <= r["difference"] <= r["ci_high"] and r["excludes_zero"]
    flipped = paired_bootstrap(y, worse, better, lengths, 4, metric="accuracy")
    assert flipped["ci_high"] < 0


def test_bootstrap_metric_is_sklearns_weighted_f1_and_is_seeded():
    y, lengths = _test_set(3)
    rng = np.random.default_rng(4)
    a = np.where(rng.random((3, len(y))) < 0.7, y, rng.integers(0, 4, (3, len(y))))
    b = np.where(rng.random((3, len(y))) < 0.5, y, rng.integers(0, 4, (3, len(y))))
    r = paired_bootstrap(y, a, b, lengths, 4)
    names = list("abcd")
    expected = np.mean([classification_metrics(y, p, names)["weighted_f1"] for p in a]) - \
        np.mean([classification_metrics(y, p, names)["weighted_f1"] for p in b])
    assert r["difference"] == pytest.approx(expected)
    assert r == paired_bootstrap(y, a, b, lengths, 4)                    # same seed, same interval
    assert r["ci_low"] != paired_bootstrap(y, a, b, lengths, 4, seed=1)["ci_low"]


def test_bootstrap_rejects_bad_input():
    y, lengths = _test_set()
    with pytest.raises(ValueError, match="sum to"):
        paired_bootstrap(y, y, y, lengths[:-1], 4)
    with pytest.raises(ValueError, match="metric"):
        paired_bootstrap(y, y, y, lengths, 4, metric="auc")


@pytest.mark.parametrize("low, high, sign, size, expected", [
    (0.5, 2.0, 1, None, "holds"), (-2.0, -0.5, 1, None, "contradicted"), (-0.5, 2.0, 1, None, "inconclusive"),
    (-9.0, -7.0, -1, 8.42, "holds"), (-3.0, -1.0, -1, 8.42, "not confirmed"), (1.0, 3.0, -1, 8.42, "contradicted"),
    (-3.0, 0.0, -1, 8.42, "inconclusive")])
def test_verdicts(low, high, sign, size, expected):
    assert verdict(low, high, sign, size)[0] == expected


def test_claims_are_measured_from_an_experiment():
    """A toy experiment where "A" beats "B": the EmoNet-beats-CoMPM claim holds, the reverse claim
    (global IDs hurt) is contradicted, and a claim whose rows were not run is left out."""
    from erc_lib.experiment import Experiment
    from erc_lib.training import FitResult

    y, lengths = _test_set(5, n_classes=3)
    rng = np.random.default_rng(6)
    exp = Experiment(test_truth={"emorynlp": {"labels": y.tolist(), "dialogue_lengths": lengths.tolist()}})
    names = ["a", "b", "c"]
    for variant, accuracy in (("+ normalised weighted CE", 0.8), ("CoMPM", 0.4), ("+ global speaker ID", 0.8),
                              ("BiGRU (context)", 0.5)):
        for seed in range(3):
            pred = np.where(rng.random(len(y)) < accuracy, y, rng.integers(0, 3, len(y)))
            m = classification_metrics(y, pred, names)
            exp.fits[("emorynlp", variant, seed)] = FitResult([], 1, m, m, {"y_true": y, "y_pred": pred}, 1.0, 1.0)
    claims = {c["id"]: c for c in evaluate_claims("05_emonet", exp, "emorynlp", names={"emonet": "+ normalised weighted CE"})}
    assert set(claims) == {"emonet-beats-compm", "emonet-global-id"}  # the other rows were not run
    assert claims["emonet-beats-compm"]["verdict"] == "holds"
    assert claims["emonet-global-id"]["verdict"] == "contradicted"      # the paper says it hurts; here it helps
    assert claims["emonet-beats-compm"]["baseline"]["variant"] == "BiGRU (context)"
    assert claims["emonet-beats-compm"]["ours"]["n_seeds"] == 3


def test_every_claim_names_rows_its_notebook_trains():
    from erc_lib.models.compm import EMONET_ABLATION
    from erc_lib.models.mister_e import MISTER_E_ROWS

    rows = {"05_emonet": set(EMONET_ABLATION) | {"{emonet}"}, "06_mister_e": set(MISTER_E_ROWS),
            "04_sdt_bios": {"SDT", "SDT + bios"},
            "03_sdt": {"{full}", "{full} w/o self-distillation", "{best_unimodal}"}}
    for c in CLAIMS:
        assert {c.a, c.b} <= rows[c.notebook], c.id
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)
