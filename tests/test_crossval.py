"""Claims judged on every dialogue (erc_lib.crossval): the cross-validated verdict beside the
standard split's, the fits a claim rests on, the seed share of its variance, the tuning leak, and
the per-fold runner. Constructed experiments whose answers follow by hand."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erc_lib.claims import Z_ALPHA
from erc_lib.crossval import evaluate_claims_cv, power_table, run_folds, tuning_leak
from erc_lib.experiment import Experiment, RunSpec
from erc_lib.metrics import classification_metrics, seed_variance_share
from erc_lib.training import FitResult, TrainConfig
from conftest import toy

EMONET, COMPM = "+ normalised weighted CE", "CoMPM"
# ERC_HYPOTHESIS_EXAMPLES lowers the count for mutation runs (docs/mutation.md).
FAST = settings(max_examples=int(os.environ.get("ERC_HYPOTHESIS_EXAMPLES", "30")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _fit(y, pred):
    m = classification_metrics(y, pred, [str(c) for c in range(7)])
    return FitResult([], 1, m, m, {"y_true": np.asarray(y), "y_pred": np.asarray(pred)}, 1.0, 1.0)


def emorynlp_experiment(right_a: float, right_b: float, dialogues_per_fold: int = 30, seeds: int = 5) -> Experiment:
    """Five folds of EmoryNLP-like runs: ``dialogues_per_fold`` dialogues of 4 utterances, A right on a
    share ``right_a`` of utterances, B on ``right_b`` (seeded noise elsewhere)."""
    rng = np.random.default_rng(0)
    exp = Experiment()
    for k in range(5):
        key = f"emorynlp@fold{k}"
        y = rng.integers(0, 7, 4 * dialogues_per_fold)
        exp.test_truth[key] = {"labels": y.tolist(), "dialogue_lengths": [4] * dialogues_per_fold}
        for seed in range(seeds):
            for variant, right in ((EMONET, right_a), (COMPM, right_b)):
                pred = np.where(rng.random(len(y)) < right, y, (y + 1 + rng.integers(0, 6, len(y))) % 7)
                exp.fits[(key, variant, seed)] = _fit(y, pred)
    return exp


@pytest.mark.slow
def test_a_clear_effect_holds_under_cross_validation_and_the_row_says_what_it_rests_on():
    """A right on 70% of utterances, B on 40%: about +30 points on every fold, so both the pooled
    interval (150 dialogues) and fold 0's (30) exclude zero and contain no published size (EmoNet's
    +1.33 is far below): 'holds' both ways, beyond the published size."""
    rows = evaluate_claims_cv("05_emonet", emorynlp_experiment(0.7, 0.4), "emorynlp", names={"emonet": EMONET}, n_resamples=1000)
    (row,) = [r for r in rows if r["id"] == "emonet-beats-compm"]
    assert row["verdict"] == row["standard"]["verdict"] == "holds" and not row["verdicts_differ"]
    assert row["comparison"]["n_dialogues"] == 150 and row["standard"]["comparison"]["n_dialogues"] == 30
    assert row["fits"] == 5 * (5 + 5) and row["folds"] == [0, 1, 2, 3, 4]
    assert 20 < row["comparison"]["difference"] < 40 and row["published_size"] == 1.33
    assert row["detectable_effect"] < row["standard"]["detectable_effect"]         # five times the dialogues
    assert len(row["comparison"]["intervals_by_seed"]) == 20
    assert not row["tuning_leak"]["excludes_zero"]                                  # the same effect on every fold
    table = power_table(rows)
    assert list(table.loc[table.claim == "EmoNet beats CoMPM", "test dialogues (standard / CV)"]) == ["30 / 150"]


@pytest.mark.slow
def test_no_difference_under_cross_validation_is_no_longer_underpowered():
    """A and B drawn alike (55% right): on fold 0 alone (30 dialogues) the test cannot tell zero from
    the published +1.33 ('underpowered' or 'ruled out' depends on the draw); pooled over 150 dialogues
    with 5 seeds each the interval is about 2.2 times narrower."""
    rows = evaluate_claims_cv("05_emonet", emorynlp_experiment(0.55, 0.55), "emorynlp", names={"emonet": EMONET}, n_resamples=1000)
    (row,) = [r for r in rows if r["id"] == "emonet-beats-compm"]
    width = lambda c: c["ci_high"] - c["ci_low"]
    assert width(row["comparison"]) < width(row["standard"]["comparison"]) / 1.8
    assert row["comparison"]["ci_low"] <= 0 <= row["comparison"]["ci_high"]


@pytest.mark.slow
def test_a_claim_is_left_out_unless_both_rows_ran_on_every_fold():
    exp = emorynlp_experiment(0.6, 0.5)
    exp.fits = {k: f for k, f in exp.fits.items() if not (k[0] == "emorynlp@fold3" and k[1] == COMPM)}
    assert [r["id"] for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", names={"emonet": EMONET}, n_resamples=1000)] == []
    assert [r["id"] for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[0, 1, 2, 4],
                                                names={"emonet": EMONET}, n_resamples=1000)] == ["emonet-beats-compm"]


def test_tuning_leak_is_the_fold_0_difference_minus_the_others_with_a_normal_interval():
    """By hand: 3.0 - 1.0 = 2.0 points, half-width 1.96 x sqrt(0.6^2 + 0.8^2) = 1.96 x 1.0."""
    leak = tuning_leak({"difference": 3.0, "standard_error": 0.6}, {"difference": 1.0, "standard_error": 0.8})
    assert leak["difference"] == 2.0 and leak["excludes_zero"] is True
    assert leak["ci_low"] == pytest.approx(2.0 - 1.959964) and leak["ci_high"] == pytest.approx(2.0 + 1.959964)


def test_seed_share_is_zero_without_seed_noise_and_one_without_dialogue_noise():
    """Identical seeds: resampling seeds changes nothing, the seed share is 0. One test dialogue:
    resampling dialogues always draws it, so all variance is the seeds'."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    a1, b1 = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    same = seed_variance_share(y, np.stack([a1] * 4), np.stack([b1] * 4), [4] * 10, 3)
    assert same["seed_variance"] < 1e-20 and same["seed_share"] < 1e-20 and same["dialogue_variance"] > 0.1
    one = seed_variance_share(y, rng.integers(0, 3, (4, 40)), rng.integers(0, 3, (4, 40)), [40], 3)
    assert one["dialogue_variance"] < 1e-20 and one["seed_share"] >= 1 - 1e-12 and one["seed_variance"] > 0.1


