"""The benchmark's run (erc_lib.bench.run): the documented JSON of a tiny run, sections and merging (the
thread policy that reads the run's best thread counts: tests/test_runtime.py). No timing assertions:
speed is measured by ``python -m erc_lib.bench``, not tested."""
from __future__ import annotations

import json

import pytest
import torch

from erc_lib.bench.measure import ROW_KEYS
from erc_lib.bench.run import JSON_KEYS, merge_reports, run_benchmark
from erc_lib.bench.summaries import tables
from erc_lib.paths import write_json
from toy_models import spread_data


def test_tiny_benchmark_returns_the_documented_json(tmp_path):
    before = torch.get_num_threads()
    tiny = {"tiny": lambda model, data: ({"d_model": 8, "n_heads": 2}, {"batch_size": 2})}
    report = run_benchmark(models=("sdt",), sizes=("tiny",), modes=("default", "bucketed"), threads=(1,),
                           epochs=1, train_dialogues=4, scaling_lengths=(4, 6), scaling_steps=1,
                           data=spread_data(), size_fns=tiny, progress=False)
    assert torch.get_num_threads() == before
    assert set(report) == set(JSON_KEYS)
    assert len(report["rows"]) == 2 and all(set(r) == set(ROW_KEYS) for r in report["rows"])
    assert {r["mode"] for r in report["rows"]} == {"default", "bucketed"}
    assert all(r["train_utterances_per_s"] > 0 and r["epoch_seconds"] > 0 for r in report["rows"])
    assert [r["length"] for r in report["scaling"]] == [4, 6]
    assert report["best_threads"] == {"sdt": 1}
    assert report["speedup"][0]["mode"] == "bucketed"
    path = tmp_path / "bench.json"
    write_json(path, report)
    assert json.loads(path.read_text())["torch"] == torch.__version__
    assert set(tables(report)) == {"cells", "speedup", "scaling", "padding"}


def test_sections_measure_only_what_is_asked_and_merge_keeps_the_rest():
    tiny = {"notebook": lambda model, data: ({"d_model": 8, "n_heads": 2}, {"batch_size": 2})}
    common = dict(models=("sdt",), sizes=("notebook",), modes=("default",), threads=(1,), epochs=1,
                  train_dialogues=4, scaling_lengths=(4,), scaling_steps=1, data=spread_data(), size_fns=tiny,
                  progress=False)
    cells = run_benchmark(sections=("cells",), **common)
    scaling = run_benchmark(sections=("scaling",), **common)
    assert cells["rows"] and not cells["scaling"] and set(cells["sections"]) == {"cells"}
    assert scaling["scaling"] and not scaling["rows"]
    merged = merge_reports(cells, scaling)
    assert merged["rows"] == cells["rows"] and merged["scaling"] == scaling["scaling"]
    assert set(merged["sections"]) == {"cells", "scaling"} and set(merged) == set(JSON_KEYS)
    # an old note about a section measured again gives way; the others stay
    old = {**cells, "notes": ["scaling: measured last week", "cells: kept"]}
    assert merge_reports(old, {**scaling, "notes": ["scaling: today"]})["notes"] == ["cells: kept", "scaling: today"]
    with pytest.raises(ValueError, match="sections"):
        run_benchmark(sections=("everything",), **common)
    with pytest.raises(ValueError, match="cuda"):
        merge_reports({**cells, "device": "cuda"}, scaling)


def test_merging_one_models_cells_keeps_the_other_models_rows():
    """``--models X --sections cells --merge``: X's rows are replaced, every other model's kept,
    speed-ups and best threads recomputed from the merged rows, the old header kept."""
    tiny = {"notebook": lambda model, data: ({"d_model": 8, "n_heads": 2}, {"batch_size": 2}) if model == "sdt"
            else ({"hidden": 8}, {"batch_size": 2})}
    common = dict(sizes=("notebook",), modes=("default", "fast"), threads=(1,), epochs=1, train_dialogues=4,
                  scaling_lengths=(), data=spread_data(), size_fns=tiny, progress=False, sections=("cells",))
    old = run_benchmark(models=("sdt", "bigru"), **common)
    new = run_benchmark(models=("bigru",), **common)
    merged = merge_reports(old, new)
    assert [r for r in merged["rows"] if r["model"] == "sdt"] == [r for r in old["rows"] if r["model"] == "sdt"]
    assert [r for r in merged["rows"] if r["model"] == "bigru"] == new["rows"]
    assert len(merged["rows"]) == len(old["rows"])
    assert {s["model"] for s in merged["speedup"]} == {"sdt", "bigru"}
    assert set(merged["best_threads"]) == {"sdt", "bigru"} and merged["date"] == old["date"]
    assert merged["sections"]["cells"] == old["sections"]["cells"]
    assert any("cells of bigru measured" in n for n in merged["notes"])
    # a run of every model's cells still replaces the whole section
    assert merge_reports(new, old)["rows"] == old["rows"]


