"""The features notebook in smoke size: a row per feature set and speaker fold, openSMILE
dims and timings, audio-only metrics well above chance, and frozen/LoRA text rows whose
selected epoch is the dev-best one."""
import numpy as np
import pytest

from conftest import require_dataset
from erc_lib.data.emodb import load_emodb
from erc_lib.features.audio import FEATURE_DIMS, feature_set
from erc_lib.paths import data_dir


def test_features_notebook_smoke_metrics(notebook_results):
    if not (data_dir() / "emodb" / "wav").is_dir():
        pytest.skip("EmoDB not found (set ERC_DATA_DIR)")
    require_dataset("iemocap")
    res = notebook_results("02_features")
    params = res["parameters"]
    assert params["smoke"] is True
    rows = res["rows"]

    # --- audio: chance = majority-class share of the files used, recomputed from the data
    emodb = load_emodb()
    if res["emodb"]["files"] != len(emodb):
        emodb = emodb.groupby("speaker").head(12)
    assert res["emodb"]["files"] == len(emodb)
    chance = 100 * emodb.emotion.value_counts(normalize=True).max()
    assert res["emodb"]["majority_share"] == pytest.approx(chance)
    speakers = set(emodb.speaker)
    for fs in params["feature_sets"]:
        folds = [r for r in rows if r["dataset"] == "emodb" and r["variant"] == fs]
        assert {r["fold"] for r in folds} == speakers, fs             # one row per held-out speaker
        assert sum(r["n"] for r in folds) == len(emodb)
        assert all(0 <= r["weighted_f1"] <= 100 and 0 <= r["accuracy"] <= 100 for r in folds)
    summary = {s["feature_set"]: s for s in res["audio_summary"]}
    egemaps = summary["eGeMAPSv02"]
    assert egemaps["weighted_f1_mean"] == pytest.approx(np.mean([r["weighted_f1"] for r in rows
                                                                 if r.get("variant") == "eGeMAPSv02"]))
    assert egemaps["weighted_f1_mean"] > chance + 15, (egemaps, chance)  # well above chance
    assert egemaps["accuracy_mean"] > chance + 15
    for t in res["timings"]:
        assert t["dim"] == t["expected_dim"] == FEATURE_DIMS[feature_set(t["feature_set"]).name]
        assert 0 < t["seconds_per_audio_second"] < 1.0                  # faster than real time
    assert np.asarray(res["emodb"]["confusion_best"]).sum() == len(emodb)

    # --- text: the LoRA classifier (dev-selected), then every model on frozen and on tuned embeddings
    for name in params["text_datasets"]:
        test_rows = [r for r in rows if r["dataset"] == name and r["split"] == "test"]
        lora = [r for r in test_rows if r["variant"] == "LoRA utterance classifier (no context)"]
        assert len(lora) == params["lora_seeds"] and all(0 <= r["weighted_f1"] <= 100 for r in lora)
        history = res["histories"][f"{name}|LoRA utterance classifier (no context)|0"]
        assert lora[0]["best_epoch"] == max(history, key=lambda h: h["dev_weighted_f1"])["epoch"]
        assert lora[0]["weighted_f1"] == pytest.approx(
            next(h["test_weighted_f1"] for h in history if h["epoch"] == lora[0]["best_epoch"]))
        for model in params["context_models"]:
            for embeddings in ("frozen", "LoRA"):
                got = [r for r in test_rows if r["variant"] == f"{model} / {embeddings}"]
                assert len(got) == params["seeds"] and all(r["embeddings"] == embeddings for r in got), (model, embeddings)
                assert all(0 <= r["weighted_f1"] <= 100 for r in got)
        # one paired comparison per model, its interval around its difference
        comparisons = [c for c in res["comparisons"] if c["dataset"] == name]
        assert {c["a"] for c in comparisons} == {f"{m} / LoRA" for m in params["context_models"]}
        assert all(c["ci_low"] <= c["difference"] <= c["ci_high"] for c in comparisons)