def test_run_folds_trains_every_fold_on_its_own_standardised_training_dialogues():
    from erc_lib.models.baselines import build_logistic_regression

    data = toy()
    seen = {}

    def specs_for(fold):
        train = np.concatenate([d.features["audio"] for d in fold.splits["train"]])
        seen[fold.fold] = (round(float(train.mean()), 6), round(float(train.std()), 6))
        return [RunSpec("logreg", lambda: build_logistic_regression(fold, ["audio"]), inputs=("audio",))]

    exp = run_folds(data, specs_for, 1, TrainConfig(device="cpu", epochs=1), folds=[0, 3], progress=False)
    assert sorted(k[0] for k in exp.fits) == ["emorynlp@fold0", "emorynlp@fold3"]
    assert seen == {0: (0.0, 1.0), 3: (0.0, 1.0)}                   # each fold z-scored on its own train
    assert float(data.splits["test"][4].features["audio"][0, 0]) == 19.0   # the dataset itself untouched
    with pytest.raises(ValueError, match="folds 0 .. 4"):
        run_folds(data, specs_for, 1, TrainConfig(device="cpu"), folds=[0, 7], progress=False)


def test_a_stored_cross_validated_row_is_judged_again_by_todays_rule():
    """EmoNet vs CoMPM on EmoryNLP: pooled over 897 scenes +0.30 [-0.70, +1.10] (SE 0.45: detects 1.26
    points) excludes the published +1.33: "published effect ruled out"; fold 0 alone, +0.29 [-2.02,
    +2.51], includes it: "underpowered". The row says the two verdicts differ."""
    from erc_lib.claims import rejudge_cv

    comp = lambda d, lo, hi, se, n: {"difference": d, "ci_low": lo, "ci_high": hi, "standard_error": se,  # noqa: E731
                                     "n_dialogues": n, "n_seeds_a": 5, "n_seeds_b": 5}
    stored = {"id": "emonet-beats-compm", "dataset": "emorynlp", "comparison": comp(0.30, -0.70, 1.10, 0.45, 897),
              "standard": {"comparison": comp(0.29, -2.02, 2.51, 1.15, 85)}}
    judged = rejudge_cv(stored)
    assert judged["verdict"] == "published effect ruled out" and judged["detectable_effect"] == 1.26
    assert judged["standard"]["verdict"] == "underpowered" and judged["verdicts_differ"] is True
    assert rejudge_cv({**stored, "id": "no-such-claim"}) is None


def test_the_front_page_reading_counts_decided_claims_and_names_moves_and_leaks():
    row = lambda text, cv, std, leak: {"text": text, "dataset": "iemocap", "verdict": cv,  # noqa: E731
                                       "standard": {"verdict": std}, "verdicts_differ": cv != std,
                                       "tuning_leak": {"difference": 2.5, "excludes_zero": leak}}
    from erc_lib.crossval import cv_reading

    text = cv_reading([row("SD helps", "published effect ruled out", "underpowered", False),
                       row("bios help", "underpowered", "underpowered", True),
                       row("EmoNet wins", "holds", "holds", False)])
    assert text.startswith("Cross-validated on every dialogue, the study decides 2 of 3 claim measurements "
                           "(on the standard split alone: 1).")
    assert "The verdict moves for SD helps on iemocap (underpowered -> published effect ruled out)." in text
    assert "beyond chance for bios help on iemocap (+2.50)" in text
    assert "No claim has been cross-validated yet" in cv_reading([])
    assert "more seeds" not in text
    grown = {**row("gate helps", "holds", "underpowered", False),
             "seed_rounds": [{"seeds": 5, "detectable_effect": 4.0}, {"seeds": 10, "detectable_effect": 2.9}]}
    assert ("the claim's rows got more seeds: gate helps on iemocap (5 -> 10 seeds per fold, detectable effect "
            "4.00 -> 2.90).") in cv_reading([grown])


# ----------------------------------------------------------------------------- more seeds where the seeds are the noise

def _judged(seeds_a: int, share: float, detectable: float, seeds_b: int | None = None) -> dict:
    return {"id": "c", "comparison": {"n_seeds_a": seeds_a, "n_seeds_b": seeds_a if seeds_b is None else seeds_b},
            "seed_share": share, "detectable_effect": detectable}


@pytest.mark.parametrize("claim, history, expected", [
    # smoke runs: 1 seed, no verdict to sharpen, whatever the share
    (_judged(1, 0.9, 9.0), [{"seeds": 1, "detectable_effect": 9.0}], "fewer than 5 seeds"),
    (_judged(5, 0.9, 9.0, seeds_b=4), [{"seeds": 4, "detectable_effect": 9.0}], "fewer than 5 seeds"),
    # the dialogues are the noise: seeds would not help (exactly half counts as not over half)
    (_judged(5, 0.40, 3.0), [{"seeds": 5, "detectable_effect": 3.0}], "seed share 40% is at most half"),
    (_judged(5, 0.50, 3.0), [{"seeds": 5, "detectable_effect": 3.0}], "seed share 50% is at most half"),
    (_judged(5, 0.454, 3.0), [{"seeds": 5, "detectable_effect": 3.0}], "seed share 45% is at most half"),
    # over half, but already within 2 points (2.00 is within)
    (_judged(5, 0.70, 2.00), [{"seeds": 5, "detectable_effect": 2.00}], "detectable effect 2.00 is within 2 points"),
    # over half, 3 points: five more seeds
    (_judged(5, 0.70, 3.0), [{"seeds": 5, "detectable_effect": 3.0}], None),
    # later rounds: a 5% fall is enough to go on (3.0 -> 2.85), a smaller one stops (3.0 -> 2.86)
    (_judged(10, 0.30, 2.85), [{"seeds": 5, "detectable_effect": 3.0}, {"seeds": 10, "detectable_effect": 2.85}], None),
    (_judged(10, 0.30, 2.86), [{"seeds": 5, "detectable_effect": 3.0}, {"seeds": 10, "detectable_effect": 2.86}],
     "detectable effect stopped falling (3.00 -> 2.86 with 10 seeds)"),
    # the fall is the last round's: 4.0 -> 3.0 (25%), then 3.0 -> 2.95 (under 2%) stops, naming the last round
    (_judged(15, 0.30, 2.95), [{"seeds": 5, "detectable_effect": 4.0}, {"seeds": 10, "detectable_effect": 3.0},
                               {"seeds": 15, "detectable_effect": 2.95}],
     "detectable effect stopped falling (3.00 -> 2.95 with 15 seeds)"),
    # falling fast, but at the cap
    (_judged(20, 0.8, 2.5), [{"seeds": 15, "detectable_effect": 3.0}, {"seeds": 20, "detectable_effect": 2.5}],
     "at the cap of 20 seeds"),
])
def test_why_no_more_seeds_follows_the_rule_in_its_order(claim, history, expected):
    from erc_lib.crossval import why_no_more_seeds

    why = why_no_more_seeds(claim, history)
    assert why is None if expected is None else why.startswith(expected), why


