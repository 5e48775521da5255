"""Paired bootstrap intervals (known answers), verdicts, and claims measured from an experiment."""
from __future__ import annotations

import math

import numpy as np
import pytest

from erc_lib.claims import CLAIMS, evaluate_claims, measured_setting, verdict
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


@pytest.mark.parametrize("low, high, sign, published, detectable, expected", [
    (0.5, 2.0, 1, None, 1.0, "holds"),                       # no size published: excludes zero on the claimed side
    (1.0, 4.0, 1, 2.98, 1.0, "holds"),                       # contains the published size
    (5.0, 9.0, 1, 2.98, 1.0, "holds"),                       # beyond it
    (-9.0, -7.0, -1, -8.42, 1.0, "holds"),
    (0.2, 1.5, 1, 2.98, 1.0, "smaller than published"),
    (-3.0, -1.0, -1, -8.42, 1.0, "smaller than published"),
    (-1.8, 0.8, 1, 2.98, 1.0, "published effect ruled out"),
    (-3.05, 2.39, -1, -8.42, 3.0, "published effect ruled out"),
    (-2.0, -0.5, 1, None, 1.0, "contradicted"), (1.0, 3.0, -1, -8.42, 1.0, "contradicted"),
    (-2.0, -0.5, 1, 2.98, 1.0, "contradicted"),
    (-1.0, 4.0, 1, 2.98, 3.0, "underpowered"),               # includes zero and the published size
    (-0.5, 2.0, 1, None, 2.5, "underpowered"),               # no size, cannot detect 2 points
    (-0.5, 1.0, 1, None, 1.5, "no effect found"),            # no size, could detect 2 points, found none
    (0.0, 2.0, 1, None, 3.0, "underpowered"),                # boundary: zero inside counts as "includes"
    (-1.0, 2.98, 1, 2.98, 1.0, "underpowered"),              # boundary: the published size on the edge is inside
])
def test_each_verdict_is_reachable_and_boundaries_are_inclusive(low, high, sign, published, detectable, expected):
    word, reason = verdict(low, high, sign, published, detectable, 31)
    assert word == expected and f"[{low:+.2f}, {high:+.2f}]" in reason


def test_verdict_rejects_a_reversed_interval_and_a_bad_sign():
    with pytest.raises(ValueError, match="ci_low"):
        verdict(1.0, 0.0, 1)
    with pytest.raises(ValueError, match="sign"):
        verdict(0.0, 1.0, 0)


def test_underpowered_says_how_many_dialogues_would_be_needed():
    word, reason = verdict(-1.0, 4.0, 1, 2.0, detectable=4.0, n_dialogues=31)
    assert word == "underpowered" and "124 test dialogues instead of 31" in reason   # 31 * (4 / 2)^2


def test_detectable_effect_is_2_8_standard_errors():
    """80% power at the two-sided 5% level: (z_0.975 + z_0.80) = 1.95996 + 0.84162 = 2.80158."""
    from erc_lib.claims import detectable_effect, dialogues_needed

    assert detectable_effect(1.0) == pytest.approx(2.80158, abs=1e-4)
    assert detectable_effect(0.5) == pytest.approx(1.40079, abs=1e-4)
    with pytest.raises(ValueError):
        detectable_effect(-1.0)
    assert dialogues_needed(31, 4.0, 2.0) == 124 and dialogues_needed(100, 1.0, 2.0) == 25


def test_bootstrap_standard_error_matches_its_interval():
    """For a large, roughly normal case the percentile interval spans about 2 x 1.96 standard errors."""
    y, lengths = _test_set(7, n_dialogues=200)
    rng = np.random.default_rng(8)
    a = np.where(rng.random((3, len(y))) < 0.7, y, rng.integers(0, 4, (3, len(y))))
    b = np.where(rng.random((3, len(y))) < 0.6, y, rng.integers(0, 4, (3, len(y))))
    r = paired_bootstrap(y, a, b, lengths, 4, n_resamples=4000)
    assert (r["ci_high"] - r["ci_low"]) / (2 * 1.96 * r["standard_error"]) == pytest.approx(1.0, abs=0.1)


