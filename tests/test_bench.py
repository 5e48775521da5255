"""Length-bucketed batching, dataset-order predictions, the speed options of the trainer, the
measured thread policy and the benchmark's JSON. No timing assertions: speed is measured by
``python -m erc_lib.bench``, not tested."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from erc_lib import bench
from erc_lib.data import Dialogue, DialogueDataset, ERCData, collate_dialogues
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.sdt import build_sdt
from erc_lib.runtime import measured_cpu_threads, seed_everything, set_cpu_threads
from erc_lib.training import (BucketBatchSampler, LengthSortedSampler, TrainConfig, _accumulate, fit, make_loader,
                              padding_share, predict)

SKEWED = [2, 3, 2, 90, 4, 3, 80, 2, 5, 3, 100, 2, 3, 4, 70, 2, 3, 2, 60, 5, 4, 3, 2, 95]


def _toy_data(n_dialogues=7, seed=0, name="toy") -> ERCData:
    rng = np.random.default_rng(seed)

    def dialogue(i, split):
        n = 2 + (i * 5) % 9
        labels = np.arange(n) % 3
        feats = {"text": (rng.normal(size=(n, 6)) + labels[:, None]).astype(np.float32)}
        return Dialogue(f"{split}{i}", [["A", "B"][j % 2] for j in range(n)], ["u"] * n, labels, feats)

    return ERCData(name, ["x", "y", "z"], {s: [dialogue(i, s) for i in range(n_dialogues)]
                                           for s in ("train", "dev", "test")}).validate()


def _epochs(sampler, n=3):
    return [list(sampler) for _ in range(n)]


# ----------------------------------------------------------------------------- samplers
def test_bucket_sampler_yields_every_index_once_per_epoch():
    sampler = BucketBatchSampler(SKEWED, batch_size=5, seed=0)
    for batches in _epochs(sampler):
        assert len(batches) == len(sampler) == math.ceil(len(SKEWED) / 5)
        assert sorted(i for b in batches for i in b) == list(range(len(SKEWED)))
        assert all(1 <= len(b) <= 5 for b in batches)


def test_bucket_sampler_is_seeded():
    a, b, other = (_epochs(BucketBatchSampler(SKEWED, 4, seed=s)) for s in (0, 0, 1))
    assert a == b
    assert a != other
    assert a[0] != a[1]  # a new order every epoch


def test_bucketing_reduces_padding_on_skewed_lengths():
    shuffled = make_loader(bench._LengthsOnly(SKEWED), 4, True, seed=0).batch_sampler
    bucketed = make_loader(bench._LengthsOnly(SKEWED), 4, True, seed=0, bucket_by_length=True).batch_sampler
    plain = np.mean([padding_share(SKEWED, list(shuffled)) for _ in range(5)])
    sorted_ = np.mean([padding_share(SKEWED, list(bucketed)) for _ in range(5)])
    assert sorted_ < plain / 2
    assert padding_share([3, 3], [[0, 1]]) == 0.0 and padding_share([1, 3], [[0, 1]]) == pytest.approx(1 / 3)


def test_eval_loader_sorts_by_length_and_predict_restores_dataset_order():
    data = _toy_data()
    ds = DialogueDataset(data.splits["test"], ["text"])
    loader = make_loader(ds, 3, False, bucket_by_length=True)
    assert isinstance(loader.sampler, LengthSortedSampler)
    assert [len(ds.dialogues[i]) for i in loader.sampler.order] == sorted(len(d) for d in ds.dialogues)
    torch.manual_seed(0)
    model = build_sdt(data, "t", d_model=8, n_heads=2).eval()
    plain = predict(model, make_loader(ds, 3, False), torch.device("cpu"), keep=("gate",))
    bucketed = predict(model, loader, torch.device("cpu"), keep=("gate",))
    truth = np.concatenate([d.labels for d in data.splits["test"]])
    assert np.array_equal(bucketed["y_true"], truth) and np.array_equal(plain["y_true"], truth)
    assert np.allclose(bucketed["logits"], plain["logits"], atol=1e-5)  # padding never changes a prediction
    assert bucketed["gate"].shape == plain["gate"].shape


def test_batch_size_one_is_the_plain_loader():
    ds = DialogueDataset(_toy_data().splits["train"], ["text"])
    a, b = make_loader(ds, 1, True, 3), make_loader(ds, 1, True, 3, bucket_by_length=True)
    assert [x.dialogue_ids for x in a] == [x.dialogue_ids for x in b]


def test_bucketing_needs_dialogues():
    with pytest.raises(ValueError, match="dialogues"):
        make_loader(torch.utils.data.TensorDataset(torch.zeros(4, 2)), 2, True, bucket_by_length=True)


# ----------------------------------------------------------------------------- fit
def _fit(data, bucket: bool, batch_size: int, seed: int = 0):
    spec = RunSpec("t", lambda: build_sdt(data, "t", d_model=8, n_heads=2), ["text"], keep=("gate",))
    cfg = TrainConfig(epochs=3, lr=3e-3, batch_size=batch_size, seed=seed, device="cpu", progress=False,
                      bucket_by_length=bucket)
    return run_experiment(data, [spec], [seed], cfg, progress=False).fit("t", seed)


def test_fit_same_metrics_with_and_without_bucketing_at_batch_size_one():
    data = _toy_data()
    off, on = _fit(data, False, 1), _fit(data, True, 1)
    assert [h["train_total"] for h in off.history] == [h["train_total"] for h in on.history]
    assert off.test == on.test and off.dev == on.dev and off.best_epoch == on.best_epoch
    assert np.array_equal(off.test_outputs["y_pred"], on.test_outputs["y_pred"])


def test_fit_with_buckets_is_seeded_and_reports_test_in_dataset_order():
    data = _toy_data()
    a, b = _fit(data, True, 3), _fit(data, True, 3)
    assert [h["train_total"] for h in a.history] == [h["train_total"] for h in b.history]
    assert np.array_equal(a.test_outputs["y_true"], np.concatenate([d.labels for d in data.splits["test"]]))
    assert len(a.epoch_train_seconds) == len(a.history)
    assert {"train_total", "dev_weighted_f1", "test_weighted_f1", "dev_selection_score"} <= set(a.history[0])


def test_loss_sums_on_device_equal_python_float_sums():
    values = torch.randn(50, generator=torch.Generator().manual_seed(0)).float()
    sums = {}
    for v in values:
        _accumulate(sums, {"total": v})
    expected = 0.0
    for v in values:
        expected += float(v)
    assert float(sums["total"]) == expected


def test_speed_options_are_checked():
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp16")
    with pytest.raises(ValueError, match="bucket_by_length"):
        TrainConfig(bucket_by_length=1)
    data = _toy_data()
    ds = DialogueDataset(data.splits["train"], ["text"])
    with pytest.raises(ValueError, match="CUDA"):
        fit(build_sdt(data, "t", d_model=8, n_heads=2), ds, ds, ds, data.label_names,
            TrainConfig(epochs=1, device="cpu", amp="bf16", progress=False))


def test_fused_optimizer_trains_and_stays_close_to_the_default():
    data = _toy_data()
    results = []
    for fused in (False, True):
        seed_everything(0)
        model = build_sdt(data, "t", d_model=8, n_heads=2)
        sets = [DialogueDataset(data.splits[s], ["text"]) for s in ("train", "dev", "test")]
        results.append(fit(model, *sets, data.label_names, TrainConfig(epochs=2, lr=1e-3, batch_size=2, device="cpu",
                                                                       progress=False, fused_optimizer=fused)))
    assert results[0].history[0]["train_total"] == pytest.approx(results[1].history[0]["train_total"], rel=1e-4)


def test_batch_lengths_stay_on_the_cpu():
    ds = DialogueDataset(_toy_data().splits["train"], ["text"])
    batch = collate_dialogues([ds[i] for i in range(3)])
    assert batch.lengths.tolist() == [len(d) for d in ds.dialogues[:3]]
    moved = batch.to("cpu", non_blocking=True)
    assert moved.lengths.device.type == "cpu" and moved.n_utterances == int(batch.mask.sum())
    by_hand = type(batch)(batch.features, batch.labels, batch.mask, batch.speakers, batch.global_speakers, batch.dialogue_ids)
    assert by_hand.n_utterances == batch.n_utterances  # without lengths: counted from the mask


# ----------------------------------------------------------------------------- threads
def test_auto_threads_reads_the_benchmark(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"best_threads": {"sdt": 2, "bigru": 1, "mister_e": 1}}))
    assert measured_cpu_threads("sdt", path)[0] == 2
    assert measured_cpu_threads(None, path)[:1] == (1,)          # the majority
    assert measured_cpu_threads("compm", path)[2] is True        # unmeasured model: the majority
    threads, note, measured = measured_cpu_threads(None, tmp_path / "missing.json")
    assert (threads, measured) == (1, False) and "missing.json" in note


def test_set_cpu_threads_auto_and_bad_values(monkeypatch, tmp_path):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("erc_lib.runtime.measured_cpu_threads", lambda model=None: (1, "test", True))
        assert set_cpu_threads("cpu", "auto") == 1
        monkeypatch.setattr("erc_lib.runtime.measured_cpu_threads", lambda model=None: (1, "none found", False))
        with pytest.warns(RuntimeWarning, match="none found"):
            set_cpu_threads("cpu", "auto", model="sdt")
        with pytest.raises(ValueError, match="auto"):
            set_cpu_threads("cpu", "many")
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------- benchmark
def test_tiny_benchmark_returns_the_documented_json(tmp_path):
    before = torch.get_num_threads()
    tiny = {"tiny": lambda model, data: ({"d_model": 8, "n_heads": 2}, {"batch_size": 2})}
    report = bench.run_benchmark(models=("sdt",), sizes=("tiny",), modes=("default", "bucketed"), threads=(1,),
                                 epochs=1, train_dialogues=4, scaling_lengths=(4, 6), scaling_steps=1,
                                 data=_toy_data(), size_fns=tiny, progress=False)
    assert torch.get_num_threads() == before
    assert set(report) == set(bench.JSON_KEYS)
    assert len(report["rows"]) == 2 and all(set(r) == set(bench.ROW_KEYS) for r in report["rows"])
    assert {r["mode"] for r in report["rows"]} == {"default", "bucketed"}
    assert all(r["train_utterances_per_s"] > 0 and r["epoch_seconds"] > 0 for r in report["rows"])
    assert [r["length"] for r in report["scaling"]] == [4, 6]
    assert report["best_threads"] == {"sdt": 1}
    assert report["speedup"][0]["mode"] == "bucketed"
    path = tmp_path / "bench.json"
    bench.write_json(path, report)
    assert json.loads(path.read_text())["torch"] == torch.__version__
    assert set(bench.tables(report)) == {"cells", "speedup", "scaling", "padding"}


def test_sections_measure_only_what_is_asked_and_merge_keeps_the_rest():
    tiny = {"notebook": lambda model, data: ({"d_model": 8, "n_heads": 2}, {"batch_size": 2})}
    common = dict(models=("sdt",), sizes=("notebook",), modes=("default",), threads=(1,), epochs=1,
                  train_dialogues=4, scaling_lengths=(4,), scaling_steps=1, data=_toy_data(), size_fns=tiny,
                  progress=False)
    cells = bench.run_benchmark(sections=("cells",), **common)
    scaling = bench.run_benchmark(sections=("scaling",), **common)
    assert cells["rows"] and not cells["scaling"] and set(cells["sections"]) == {"cells"}
    assert scaling["scaling"] and not scaling["rows"]
    merged = bench.merge_reports(cells, scaling)
    assert merged["rows"] == cells["rows"] and merged["scaling"] == scaling["scaling"]
    assert set(merged["sections"]) == {"cells", "scaling"} and set(merged) == set(bench.JSON_KEYS)
    # an old note about a section measured again gives way; the others stay
    old = {**cells, "notes": ["scaling: measured last week", "cells: kept"]}
    assert bench.merge_reports(old, {**scaling, "notes": ["scaling: today"]})["notes"] == ["cells: kept", "scaling: today"]
    with pytest.raises(ValueError, match="sections"):
        bench.run_benchmark(sections=("everything",), **common)
    with pytest.raises(ValueError, match="cuda"):
        bench.merge_reports({**cells, "device": "cuda"}, scaling)


def test_per_dataset_table_skips_a_missing_dataset_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_DATA_DIR", str(tmp_path))
    rows, notes = bench.per_dataset_epochs(["bigru"], torch.device("cpu"), 1, "off", datasets={"bigru": ("mosi",)},
                                           progress=False)
    assert rows == [] and len(notes) == 1 and "mosi skipped" in notes[0]


def test_per_dataset_table_times_real_dialogue_lengths():
    from conftest import require_dataset

    require_dataset("mosi")
    rows, notes = bench.per_dataset_epochs(["bigru"], torch.device("cpu"), 1, "off", datasets={"bigru": ("mosi",)},
                                           progress=False)
    assert notes == [] and {r["mode"] for r in rows} == {"default", "fast"}
    assert all(r["dataset"] == "mosi" and r["train_utterances"] > 1000 and r["epoch_seconds"] > 0 for r in rows)


@pytest.mark.parametrize("change", ["bucketing", "packing"])
def test_metrics_check_compares_before_and_after_a_change_over_seeds(change):
    check = bench.metrics_check(change, "sdt", "toy", seeds=2, data=_toy_data(),
                                model_args={"d_model": 8, "n_heads": 2, "d_ff": 16})
    before, after = bench.CHANGES[change][:2]
    assert (check["change"], check["before"], check["after"]) == (change, before, after)
    assert check["seeds"] == 2 and check["ci_low"] <= check["difference"] <= check["ci_high"]
    assert check["difference"] == pytest.approx(check["after_mean"] - check["before_mean"], abs=1e-6)
    assert check["reading"] in (f"{after} better", f"{before} better", "inconclusive")
    assert check["train_seconds_before"] > 0 and check["train_seconds_after"] > 0
    with pytest.raises(ValueError, match="unknown change"):
        bench.metrics_check("pruning", "sdt", "toy", data=_toy_data())


def test_merging_one_models_cells_keeps_the_other_models_rows():
    """``--models X --sections cells --merge``: X's rows are replaced, every other model's kept,
    speed-ups and best threads recomputed from the merged rows, the old header kept."""
    tiny = {"notebook": lambda model, data: ({"d_model": 8, "n_heads": 2}, {"batch_size": 2}) if model == "sdt"
            else ({"hidden": 8}, {"batch_size": 2})}
    common = dict(sizes=("notebook",), modes=("default", "fast"), threads=(1,), epochs=1, train_dialogues=4,
                  scaling_lengths=(), data=_toy_data(), size_fns=tiny, progress=False, sections=("cells",))
    old = bench.run_benchmark(models=("sdt", "bigru"), **common)
    new = bench.run_benchmark(models=("bigru",), **common)
    merged = bench.merge_reports(old, new)
    assert [r for r in merged["rows"] if r["model"] == "sdt"] == [r for r in old["rows"] if r["model"] == "sdt"]
    assert [r for r in merged["rows"] if r["model"] == "bigru"] == new["rows"]
    assert len(merged["rows"]) == len(old["rows"])
    assert {s["model"] for s in merged["speedup"]} == {"sdt", "bigru"}
    assert set(merged["best_threads"]) == {"sdt", "bigru"} and merged["date"] == old["date"]
    assert merged["sections"]["cells"] == old["sections"]["cells"]
    assert any("cells of bigru measured" in n for n in merged["notes"])
    # a run of every model's cells still replaces the whole section
    assert bench.merge_reports(new, old)["rows"] == old["rows"]


def _three_modality_data() -> ERCData:
    rng = np.random.default_rng(0)
    dims = {"text": 6, "audio": 5, "visual": 4}

    def dialogue(i, split):
        n = 3 + i % 4
        return Dialogue(f"{split}{i}", [["A", "B"][j % 2] for j in range(n)], ["u"] * n, np.arange(n) % 3,
                        {m: rng.normal(size=(n, k)).astype(np.float32) for m, k in dims.items()})

    return ERCData("toy", ["x", "y", "z"], {s: [dialogue(i, s) for i in range(6)]
                                           for s in ("train", "dev", "test")}).validate()


@pytest.mark.slow
def test_step_comparison_times_identical_batches_and_profiles_the_eager_step(monkeypatch):
    monkeypatch.setattr(bench, "paper_size", lambda model, data: ({"d_model": 8, "n_heads": 2, "d_ff": 8},
                                                                  {"batch_size": 2}))
    data = _three_modality_data()
    spec, batches = bench.step_batches("sdt", 3, data=data)
    assert len(batches) == 3 and all(set(b.features) == {"text", "audio", "visual"} for b in batches)
    again = bench.step_batches("sdt", 3, data=data)[1]
    assert all(torch.equal(a.mask, b.mask) and torch.equal(a.features["text"], b.features["text"])
               for a, b in zip(batches, again))  # seeded: every way sees the same batches
    before = torch.get_num_threads()
    rows = bench.step_comparison(models=("sdt",), ways=("eager",), steps=2, data=data, progress=False)
    assert torch.get_num_threads() == before
    padded, packed = rows   # every computation, each against the padded eager step
    assert [r["computation"] for r in rows] == list(bench.STEP_COMPUTATIONS["sdt"]) == ["padded", "packed"]
    assert padded["model"] == "sdt" and padded["way"] == "eager" and padded["steps"] == 2 and padded["speedup"] == 1.0
    assert all(r["gemm_gflops_per_s"] > 0 for r in rows)
    assert packed["speedup"] == pytest.approx(padded["seconds_per_step"] / packed["seconds_per_step"])
    for row in rows:
        assert row["seconds_per_step"] > 0 and 0 < row["matmul_share"] < 1 and 0 <= row["padding_share"] < 1
    assert bench.step_batches("sdt", 1, data=data, computation="packed")[0].build().config.pack_utterances
    assert not spec.build().config.pack_utterances     # the padded computation is the default of the table
    with pytest.raises(ValueError, match="no 'packed' computation"):
        bench.step_model_args("mister_e", "packed")
    assert "steps" in bench.tables({**{k: [] for k in bench.JSON_KEYS}, "steps": rows})
    with pytest.raises(ValueError, match="unknown way"):
        bench.time_steps(spec, batches, "jit")
    with pytest.raises(ValueError, match="warm-up"):
        bench.time_steps(spec, batches[:1], "eager")
    with pytest.raises(ValueError, match="unknown"):
        bench.step_comparison(models=("bigru",), data=data)
