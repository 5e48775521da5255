"""The benchmark's measurements (erc_lib.bench.measure): the per-dataset epoch table and the metrics
checks of a change of computation."""
from __future__ import annotations

import pytest
import torch

from conftest import require_dataset
from erc_lib.bench.measure import CHANGES, metrics_check, per_dataset_epochs
from toy_models import spread_data


def test_per_dataset_table_skips_a_missing_dataset_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_DATA_DIR", str(tmp_path))
    rows, notes = per_dataset_epochs(["bigru"], torch.device("cpu"), 1, "off", datasets={"bigru": ("mosi",)},
                                     progress=False)
    assert rows == [] and len(notes) == 1 and "mosi skipped" in notes[0]


def test_per_dataset_table_times_real_dialogue_lengths():
    require_dataset("mosi")
    rows, notes = per_dataset_epochs(["bigru"], torch.device("cpu"), 1, "off", datasets={"bigru": ("mosi",)},
                                     progress=False)
    assert notes == [] and {r["mode"] for r in rows} == {"default", "fast"}
    assert all(r["dataset"] == "mosi" and r["train_utterances"] > 1000 and r["epoch_seconds"] > 0 for r in rows)


@pytest.mark.parametrize("change", ["bucketing", "packing"])
def test_metrics_check_compares_before_and_after_a_change_over_seeds(change):
    check = metrics_check(change, "sdt", "toy", seeds=2, data=spread_data(),
                          model_args={"d_model": 8, "n_heads": 2, "d_ff": 16})
    before, after = CHANGES[change][:2]
    assert (check["change"], check["before"], check["after"]) == (change, before, after)
    assert check["seeds"] == 2 and check["ci_low"] <= check["difference"] <= check["ci_high"]
    assert check["difference"] == pytest.approx(check["after_mean"] - check["before_mean"], abs=1e-6)
    assert check["reading"] in (f"{after} better", f"{before} better", "inconclusive")
    assert check["train_seconds_before"] > 0 and check["train_seconds_after"] > 0
    with pytest.raises(ValueError, match="unknown change"):
        metrics_check("pruning", "sdt", "toy", data=spread_data())