def test_add_seeds_grows_only_the_noisy_claims_rows_round_by_round_until_the_cap(monkeypatch):
    """Two claims on five folds, 5 seeds each. Claim X (seed share 80%) has a detectable effect of
    10 / sqrt(seeds) points: 4.47 -> 3.16 -> 2.58 -> 2.24, falling over 5% each round, so its two rows
    get seeds 5-9, 10-14, 15-19 and it stops at the cap of 20. Claim Y (share 30%) gets none."""
    from erc_lib import crossval

    exp = Experiment()
    for k in range(5):
        for variant in ("x-a", "x-b", "y-a", "y-b"):
            for seed in range(5):
                exp.fits[(f"emorynlp@fold{k}", variant, seed)] = None
    trained = []

    def fake_run_folds(data, specs_for, seeds, config, folds=None, progress=True):
        variants = [s.variant for s in specs_for(data)]
        trained.append((tuple(variants), list(seeds), list(folds)))
        more = Experiment()
        for k in folds:
            for v in variants:
                for seed in seeds:
                    more.fits[(f"emorynlp@fold{k}", v, seed)] = None
        return more

    def fake_evaluate(notebook, experiment, dataset, folds=None, names=None, n_resamples=None):
        out = []
        for cid, (a, b), share in (("x", ("x-a", "x-b"), 0.8), ("y", ("y-a", "y-b"), 0.3)):
            n = [len({s for (d, v, s) in experiment.fits if v == row}) for row in (a, b)]
            out.append({"id": cid, "a": a, "b": b, "comparison": {"n_seeds_a": n[0], "n_seeds_b": n[1]},
                        "seed_share": share, "detectable_effect": 10 / min(n) ** 0.5 if cid == "x" else 5.0})
        return out

    monkeypatch.setattr(crossval, "run_folds", fake_run_folds)
    monkeypatch.setattr(crossval, "evaluate_claims_cv", fake_evaluate)
    specs = lambda part: [RunSpec(v, build=lambda: None) for v in ("x-a", "x-b", "y-a", "y-b")]  # noqa: E731
    grown, claims = crossval.add_seeds(None, specs, exp, fake_evaluate("05_emonet", exp, "emorynlp"), TrainConfig(),
                                       "05_emonet", "emorynlp")
    assert trained == [(("x-a",), [5, 6, 7, 8, 9], [0, 1, 2, 3, 4]), (("x-b",), [5, 6, 7, 8, 9], [0, 1, 2, 3, 4]),
                       (("x-a",), [10, 11, 12, 13, 14], [0, 1, 2, 3, 4]), (("x-b",), [10, 11, 12, 13, 14], [0, 1, 2, 3, 4]),
                       (("x-a",), [15, 16, 17, 18, 19], [0, 1, 2, 3, 4]), (("x-b",), [15, 16, 17, 18, 19], [0, 1, 2, 3, 4])]
    x, y = claims
    assert [r["seeds"] for r in x["seed_rounds"]] == [5, 10, 15, 20]
    assert [round(r["detectable_effect"], 2) for r in x["seed_rounds"]] == [4.47, 3.16, 2.58, 2.24]
    assert x["seeds_stopped"] == "at the cap of 20 seeds"
    assert y["seed_rounds"] == [{"seeds": 5, "detectable_effect": 5.0}] and y["seeds_stopped"].startswith("seed share 30%")
    assert len(grown.fits) == 5 * (2 * 20 + 2 * 5)
    with pytest.raises(ValueError, match="step and max_seeds"):
        crossval.add_seeds(None, specs, exp, [], TrainConfig(), "05_emonet", "emorynlp", step=0)


# ----------------------------------------------------------------------------- the cross-validated verdict, fast and by hand

def _certain_experiment(folds=(0, 1), dialogues=4, seeds=5, rows=(EMONET, COMPM)) -> Experiment:
    """EmoryNLP-like folds of ``dialogues`` one-utterance dialogues (labels 0..3 in turn): the first row of
    ``rows`` right on every utterance, the other wrong on every one (label + 1), the same for every seed."""
    exp = Experiment()
    for k in folds:
        key = f"emorynlp@fold{k}"
        y = np.arange(dialogues) % 4
        exp.test_truth[key] = {"labels": y.tolist(), "dialogue_lengths": [1] * dialogues}
        for seed in range(seeds):
            exp.fits[(key, rows[0], seed)] = _fit(y, y)
            exp.fits[(key, rows[1], seed)] = _fit(y, (y + 1) % 7)
    return exp


def test_a_certain_difference_is_judged_by_hand_on_two_folds():
    """A right everywhere (weighted F1 100), B wrong everywhere (0): every resample gives exactly +100, so
    the interval is the point +100 with standard error 0 on folds 0 and 1 pooled (8 dialogues) and on fold 0
    alone (4), the detectable effect is 0, the seed share 0 (no variance at all), and the claim 'EmoNet
    beats CoMPM' holds beyond its published +1.33 both ways; it rests on 2 folds x (5 + 5) fits, and fold 0
    and fold 1 agree exactly (tuning leak 0, interval [0, 0])."""
    (row,) = [r for r in evaluate_claims_cv("05_emonet", _certain_experiment(), "emorynlp", folds=[0, 1],
                                           names={"emonet": EMONET}, n_resamples=1000)
              if r["id"] == "emonet-beats-compm"]
    comp, std = row["comparison"], row["standard"]["comparison"]
    assert (comp["difference"], comp["ci_low"], comp["ci_high"], comp["standard_error"]) == (100.0, 100.0, 100.0, 0.0)
    assert (std["difference"], std["ci_low"], std["ci_high"]) == (100.0, 100.0, 100.0)
    assert comp["n_dialogues"] == 8 and std["n_dialogues"] == 4 and comp["n_seeds_a"] == comp["n_seeds_b"] == 5
    assert row["verdict"] == row["standard"]["verdict"] == "holds" and not row["verdicts_differ"]
    assert "lies beyond the published +1.33" in row["reason"] and row["detectable_effect"] == 0.0
    assert row["fits"] == 2 * (5 + 5) and row["folds"] == [0, 1] and row["seed_share"] == 0.0
    assert (row["a"], row["b"], row["dataset"], row["output"], row["n_classes"]) == (EMONET, COMPM, "emorynlp", "y_pred", 7)
    assert row["source_results"] == "05_emonet_emorynlp_cv" and row["paper"] == "EmoNet"
    assert row["tuning_leak"] == {"fold_0": 100.0, "other_folds": 100.0, "difference": 0.0, "ci_low": 0.0,
                                  "ci_high": 0.0, "excludes_zero": False}
    # on fold 0 alone there is no other fold to compare with: no leak measurement
    (alone,) = [r for r in evaluate_claims_cv("05_emonet", _certain_experiment(), "emorynlp", folds=[0],
                                             names={"emonet": EMONET}, n_resamples=1000) if r["id"] == "emonet-beats-compm"]
    assert alone["tuning_leak"] is None and alone["comparison"]["n_dialogues"] == 4


