"""The MiSTER-E notebook in smoke size: rows for every variant, metrics within tolerances of
what the data allow, gate weights that are distributions, every loss term logged."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import require_dataset
from erc_lib.data import load_dataset
from erc_lib.metrics import majority_baseline

BASELINES = {"logistic regression (no context)", "BiGRU (context)"}
VARIANTS = {"MiSTER-E", "speech expert alone", "text expert alone", "multimodal expert alone", "monolithic",
            "feat-MoE", "No-Loss-MoE"}


@pytest.fixture(scope="module")
def results(notebook_results):
    require_dataset("mosi-clean")
    res = notebook_results("06_mister_e_mosi-clean")
    assert res["parameters"]["smoke"] is True and res["parameters"]["dataset"] == "mosi-clean"
    return res


def best_constant_baseline() -> float:
    """Test weighted F1 of the best constant prediction (always the test's majority class)."""
    y_test = np.concatenate([d.labels for d in load_dataset("mosi-clean").splits["test"]])
    return max(100 * f1_score(y_test, np.full_like(y_test, c), average="weighted") for c in np.unique(y_test))


def test_rows_for_every_variant_and_split(results):
    rows = results["rows"]
    assert {r["variant"] for r in rows} == VARIANTS | BASELINES
    assert [r["variant"] for r in rows[:2]] == ["logistic regression (no context)"] * 2  # the table opens with them
    for v in VARIANTS:
        assert {r["split"] for r in rows if r["variant"] == v} == {"dev", "test"}
    assert {r["variant"] for r in results["head_rows"]} == {f"MiSTER-E / {e} head" for e in ("speech", "text", "multimodal")}
    for r in rows + results["head_rows"]:
        assert 0 <= r["accuracy"] <= 100 and 0 <= r["weighted_f1"] <= 100
        assert set(r["per_class_f1"]) == {"negative", "positive"}


def test_metrics_within_tolerances(results):
    baseline = best_constant_baseline()
    data = load_dataset("mosi-clean")
    y_test = np.concatenate([d.labels for d in data.splits["test"]])
    floor = majority_baseline(data.train_labels(), y_test, data.label_names)["weighted_f1"]
    assert results["baseline_majority"] == pytest.approx(floor, abs=1e-6) and floor <= baseline
    test = {r["variant"]: r for r in results["rows"] if r["split"] == "test"}
    # models that read the transcripts (MiniLM sentence embeddings) clear the best constant predictor by a margin
    for v in ("MiSTER-E", "text expert alone", "multimodal expert alone", "monolithic", "feat-MoE", "No-Loss-MoE"):
        assert test[v]["weighted_f1"] > baseline + 15, (v, test[v]["weighted_f1"], baseline)
    # 73-d openSMILE audio alone is weak on MOSI: well below the text models, not above 75
    assert test["speech expert alone"]["weighted_f1"] < min(test["MiSTER-E"]["weighted_f1"], 75)
    assert all(r["train_utterances_per_second"] > 0 and r["seconds"] > 0 for r in results["rows"])


def test_gate_weights_and_logged_loss_terms(results):
    for variant, mean in results["gate_mean"].items():
        assert sum(mean.values()) == pytest.approx(1.0, abs=1e-3), variant
        assert all(0 <= w <= 1 for w in mean.values())
    case = results["case_dialogue"]
    assert case and all(abs(sum(float(u[f"β {e}"]) for e in ("speech", "text", "multimodal")) - 1) < 0.02 for u in case)
    history = results["histories"]["mosi-clean|MiSTER-E|0"]
    assert {"train_focal_mix", "train_focal_speech", "train_focal_text", "train_focal_multimodal", "train_contrastive",
            "train_kl", "train_total"} <= set(history[0])
    row = next(r for r in results["rows"] if r["variant"] == "MiSTER-E" and r["split"] == "test")
    best = max(history, key=lambda h: h["dev_weighted_f1"])  # first dev-best epoch is the selected one
    assert row["best_epoch"] == best["epoch"] and row["weighted_f1"] == pytest.approx(best["test_weighted_f1"])


def test_claims_have_intervals_and_verdicts(results):
    from erc_lib.claims import CLAIMS, NOT_MEASURED

    ids = {c.id for c in CLAIMS if c.notebook == "06_mister_e"}
    assert {c["id"] for c in results["claims"]} == ids
    for c in results["claims"]:
        comp = c["comparison"]
        assert comp["ci_low"] <= comp["difference"] <= comp["ci_high"] and comp["n_resamples"] >= 1000
        assert c["baseline"]["variant"] == "BiGRU (context)"
        assert c["verdict"] == NOT_MEASURED, "a one-seed smoke run never gives a verdict"
