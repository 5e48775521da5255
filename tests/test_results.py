"""Results files (erc_lib/results.py): a run is marked running before work and complete when written, readers refuse
anything else, the rows of a run and their mean +- std over seeds by hand, the training code each file records."""
from __future__ import annotations

import json

import pytest

from erc_lib import fitcache
from erc_lib.fit_result import FitResult
from erc_lib.results import (IncompleteResultsError, code_drift, mark_running, read_results, result_rows, results_path,
                             summarize, write_results)


def test_a_run_is_running_until_written_and_a_finished_file_is_kept_aside(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        read_results("99_x")
    write_results("99_x", {"seeds": 1}, [{"variant": "old"}], started="2026-01-01T00:00:00+00:00", note="kept")
    old = read_results("99_x")
    assert old["status"] == "complete" and old["rows"] == [{"variant": "old"}] and old["note"] == "kept"
    assert old["started"] == "2026-01-01T00:00:00+00:00" and old["parameters"] == {"seeds": 1}
    mark_running("99_x", {"seeds": 2})
    with pytest.raises(IncompleteResultsError, match="status 'running'"):
        read_results("99_x")
    running = read_results("99_x", allow_incomplete=True)
    assert running["status"] == "running" and "rows" not in running
    assert json.loads(results_path("99_x").with_name("99_x.previous.json").read_text())["rows"] == [{"variant": "old"}]
    write_results("99_x", {"seeds": 2}, [])
    new = read_results("99_x")
    assert new["started"] == running["started"] and new["rows"] == []   # the start the marker recorded


def test_result_rows_are_one_per_split_at_the_selected_epoch():
    metrics = lambda f1: {"weighted_f1": f1, "accuracy": f1 + 1, "macro_f1": f1 - 1, "per_class_f1": [f1]}
    fit = FitResult(history=[], best_epoch=3, dev=metrics(50.0), test=metrics(40.0), test_outputs={}, seconds=2.5,
                    train_utterances_per_second=100.0)
    rows = result_rows("iemocap", "SDT", "t", 7, fit, window=11)
    assert [r["split"] for r in rows] == ["dev", "test"]
    assert rows[1] == {"dataset": "iemocap", "model": "SDT", "variant": "t", "seed": 7, "split": "test",
                       "weighted_f1": 40.0, "accuracy": 41.0, "macro_f1": 39.0, "per_class_f1": [40.0],
                       "best_epoch": 3, "seconds": 2.5, "train_utterances_per_second": 100.0, "window": 11}


def test_summarize_gives_mean_and_sample_std_over_seeds_in_first_appearance_order():
    rows = [{"dataset": "d", "model": "m", "variant": v, "seed": s, "split": split, "weighted_f1": f1, "accuracy": 50.0}
            for v, s, f1 in (("b", 0, 60.0), ("b", 1, 64.0), ("a", 0, 70.0)) for split in ("dev", "test")]
    table = summarize(rows)
    assert table["variant"].tolist() == ["b", "a"]
    assert table["weighted_f1_mean"].tolist() == [62.0, 70.0]
    assert table["weighted_f1_std"].tolist() == pytest.approx([2 ** 0.5 * 2, 0.0])   # sample std of 60, 64; one seed: 0
    assert table["weighted_f1"].tolist() == ["62.00 ± 2.83", "70.00 ± 0.00"] and table["n_seeds"].tolist() == [2, 1]
    with pytest.raises(ValueError, match="no rows for split 'val'"):
        summarize(rows, split="val")


def test_every_results_file_records_the_training_code_that_computed_it(tmp_path, monkeypatch):
    """A results JSON names the training-code hash of the checkout that wrote it, so the report can
    say which stored numbers today's code would not give back."""
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    write_results("99_check", {"smoke": True}, [])
    assert read_results("99_check")["environment"]["code_hash"] == fitcache.code_hash()
    assert len(fitcache.code_hash()) == 64


def test_results_computed_by_other_code_are_named():
    today = fitcache.code_hash()
    results = {"03_sdt_iemocap": {"environment": {"code_hash": today}},
               "05_emonet_emorynlp": {"environment": {"code_hash": "0" * 64}},
               "06_mister_e_mosi-clean": {"environment": {"python": "3.11"}}}
    drift = code_drift(results)
    assert list(drift["results"]) == ["05_emonet_emorynlp", "06_mister_e_mosi-clean"]
    assert list(drift["recorded code"]) == ["000000000000", "not recorded"] and set(drift["this checkout"]) == {today[:12]}
    assert code_drift({"03_sdt_iemocap": {"environment": {"code_hash": today}}}).empty