def test_the_sign_of_the_claim_and_the_seeds_it_rests_on_decide():
    """The same certain +100 read against a claim of the other sign ('global speaker IDs hurt', A = the
    global-ID row, B = CoMPM): the interval excludes zero on the wrong side, so 'contradicted'. With 4 seeds
    instead of 5 no verdict is possible: 'not measured at full size'."""
    exp = _certain_experiment(rows=("+ global speaker ID", COMPM))
    (hurt,) = [r for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[0, 1], names={"emonet": EMONET},
                                            n_resamples=1000)
               if r["id"] == "emonet-global-id"]
    assert hurt["verdict"] == "contradicted" and hurt["comparison"]["difference"] == 100.0
    few = _certain_experiment(seeds=4)
    (row,) = [r for r in evaluate_claims_cv("05_emonet", few, "emorynlp", folds=[0, 1], names={"emonet": EMONET},
                                           n_resamples=1000) if r["id"] == "emonet-beats-compm"]
    assert row["verdict"] == "not measured at full size" and row["fits"] == 2 * (4 + 4)


def _noisy_two_fold_experiment(seed: int, student_head: bool = False) -> Experiment:
    """Two EmoryNLP-like folds of 8 three-utterance dialogues (random labels of 7 classes), 5 seeds of
    EmoNet (right on about 60% of utterances, else label + 1) and CoMPM (about 40%); with
    ``student_head`` each fit also keeps a noisy ``logits_text`` head that favours the true class."""
    rng = np.random.default_rng(seed)
    exp = Experiment()
    for k in (0, 1):
        key = f"emorynlp@fold{k}"
        y = rng.integers(0, 7, 24)
        exp.test_truth[key] = {"labels": y.tolist(), "dialogue_lengths": [3] * 8}
        for s in range(5):
            for variant, right in ((EMONET, 0.6), (COMPM, 0.4)):
                fit = _fit(y, np.where(rng.random(24) < right, y, (y + 1) % 7))
                if student_head:
                    fit.test_outputs["logits_text"] = rng.normal(size=(24, 7)) + 3 * np.eye(7)[y] * (rng.random((24, 1)) < 0.5)
                exp.fits[(key, variant, s)] = fit
    return exp


def test_a_stored_cross_validated_interval_is_recomputed_from_the_payload_exactly():
    """results_payload stores every fold's predictions and truth; recompute_cv_comparison gets the same
    difference, interval and standard error from them, and names a prediction that is missing."""
    from erc_lib.crossval import recompute_cv_comparison, results_payload

    exp = _noisy_two_fold_experiment(2)
    rows = [r for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[0, 1], names={"emonet": EMONET},
                                         n_resamples=1000) if r["id"] == "emonet-beats-compm"]
    payload = results_payload(exp, rows)
    assert payload["claims"] == rows and "histories" not in payload
    assert set(payload["test_predictions"]) == {f"emorynlp@fold{k}|{v}|{s}" for k in (0, 1) for v in (EMONET, COMPM)
                                                for s in range(5)}
    again = recompute_cv_comparison(rows[0], payload)
    for key in ("difference", "ci_low", "ci_high", "standard_error", "n_dialogues"):
        assert again[key] == rows[0]["comparison"][key], key
    del payload["test_predictions"][f"emorynlp@fold1|{COMPM}|3"]
    with pytest.raises(KeyError, match=r"emonet-beats-compm: no stored y_pred predictions for .*fold1\|CoMPM\|3"):
        recompute_cv_comparison(rows[0], payload)


def test_claim_rows_are_the_rows_each_notebooks_claims_compare():
    """By hand from the claims table: EmoNet's four claims on EmoryNLP compare five rows; MiSTER-E's six on
    mosi-clean compare MiSTER-E with six others; SDT's on IEMOCAP the full model with and without
    self-distillation (the multimodal claim is not measured on text-only IEMOCAP)."""
    from erc_lib.crossval import claim_rows

    assert claim_rows("05_emonet", "emorynlp", {"emonet": "+ normalised weighted CE"}) == {
        "+ normalised weighted CE", "CoMPM", "+ global speaker ID", "+ speaker behaviour"}
    assert claim_rows("06_mister_e", "mosi-clean") == {"MiSTER-E", "speech expert alone", "text expert alone",
                                                        "multimodal expert alone", "monolithic", "No-Loss-MoE", "feat-MoE"}
    assert claim_rows("03_sdt", "iemocap", {"full": "text", "best_unimodal": ""}) == {"text", "text w/o self-distillation"}
    assert claim_rows("05_emonet", "meld") == set()


def test_power_table_reads_each_row_as_written():
    """One constructed row: every column formatted from the row's own numbers."""
    row = {"text": "EmoNet beats CoMPM", "dataset": "emorynlp", "fits": 50, "seed_share": 0.374,
           "comparison": {"n_dialogues": 897, "n_seeds_a": 5, "n_seeds_b": 5}, "detectable_effect": 1.4567,
           "verdict": "holds", "standard": {"comparison": {"n_dialogues": 85}, "detectable_effect": 3.221,
                                            "verdict": "underpowered"},
           "tuning_leak": {"difference": -0.456, "ci_low": -2.5, "ci_high": 1.589}}
    (line,) = power_table([row]).to_dict("records")
    assert line == {"claim": "EmoNet beats CoMPM", "dataset": "emorynlp", "test dialogues (standard / CV)": "85 / 897",
                    "seeds per fold (A / B)": "5 / 5", "fits": 50, "seed share of the variance": "37%",
                    "detectable effect, standard": "3.22", "detectable effect, CV": "1.46",
                    "verdict, standard": "underpowered", "verdict, CV": "holds",
                    "fold 0 − other folds [95% CI]": "-0.46 [-2.50, +1.59]"}
    assert power_table([{**row, "tuning_leak": None}]).iloc[0]["fold 0 − other folds [95% CI]"] == "–"


# ----------------------------------------------------------------------------- the per-fold runner and more seeds, by their calls

def _recording_run_experiment(trained: list):
    """A stand-in for :func:`erc_lib.experiment.run_experiment` that records what one fold's training is
    given (the fold, its rows, seeds, settings, progress, label, the features' training mean, whether each
    row was built for that fold's own data) and returns an empty fit per row and seed."""
    def run(part, specs, seeds, config, progress=True, desc=None):
        train = np.concatenate([d.features["audio"] for d in part.splits["train"]])
        trained.append({"key": part.key, "rows": [s.variant for s in specs], "seeds": seeds, "config": config,
                        "progress": progress, "desc": desc, "train_mean": round(float(train.mean()), 6),
                        "built_for_fold": all(s.build() is part for s in specs)})
        exp = Experiment()
        for s in specs:
            for seed in (range(seeds) if isinstance(seeds, int) else seeds):
                exp.fits[(part.key, s.variant, seed)] = None
        return exp
    return run


