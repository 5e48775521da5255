"""Smoke run of notebooks/04_sdt_bios.ipynb: the metrics it emits are present and sane."""
from __future__ import annotations

import pytest

from conftest import assert_baselines_first_and_claims_measured, require_dataset


@pytest.fixture(scope="module")
def results(notebook_results):
    require_dataset("iemocap")
    return notebook_results("04_sdt_bios_iemocap")


def test_rows_for_sdt_and_sdt_bios(results):
    params = results["parameters"]
    assert params["smoke"] is True
    rows = results["rows"]
    for variant in ("SDT", "SDT + bios"):
        for split in ("dev", "test"):
            mine = [r for r in rows if r["variant"] == variant and r["split"] == split]
            assert len(mine) == params["seeds"], (variant, split)
            for r in mine:
                assert r["model"] == "SDT" and r["dataset"] == params["dataset"]
                assert 0.0 < r["accuracy"] <= 100.0
                assert 0.0 <= r["weighted_f1"] <= 100.0 and 0.0 <= r["macro_f1"] <= 100.0
                assert 1 <= r["best_epoch"] <= params["epochs"]
                assert set(r["per_class_f1"]) == {"happy", "sad", "neutral", "angry", "excited", "frustrated"}


def test_generation_report(results):
    gen = results["generation"]
    assert gen["n_pairs"] > 0 and gen["n_pairs"] == gen["n_cached"] + gen["n_generated"]
    assert gen["new_tokens"] > 0 and gen["tokens_per_second"] > 0
    assert gen["settings"]["greedy"] is True
    assert gen["settings"]["max_new_tokens"] == results["parameters"]["max_new_tokens"]
    assert gen["n_pairs"] - len(gen["problems"]) > 0  # most descriptions are usable
    for p in gen["problems"]:
        assert p["reason"] in {"empty", "too short", "mostly non-alphabetic", "repeating", "continues the dialogue"}
    assert results["examples"] and all(isinstance(e["description"], str) for e in results["examples"])
    assert results["bios_dim"] == 384


def test_published_numbers_are_the_seed_table(results):
    pub = {r["variant"]: (r["accuracy"], r["weighted_f1"]) for r in results["published"]}
    assert pub == {"text+audio": (58.94, 45.26), "SDT + bios": (59.26, 45.96)}
    assert all(r["kind"] == "published" for r in results["published"])


def test_histories_have_loss_curves(results):
    for variant in ("SDT", "SDT + bios"):
        history = results["histories"][f"iemocap|{variant}|0"]
        assert history and all("train_total" in h and "dev_weighted_f1" in h for h in history)


def test_table_opens_with_baselines_and_claims_have_verdicts(notebook_results):
    require_dataset("iemocap")
    assert_baselines_first_and_claims_measured(notebook_results("04_sdt_bios_iemocap"))