def test_published_sizes_are_compared_only_on_their_own_dataset_and_setting():
    """By hand from the sources: SDT's +2.98 (self-distillation) and +7.50 (multimodal) are text +
    audio + visual IEMOCAP figures, so they are weighed on the SDT pickles' IEMOCAP and not on the
    text-only COSMIC IEMOCAP; SEED000's bios figure is text + audio on another 6-class scheme
    (happy+excited merged, an 'other' class): never weighed here; EmoNet's thesis figures are text on
    EmoryNLP's 7 emotions, as ours; MiSTER-E's monolithic figures are speech + text."""
    by_id = {c.id: c for c in CLAIMS}
    sd = by_id["sdt-sd-fused"]
    assert sd.published_size("iemocap-sdt") == 2.98 and sd.published_size("iemocap") is None
    assert "text+audio+visual" in sd.setting_note("iemocap") and "measured here with text " in sd.setting_note("iemocap")
    assert sd.published_size("meld") is None and sd.published_size("mosi-clean") is None
    assert sd.setting_note("meld") == "" and sd.setting_note("iemocap-sdt") == ""
    assert by_id["sdt-multimodal"].published_size("iemocap-sdt") == 7.50
    bios = by_id["sdt-bios"]
    assert bios.published_size("iemocap") is None and "happy+excited merged" in bios.setting_note("iemocap")
    assert [by_id[i].published_size("emorynlp") for i in ("emonet-beats-compm", "emonet-global-id",
                                                          "emonet-behaviour", "emonet-weighted-ce")] == [1.33, -8.42, 7.53, 2.22]
    mono = by_id["mister-e-vs-monolithic"]
    assert (mono.published_size("iemocap-sdt"), mono.published_size("meld-sdt"), mono.published_size("mosi-clean")) == (3.1, 1.6, None)
    assert measured_setting("iemocap-sdt", "text+audio") == ("text+audio", "IEMOCAP 6 classes")
    assert measured_setting("mosi-clean") == ("text+audio", "MOSI binary sentiment")
    with pytest.raises(KeyError, match="no measured setting for dataset 'dailydialog'"):
        measured_setting("dailydialog")
    assert all("mosi" not in c.datasets for c in CLAIMS), "claims are measured on mosi-clean, never bc-LSTM MOSI"


def test_collect_claims_reads_full_size_results_only(tmp_path, monkeypatch):
    from erc_lib.claims import NOT_MEASURED, collect_claims
    from erc_lib.paths import results_dir, write_json

    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    claim = {"id": "emonet-beats-compm", "paper": "EmoNet", "dataset": "emorynlp", "verdict": "holds",
             "comparison": {"difference": 1.5, "ci_low": 0.5, "ci_high": 2.5, "standard_error": 0.5, "n_dialogues": 85,
                            "n_seeds_a": 5, "n_seeds_b": 5, "n_resamples": 1000}}
    for folder, smoke, name in ((results_dir(smoke=False), False, "05_emonet"), (results_dir(smoke=True), True, "05_emonet"),
                                (results_dir(smoke=False), True, "06_mister_e_mosi-clean")):
        write_json(folder / f"{name}.json", {"status": "complete", "parameters": {"smoke": smoke},
                                             "claims": [{**claim, "verdict": "contradicted" if smoke else "holds"}]})
    claims = collect_claims(write=True)                  # the full-size folder, whatever the process's setting
    assert [c["verdict"] for c in claims] == ["holds"], "a smoke result never gives a verdict"
    import json

    payload = json.loads((tmp_path / "claims.json").read_text())
    assert {m["file"] for m in payload["missing_results"]} == {"06_mister_e_mosi-clean.json"}
    assert all(u["verdict"] == NOT_MEASURED for u in payload["unmeasured"])


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
        for seed in range(5):
            pred = np.where(rng.random(len(y)) < accuracy, y, rng.integers(0, 3, len(y)))
            m = classification_metrics(y, pred, names)
            exp.fits[("emorynlp", variant, seed)] = FitResult([], 1, m, m, {"y_true": y, "y_pred": pred}, 1.0, 1.0)
    claims = {c["id"]: c for c in evaluate_claims("05_emonet", exp, "emorynlp", names={"emonet": "+ normalised weighted CE"})}
    assert set(claims) == {"emonet-beats-compm", "emonet-global-id"}  # the other rows were not run
    assert claims["emonet-beats-compm"]["verdict"] == "holds"
    assert claims["emonet-global-id"]["verdict"] == "contradicted"      # the paper says it hurts; here it helps
    assert claims["emonet-beats-compm"]["baseline"]["variant"] == "BiGRU (context)"
    assert claims["emonet-beats-compm"]["ours"]["n_seeds"] == 5


def test_every_claim_names_rows_its_notebook_trains():
    from erc_lib.models.compm import EMONET_ABLATION
    from erc_lib.models.mister_e import MISTER_E_ROWS

    rows = {"05_emonet": set(EMONET_ABLATION) | {"{emonet}"}, "06_mister_e": set(MISTER_E_ROWS),
            "04_sdt_bios": {"SDT", "SDT + bios"},
            "03_sdt": {"{full}", "{full} w/o self-distillation", "{best_unimodal}"}}
    for c in CLAIMS:
        assert {c.a, c.b} <= rows[c.notebook], c.id
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)