def test_run_folds_runs_every_fold_by_default_and_standardises_only_when_asked(monkeypatch):
    """No ``folds``: all five of EmoryNLP's, each trained on its own rows, seeds, settings and progress
    choice, labelled "<dataset> fold <k>". ``standardize=False`` leaves the features as they are: fold 0's
    training dialogues are the files' positions 0 .. 11, mean 5.5; z-scored, the mean is 0."""
    from erc_lib import crossval

    trained, config = [], TrainConfig(device="cpu")
    monkeypatch.setattr(crossval, "run_experiment", _recording_run_experiment(trained))
    specs_for = lambda part: [RunSpec("logreg", build=lambda: part)]  # noqa: E731
    exp = run_folds(toy(), specs_for, 2, config, progress=False)
    assert [t["key"] for t in trained] == [f"emorynlp@fold{k}" for k in range(5)]
    assert all(t["rows"] == ["logreg"] and t["seeds"] == 2 and t["config"] is config and t["progress"] is False
               and t["built_for_fold"] for t in trained)
    assert [t["desc"] for t in trained] == [f"emorynlp fold {k}" for k in range(5)]
    assert [t["train_mean"] for t in trained] == [0.0] * 5
    assert sorted(exp.fits) == sorted((f"emorynlp@fold{k}", "logreg", s) for k in range(5) for s in (0, 1))
    trained.clear()
    run_folds(toy(), specs_for, [3], config, folds=[0], standardize=False, progress=False)
    assert [(t["key"], t["seeds"], t["train_mean"]) for t in trained] == [("emorynlp@fold0", [3], 5.5)]


ROWS = ("x-a", "x-b", "y-b", "z")
NAMES = {"emonet": EMONET}


def _seed_rounds_setup(monkeypatch):
    """Five folds of a dataset "emorynlp" (tests/conftest.py's toy), seeds 0-4 of rows x-a, x-b and y-b on
    every fold, seeds 0-7 of row z (no claim compares it) and seeds 0-9 of x-a on fold 1. Claim X (x-a vs
    x-b, seed share 80%) detects 10 / sqrt(seeds) points; claim Y (x-a vs y-b, share 30%) 5 points. The
    judging is a stand-in that records how it is asked; the training is :func:`run_folds` with
    :func:`_recording_run_experiment` underneath."""
    from erc_lib import crossval

    exp = Experiment()
    for k in range(5):
        for row, n in (("x-a", 10 if k == 1 else 5), ("x-b", 5), ("y-b", 5), ("z", 8)):
            for seed in range(n):
                exp.fits[(f"emorynlp@fold{k}", row, seed)] = None
    trained, judged_with = [], []

    def judge(notebook, experiment, dataset, folds=None, names=None, n_resamples=None):
        judged_with.append((notebook, dataset, folds, names, n_resamples))
        keys = {f"{dataset}@fold{k}" for k in folds}
        seeds = lambda row: len({s for (d, v, s) in experiment.fits if d in keys and v == row})  # noqa: E731
        return [{"id": cid, "a": a, "b": b, "comparison": {"n_seeds_a": seeds(a), "n_seeds_b": seeds(b)},
                 "seed_share": share, "detectable_effect": 10 / min(seeds(a), seeds(b)) ** 0.5 if cid == "x" else 5.0}
                for cid, (a, b), share in (("x", ("x-a", "x-b"), 0.8), ("y", ("x-a", "y-b"), 0.3))]

    monkeypatch.setattr(crossval, "run_experiment", _recording_run_experiment(trained))
    monkeypatch.setattr(crossval, "evaluate_claims_cv", judge)
    specs_for = lambda part: [RunSpec(row, build=lambda: part) for row in ROWS]  # noqa: E731
    first = judge("05_emonet", exp, "emorynlp", folds=[0, 2], names=NAMES, n_resamples=2000)
    judged_with.clear()
    return exp, first, specs_for, trained, judged_with


def test_add_seeds_trains_the_next_seeds_of_the_claims_rows_on_the_chosen_folds_up_to_the_cap(monkeypatch):
    """Folds 0 and 2, at most 12 seeds. X's rows have seeds 0-4 there (z's eight seeds and x-a's ten on
    fold 1 are not theirs): round one trains seeds 5-9 of x-a and of x-b on folds 0 and 2 only, round two
    seeds 10 and 11 (the cap), each through run_folds with the given dataset, settings and progress, rows
    built per fold. X detects 4.47 -> 3.16 -> 2.89 points and stops at the cap. Y (share 30%) would get
    no seeds of its own, but it compares x-a, so its other row y-b is trained on the same new seeds
    (10 against 10, then 12 against 12: the paired bootstrap pairs seeds only when both rows have the
    same ones); from its second entry on its reason is the measured fall (5.00 -> 5.00), not the share.
    z, which no claim compares, gets none. Every judgement is asked as the first was."""
    from erc_lib import crossval

    exp, first, specs_for, trained, judged_with = _seed_rounds_setup(monkeypatch)
    config = TrainConfig(device="cpu")
    grown, (x, y) = crossval.add_seeds(toy(), specs_for, exp, first, config, "05_emonet", "emorynlp", names=NAMES,
                                       folds=[0, 2], n_resamples=2000, max_seeds=12, progress=False)
    assert [(t["key"], t["rows"], t["seeds"]) for t in trained] == [
        ("emorynlp@fold0", ["x-a"], [5, 6, 7, 8, 9]), ("emorynlp@fold2", ["x-a"], [5, 6, 7, 8, 9]),
        ("emorynlp@fold0", ["x-b"], [5, 6, 7, 8, 9]), ("emorynlp@fold2", ["x-b"], [5, 6, 7, 8, 9]),
        ("emorynlp@fold0", ["y-b"], [5, 6, 7, 8, 9]), ("emorynlp@fold2", ["y-b"], [5, 6, 7, 8, 9]),
        ("emorynlp@fold0", ["x-a"], [10, 11]), ("emorynlp@fold2", ["x-a"], [10, 11]),
        ("emorynlp@fold0", ["x-b"], [10, 11]), ("emorynlp@fold2", ["x-b"], [10, 11]),
        ("emorynlp@fold0", ["y-b"], [10, 11]), ("emorynlp@fold2", ["y-b"], [10, 11])]
    assert all(t["config"] is config and t["progress"] is False and t["built_for_fold"] for t in trained)
    assert judged_with == [("05_emonet", "emorynlp", [0, 2], NAMES, 2000)] * 2
    assert [r["seeds"] for r in x["seed_rounds"]] == [5, 10, 12]
    assert [round(r["detectable_effect"], 2) for r in x["seed_rounds"]] == [4.47, 3.16, 2.89]
    assert x["seeds_stopped"] == "at the cap of 12 seeds"
    assert y["seed_rounds"] == [{"seeds": 5, "detectable_effect": 5.0}, {"seeds": 10, "detectable_effect": 5.0},
                                {"seeds": 12, "detectable_effect": 5.0}]
    assert y["seeds_stopped"] == "detectable effect stopped falling (5.00 -> 5.00 with 12 seeds)"
    assert y["comparison"]["n_seeds_a"] == 12 and y["comparison"]["n_seeds_b"] == 12
    new = set(grown.fits) - set(exp.fits)
    assert new == {(f"emorynlp@fold{k}", row, s) for k in (0, 2) for row in ("x-a", "x-b", "y-b") for s in range(5, 12)}


