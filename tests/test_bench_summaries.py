"""The benchmark's summaries (erc_lib/bench/summaries.py): speed-ups against the default mode and the best thread
count per model, by hand on constructed rows."""
from __future__ import annotations

import pytest

from erc_lib.bench.summaries import best_threads, speedups


def _row(model, size, mode, threads, epoch_seconds=1.0, utterances_per_s=100.0):
    return {"model": model, "size": size, "mode": mode, "threads": threads, "epoch_seconds": epoch_seconds,
            "train_utterances_per_s": utterances_per_s}


def test_speedup_is_default_epoch_seconds_over_the_modes_of_the_same_cell():
    rows = [_row("sdt", "paper", "default", 1, 4.0), _row("sdt", "paper", "fast", 1, 2.0),
            _row("sdt", "paper", "fast", 2, 1.0),               # no default at 2 threads: no speed-up
            _row("bigru", "paper", "compiled", 1, 8.0), _row("bigru", "paper", "default", 1, 2.0)]
    assert speedups(rows) == [
        {"model": "sdt", "size": "paper", "threads": 1, "mode": "fast", "epoch_seconds": 2.0,
         "default_epoch_seconds": 4.0, "speedup": 2.0},
        {"model": "bigru", "size": "paper", "threads": 1, "mode": "compiled", "epoch_seconds": 8.0,
         "default_epoch_seconds": 2.0, "speedup": 0.25}]


def test_best_threads_averages_relative_throughput_over_cells_and_ties_go_to_fewer_threads():
    # sdt: cell (paper, default) 1 thread 100, 2 threads 200 -> 0.5, 1.0; cell (notebook, default) 90, 60 -> 1.0, 2/3
    #      means: 1 thread 0.75, 2 threads 0.833 -> 2 threads
    # bigru: 1 and 2 threads equally fast -> 1 thread; mister_e: measured with 4 threads only -> 4
    rows = [_row("sdt", "paper", "default", 1, utterances_per_s=100), _row("sdt", "paper", "default", 2, utterances_per_s=200),
            _row("sdt", "notebook", "default", 1, utterances_per_s=90), _row("sdt", "notebook", "default", 2, utterances_per_s=60),
            _row("bigru", "paper", "default", 2, utterances_per_s=50), _row("bigru", "paper", "default", 1, utterances_per_s=50),
            _row("mister_e", "paper", "default", 4, utterances_per_s=10)]
    best, detail = best_threads(rows)
    assert best == {"sdt": 2, "bigru": 1, "mister_e": 4}
    assert detail[0]["threads_tested"] == [1, 2]
    assert detail[0]["relative_throughput"] == {1: 0.75, 2: pytest.approx(0.833)}
    assert best_threads([]) == ({}, [])