def test_a_size_from_another_setting_rules_nothing_out():
    """SDT's self-distillation on the text-only IEMOCAP: +0.77 [-1.43, +2.97] with a standard error of
    1.12 (detects 2.80 x 1.12 = 3.14 points). The published +2.98 lies just outside, but it is a text +
    audio + visual figure: no size is compared, and with no size the verdict weighs the 2-point
    effect worth detecting: the test cannot detect it, so "underpowered", never "ruled out"."""
    from erc_lib.claims import rejudge

    stored = {"id": "sdt-sd-fused", "dataset": "iemocap",
              "comparison": {"difference": 0.77, "ci_low": -1.43, "ci_high": 2.97, "standard_error": 1.12,
                             "n_dialogues": 31, "n_seeds_a": 5, "n_seeds_b": 5}}
    judged = rejudge(stored)
    assert judged["verdict"] == "underpowered" and judged["published_size"] is None
    assert judged["published_setting_differs"] is True and judged["detectable_effect"] == 3.14
    assert "another setting (published with text+audio+visual (IEMOCAP 6 classes); measured here with text" in judged["reason"]
    same = rejudge({**stored, "dataset": "iemocap-sdt"})          # the same interval where the setting matches
    assert same["verdict"] == "published effect ruled out" and same["published_size"] == 2.98
    assert same["published_setting_differs"] is False


def test_resamples_put_an_interval_edges_monte_carlo_error_below_five_hundredths():
    """By hand (Davison & Hinkley Sec. 2.5.2): the 2.5% quantile of R draws has standard error
    sqrt(0.025 x 0.975 / R) / f(q); for a normal of standard error se, f(q) = phi(1.96) / se =
    0.058445 / se, so R = (0.156125 / 0.058445 x se / 0.05)^2 = (53.43 se)^2."""
    from erc_lib.claims import MAX_RESAMPLES, resamples_for

    assert resamples_for(1.12) == math.ceil((0.156125 / 0.058445 * 1.12 / 0.05) ** 2) == 3581
    assert resamples_for(0.1) == 1000 and resamples_for(0.0) == 1000        # never fewer than 1,000
    assert resamples_for(50.0) == MAX_RESAMPLES
    with pytest.raises(ValueError, match="finite standard error"):
        resamples_for(float("nan"))


def test_with_those_resamples_the_interval_edge_moves_less_than_the_bound_across_bootstrap_seeds():
    """Constructed predictions whose difference has a standard error of about 1.5 points: with
    1,000 resamples an edge wanders about 2.67 x 1.5 / sqrt(1000) = 0.13 points between bootstrap
    seeds; with resamples_for's count the spread falls to about 0.05."""
    from erc_lib.claims import resamples_for

    y, lengths = _test_set(11, n_classes=4)
    rng = np.random.default_rng(3)
    a = np.where(rng.random((5, len(y))) < 0.65, y, rng.integers(0, 4, (5, len(y))))
    b = np.where(rng.random((5, len(y))) < 0.62, y, rng.integers(0, 4, (5, len(y))))
    se = paired_bootstrap(y, a, b, lengths, 4)["standard_error"]
    edges = lambda n: np.std([paired_bootstrap(y, a, b, lengths, 4, n_resamples=n, seed=s)["ci_low"] for s in range(20)],
                             ddof=1)
    assert 0.8 < se < 3.0
    assert edges(resamples_for(se)) < 0.075 < edges(1000)


def test_a_verdict_that_changes_with_the_bootstrap_seed_is_on_the_boundary():
    """The stored intervals of 20 bootstrap seeds around SDT's published +2.98 on iemocap-sdt: 13
    exclude it (published effect ruled out), 7 reach it (underpowered). Neither verdict is given."""
    from erc_lib.claims import BOUNDARY, rejudge

    intervals = [[-1.43, 2.97]] * 13 + [[-1.42, 2.99]] * 7
    stored = {"id": "sdt-sd-fused", "dataset": "iemocap-sdt",
              "comparison": {"difference": 0.77, "ci_low": -1.43, "ci_high": 2.97, "standard_error": 1.12,
                             "n_dialogues": 31, "n_seeds_a": 5, "n_seeds_b": 5, "intervals_by_seed": intervals}}
    judged = rejudge(stored)
    assert judged["verdict"] == BOUNDARY == "on the boundary"
    assert judged["reason"].startswith("ours A - B +0.77: on the boundary between 'published effect ruled out' (13 of 20 "
                                       "bootstrap seeds) and 'underpowered' (7 of 20 bootstrap seeds)")
    steady = rejudge({**stored, "comparison": {**stored["comparison"], "intervals_by_seed": [[-1.43, 2.97]] * 20}})
    assert steady["verdict"] == "published effect ruled out"