def test_add_seeds_takes_one_seed_a_round_and_a_cap_of_one(monkeypatch):
    """step=1 and max_seeds=1 are the smallest allowed: one seed a round (X: 5 -> 6 -> 7 seeds, 4.47 -> 4.08
    -> 3.78 points, stopping at a cap of 7); a cap of 1 is already reached by 5 seeds (no training). Zero
    of either is refused before any training."""
    from erc_lib import crossval

    exp, first, specs_for, trained, _ = _seed_rounds_setup(monkeypatch)
    add = lambda **kw: crossval.add_seeds(toy(), specs_for, exp, first, TrainConfig(), "05_emonet", "emorynlp",  # noqa: E731
                                          names=NAMES, folds=[0, 2], n_resamples=2000, progress=False, **kw)
    _, (x, _y) = add(step=1, max_seeds=7)
    assert [t["seeds"] for t in trained] == [[5]] * 6 + [[6]] * 6  # x-a, x-b and y-b (paired with x-a) on folds 0, 2
    assert [r["seeds"] for r in x["seed_rounds"]] == [5, 6, 7] and x["seeds_stopped"] == "at the cap of 7 seeds"
    trained.clear()
    _, (x, _y) = add(max_seeds=1)
    assert trained == [] and x["seeds_stopped"] == "at the cap of 1 seeds" and len(x["seed_rounds"]) == 1
    for bad in ({"step": 0}, {"max_seeds": 0}):
        with pytest.raises(ValueError, match=r"step and max_seeds must be at least 1 \(got step=\d, max_seeds=\d+\)"):
            add(**bad)
    assert trained == []


# ----------------------------------------------------------------------------- the tuning leak and the front page, by hand

@pytest.mark.parametrize("fold_0, others, expected", [
    # 2.0 - 0.5 = 1.5, half-width 1.96 x sqrt(0.3^2 + 0.4^2) = 1.96 x 0.5 = 0.98: [0.52, 2.48] excludes zero
    ((2.0, 0.3), (0.5, 0.4), (1.5, 1.5 - 0.979982, 1.5 + 0.979982, True)),
    # 0.5 - 1.0 = -0.5, the same half-width: [-1.48, 0.48] includes zero
    ((0.5, 0.3), (1.0, 0.4), (-0.5, -0.5 - 0.979982, -0.5 + 0.979982, False)),
    # -1.0 - 2.0 = -3.0, half-width 1.96 x 1.0: [-4.96, -1.04] excludes zero below
    ((-1.0, 0.6), (2.0, 0.8), (-3.0, -3.0 - 1.959964, -3.0 + 1.959964, True)),
])
def test_the_tuning_leak_is_fold_0_minus_the_other_folds_with_a_normal_interval(fold_0, others, expected):
    leak = tuning_leak({"difference": fold_0[0], "standard_error": fold_0[1]},
                       {"difference": others[0], "standard_error": others[1]})
    assert set(leak) == {"fold_0", "other_folds", "difference", "ci_low", "ci_high", "excludes_zero"}
    assert leak["fold_0"] == fold_0[0] and leak["other_folds"] == others[0]
    assert (leak["difference"], leak["ci_low"], leak["ci_high"]) == pytest.approx(expected[:3])
    assert leak["excludes_zero"] is expected[3]


def test_a_tuning_leak_interval_that_touches_zero_does_not_exclude_it():
    """Standard errors 3 and 4: half-width 1.96 x 5. A gap of exactly that puts one end of the interval on
    zero, which it then contains (as a paired bootstrap interval does)."""
    half = Z_ALPHA * 5.0
    upper = tuning_leak({"difference": half, "standard_error": 3.0}, {"difference": 0.0, "standard_error": 4.0})
    lower = tuning_leak({"difference": 0.0, "standard_error": 3.0}, {"difference": half, "standard_error": 4.0})
    assert upper["ci_low"] == 0.0 and lower["ci_high"] == 0.0
    assert upper["excludes_zero"] is False and lower["excludes_zero"] is False


@given(d0=st.floats(-50, 50), d1=st.floats(-50, 50), se0=st.floats(0, 10), se1=st.floats(0, 10))
@FAST
def test_the_tuning_leak_interval_is_centred_on_the_gap_and_excludes_zero_only_when_zero_is_outside(d0, d1, se0, se1):
    leak = tuning_leak({"difference": d0, "standard_error": se0}, {"difference": d1, "standard_error": se1})
    half = Z_ALPHA * np.hypot(se0, se1)
    assert leak["difference"] == d0 - d1
    assert leak["ci_low"] == pytest.approx(d0 - d1 - half, abs=1e-9) and leak["ci_high"] == pytest.approx(d0 - d1 + half, abs=1e-9)
    assert leak["excludes_zero"] is (not leak["ci_low"] <= 0 <= leak["ci_high"])


def test_the_front_page_paragraph_reads_in_full():
    """Three claims: two decided under cross-validation (one on the standard split), two with more seeds
    over three rounds, two moved verdicts and two tuning leaks (each listed with '; '); a third with one
    round (no more seeds) and no leak measured. Then one undecided claim with nothing to report."""
    from erc_lib.crossval import cv_reading

    rows = [
        {"text": "SD helps", "dataset": "iemocap", "verdict": "published effect ruled out",
         "standard": {"verdict": "underpowered"}, "verdicts_differ": True,
         "seed_rounds": [{"seeds": 5, "detectable_effect": 4.0}, {"seeds": 10, "detectable_effect": 3.1},
                         {"seeds": 15, "detectable_effect": 2.6}],
         "tuning_leak": {"difference": 2.5, "excludes_zero": True}},
        {"text": "bios help", "dataset": "mosi-clean", "verdict": "holds",
         "standard": {"verdict": "smaller than published"}, "verdicts_differ": True,
         "seed_rounds": [{"seeds": 5, "detectable_effect": 3.0}, {"seeds": 10, "detectable_effect": 2.5},
                         {"seeds": 15, "detectable_effect": 2.2}],
         "tuning_leak": {"difference": -1.234, "excludes_zero": True}},
        {"text": "EmoNet wins", "dataset": "emorynlp", "verdict": "underpowered", "standard": {"verdict": "underpowered"},
         "verdicts_differ": False, "seed_rounds": [{"seeds": 5, "detectable_effect": 1.5}], "tuning_leak": None},
    ]
    assert cv_reading(rows) == (
        "Cross-validated on every dialogue, the study decides 2 of 3 claim measurements (on the standard split alone: 1)."
        " Where the seeds were most of the noise, the claim's rows got more seeds: SD helps on iemocap (5 -> 15 seeds"
        " per fold, detectable effect 4.00 -> 2.60); bios help on mosi-clean (5 -> 15 seeds per fold, detectable effect"
        " 3.00 -> 2.20)."
        " The verdict moves for SD helps on iemocap (underpowered -> published effect ruled out); bios help on"
        " mosi-clean (smaller than published -> holds)."
        " Fold 0, whose test dialogues no tuning saw, differs from the other folds beyond chance for SD helps on"
        " iemocap (+2.50); bios help on mosi-clean (-1.23): read those verdicts with the tuning leak in mind.")
    quiet = {"text": "gate helps", "dataset": "iemocap", "verdict": "on the boundary", "standard": {"verdict": "holds"},
             "tuning_leak": {"difference": 0.4, "excludes_zero": False}}
    assert cv_reading([quiet]) == (
        "Cross-validated on every dialogue, the study decides 0 of 1 claim measurements (on the standard split alone: 1)."
        " On no claim does fold 0, whose test dialogues no tuning saw, differ from the other folds beyond chance.")


def test_every_fold_is_pooled_by_default_and_the_row_keeps_what_its_verdict_rests_on():
    """Five EmoryNLP-like folds of six dialogues, A right on 70% of utterances and B on 40% (seeded noise),
    five seeds each. Without ``folds`` all five are pooled: 30 test dialogues, 50 fits, the standard split's
    6. The row's seed share is that of the pooled set resampled within folds, its standard comparison is
    fold 0's paired bootstrap, and its tuning leak compares that with folds 1-4 pooled at the same resamples
    and bootstrap seed 0. Only the claim whose two rows ran is judged; a row missing on one fold drops it."""
    from erc_lib.crossval import tuning_leak as leak_of
    from erc_lib.experiment import cross_validated_difference, pooled_test_set

    exp = emorynlp_experiment(0.7, 0.4, dialogues_per_fold=6)
    rows = evaluate_claims_cv("05_emonet", exp, "emorynlp", names={"emonet": EMONET}, n_resamples=1000)
    assert [r["id"] for r in rows] == ["emonet-beats-compm"]
    (row,) = rows
    assert row["folds"] == [0, 1, 2, 3, 4] and row["fits"] == 5 * (5 + 5) and row["text"] == "EmoNet beats CoMPM"
    assert row["comparison"]["n_dialogues"] == 30 and row["standard"]["comparison"]["n_dialogues"] == 6
    assert row["comparison"]["n_resamples"] == 1000 and row["comparison"]["bootstrap_seed"] == 0
    assert len(row["comparison"]["intervals_by_seed"]) == 20
    pooled = pooled_test_set(exp, EMONET, COMPM, "emorynlp", range(5))
    share = lambda strata: seed_variance_share(pooled["labels"], pooled["a"], pooled["b"],  # noqa: E731
                                               pooled["dialogue_lengths"], 7, strata=strata)["seed_share"]
    assert row["seed_share"] == share(pooled["strata"]) != share(None)
    fold_0 = cross_validated_difference(exp, EMONET, COMPM, "emorynlp", [0], n_resamples=1000, seed=0)
    others = cross_validated_difference(exp, EMONET, COMPM, "emorynlp", [1, 2, 3, 4], n_resamples=1000, seed=0)
    assert {k: row["standard"]["comparison"][k] for k in ("difference", "ci_low", "ci_high", "standard_error")} == {
        k: fold_0[k] for k in ("difference", "ci_low", "ci_high", "standard_error")}
    assert row["tuning_leak"] == leak_of(fold_0, others)
    exp.fits = {k: f for k, f in exp.fits.items() if not (k[0] == "emorynlp@fold3" and k[1] == COMPM)}
    assert evaluate_claims_cv("05_emonet", exp, "emorynlp", names={"emonet": EMONET}, n_resamples=1000) == []


def test_a_stored_student_head_interval_is_recomputed_from_its_kept_outputs_at_its_bootstrap_seed():
    """A claim on a kept output (``logits_text``, an SDT student head) reads the payload's stored
    highest-scoring classes of that output, not the model's predictions, and resamples at the row's bootstrap
    seed (0 when the row does not say); a row without ``output`` reads the model's predictions."""
    from erc_lib.crossval import recompute_cv_comparison, results_payload
    from erc_lib.experiment import cross_validated_difference

    exp = _noisy_two_fold_experiment(4, student_head=True)
    payload = results_payload(exp, [])
    row = {"id": "student", "dataset": "emorynlp", "a": EMONET, "b": COMPM, "folds": [0, 1], "n_classes": 7,
           "output": "logits_text", "comparison": {"n_seeds_a": 5, "n_seeds_b": 5, "n_resamples": 1000, "bootstrap_seed": 3}}
    same = ("difference", "ci_low", "ci_high", "standard_error", "n_dialogues", "n_strata")
    direct = lambda **kw: cross_validated_difference(exp, EMONET, COMPM, "emorynlp", [0, 1], n_resamples=1000, **kw)  # noqa: E731
    student = direct(output="logits_text", seed=3)
    assert student["difference"] != direct(seed=3)["difference"]                 # the head differs from the model
    again = recompute_cv_comparison(row, payload)
    assert {k: again[k] for k in same} == {k: student[k] for k in same}
    unseeded = {**row, "comparison": {k: v for k, v in row["comparison"].items() if k != "bootstrap_seed"}}
    assert {k: recompute_cv_comparison(unseeded, payload)[k] for k in same} == {
        k: direct(output="logits_text", seed=0)[k] for k in same}
    model = {k: v for k, v in row.items() if k != "output"}
    assert {k: recompute_cv_comparison(model, payload)[k] for k in same} == {k: direct(seed=3)[k] for k in same}
    del payload["test_output_predictions"][f"emorynlp@fold0|{COMPM}|4"]
    with pytest.raises(KeyError, match=r"student: no stored logits_text predictions for .*fold0\|CoMPM\|4"):
        recompute_cv_comparison(row, payload)


def test_a_claim_on_a_student_head_is_judged_only_where_every_fold_kept_that_head():
    """SDT's self-distillation claims on mosi-clean (three folds), audio-only rows, one seed (a smoke run: the
    interval is read, no verdict). The fused claim is judged; the text-student claim only when every fit of
    both rows on the pooled folds kept ``logits_text`` (an audio-only SDT has no text student). Runs outside
    the pooled folds do not count."""
    rng = np.random.default_rng(5)
    rows = ("audio", "audio w/o self-distillation")
    exp = Experiment()
    for key in ("mosi-clean@fold0", "mosi-clean@fold1", "mosi-clean@fold2", "mosi-clean"):
        y = rng.integers(0, 2, 12)
        exp.test_truth[key] = {"labels": y.tolist(), "dialogue_lengths": [4] * 3}
        for row in rows:
            fit = _fit(y, rng.integers(0, 2, 12))
            if key in ("mosi-clean@fold0", "mosi-clean@fold1"):
                fit.test_outputs["logits_text"] = rng.normal(size=(12, 2))
            exp.fits[(key, row, 0)] = fit
    judged = lambda: [r["id"] for r in evaluate_claims_cv("03_sdt", exp, "mosi-clean",  # noqa: E731
                                                          names={"full": "audio", "best_unimodal": "text"})]
    assert judged() == ["sdt-sd-fused"]
    for row in rows:
        exp.fits[("mosi-clean@fold2", row, 0)].test_outputs["logits_text"] = rng.normal(size=(12, 2))
    assert judged() == ["sdt-sd-fused", "sdt-sd-students"]


def test_folds_without_the_standard_split_are_refused_before_any_bootstrap():
    """Every claim is judged on fold 0 (the standard split) beside its pooled estimate, so pooling folds
    1 and 2 only is bad input: a ValueError naming fold 0, not a KeyError from inside the bootstrap."""
    exp = _certain_experiment(folds=(1, 2))
    with pytest.raises(ValueError, match=r"folds \[1, 2\] leave out fold 0, the standard split"):
        evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[1, 2], names={"emonet": EMONET}, n_resamples=1000)


def test_each_boundary_interval_is_the_pooled_bootstrap_under_its_seed_and_only_where_a_verdict_is_possible():
    """Five seeds per row on two folds of 6 four-utterance dialogues: the cross-validated comparison holds one
    interval per bootstrap seed 0 .. 19, each the fold-stratified bootstrap at that seed over both folds, and the
    standard one each over fold 0 alone; without a resample count, as many as the first 1,000-resample standard
    error asks for (resamples_for). With four seeds no verdict is possible: 1,000 resamples, seed 0 alone."""
    from erc_lib.differences import cross_validated_difference
    from erc_lib.verdict import BOUNDARY_SEEDS, resamples_for

    def noisy(seeds):
        rng = np.random.default_rng(3)
        exp = Experiment()
        for k in (0, 1):
            y = rng.integers(0, 4, 24)
            exp.test_truth[f"emorynlp@fold{k}"] = {"labels": y.tolist(), "dialogue_lengths": [4] * 6}
            for seed in range(seeds):
                for row, right in ((EMONET, 0.7), (COMPM, 0.5)):
                    exp.fits[(f"emorynlp@fold{k}", row, seed)] = _fit(y, np.where(rng.random(24) < right, y, (y + 1) % 4))
        return exp

    exp = noisy(5)
    judge = lambda e, **kw: next(r for r in evaluate_claims_cv("05_emonet", e, "emorynlp", folds=[0, 1],  # noqa: E731
                                                               names={"emonet": EMONET}, **kw)
                                 if r["id"] == "emonet-beats-compm")
    row = judge(exp, n_resamples=120)
    for part, folds in (("comparison", [0, 1]), ("standard", [0])):
        comp = row[part] if part == "comparison" else row[part]["comparison"]
        assert len(comp["intervals_by_seed"]) == BOUNDARY_SEEDS == 20
        for seed in (0, 1, 13, 19):
            c = cross_validated_difference(exp, EMONET, COMPM, "emorynlp", folds, n_resamples=120, seed=seed)
            assert comp["intervals_by_seed"][seed] == [c["ci_low"], c["ci_high"]], (part, seed)
        assert len({tuple(i) for i in comp["intervals_by_seed"]}) > 1
    sized = judge(exp)
    first = cross_validated_difference(exp, EMONET, COMPM, "emorynlp", [0, 1], n_resamples=1000, seed=0)
    assert sized["comparison"]["n_resamples"] == resamples_for(first["standard_error"])
    few = judge(noisy(4))
    assert few["comparison"]["n_resamples"] == few["standard"]["comparison"]["n_resamples"] == 1000
    assert len(few["comparison"]["intervals_by_seed"]) == len(few["standard"]["comparison"]["intervals_by_seed"]) == 1


def test_a_claim_rests_on_the_smaller_seed_count_and_counts_every_fit_of_both_rows():
    """Rows with 5 and 6 seeds on each of two folds: the verdict rests on 5 seeds (the smaller), the row on
    2 x (5 + 6) = 22 fits. With 4 and 6 seeds the smaller count is under five: no verdict."""
    exp = _certain_experiment()
    y = np.arange(4) % 4
    for k in (0, 1):
        exp.fits[(f"emorynlp@fold{k}", COMPM, 5)] = _fit(y, (y + 1) % 7)
    (row,) = [r for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[0, 1], names={"emonet": EMONET},
                                           n_resamples=1000) if r["id"] == "emonet-beats-compm"]
    assert row["fits"] == 22 and (row["comparison"]["n_seeds_a"], row["comparison"]["n_seeds_b"]) == (5, 6)
    assert row["verdict"] == "holds"
    for k in (0, 1):
        del exp.fits[(f"emorynlp@fold{k}", EMONET, 4)]
    (row,) = [r for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[0, 1], names={"emonet": EMONET},
                                           n_resamples=1000) if r["id"] == "emonet-beats-compm"]
    assert row["fits"] == 20 and row["verdict"] == row["standard"]["verdict"] == "not measured at full size"


def test_the_row_says_when_the_pooled_and_the_standard_verdicts_differ():
    """A beats B by 100 points on fold 0 and loses by 100 on fold 1: fold 0 alone says 'holds', the two folds
    pooled (difference 0) cannot exclude zero, so the verdicts differ and the row says so."""
    exp = _certain_experiment(folds=(0,))
    y = np.arange(4) % 4
    exp.test_truth["emorynlp@fold1"] = {"labels": y.tolist(), "dialogue_lengths": [1] * 4}
    for seed in range(5):
        exp.fits[("emorynlp@fold1", EMONET, seed)] = _fit(y, (y + 1) % 7)
        exp.fits[("emorynlp@fold1", COMPM, seed)] = _fit(y, y)
    (row,) = [r for r in evaluate_claims_cv("05_emonet", exp, "emorynlp", folds=[0, 1], names={"emonet": EMONET},
                                           n_resamples=1000) if r["id"] == "emonet-beats-compm"]
    assert row["standard"]["verdict"] == "holds" and row["comparison"]["difference"] == 0.0
    assert row["verdict"] != "holds" and row["verdicts_differ"] is True


def test_a_claim_skipped_for_a_missing_head_does_not_end_the_claims_after_it():
    """An audio-only SDT on mosi-clean's three folds (no text student anywhere) with its best unimodal row:
    the student claim is skipped, and the claims before and after it are judged."""
    rng = np.random.default_rng(9)
    exp = Experiment()
    for k in range(3):
        y = rng.integers(0, 2, 12)
        exp.test_truth[f"mosi-clean@fold{k}"] = {"labels": y.tolist(), "dialogue_lengths": [4] * 3}
        for row in ("audio", "audio w/o self-distillation", "text"):
            exp.fits[(f"mosi-clean@fold{k}", row, 0)] = _fit(y, rng.integers(0, 2, 12))
    judged = evaluate_claims_cv("03_sdt", exp, "mosi-clean", names={"full": "audio", "best_unimodal": "text"})
    assert [(r["id"], r["a"], r["b"]) for r in judged] == [("sdt-sd-fused", "audio", "audio w/o self-distillation"),
                                                           ("sdt-multimodal", "audio", "text")]
