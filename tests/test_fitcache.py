"""The fit cache (erc_lib.fitcache via run_experiment): a hit returns exactly what training
returned; a changed model argument, training argument, seed, label, feature, side input or
training code never hits an old entry; a damaged entry is reported and recomputed;
ERC_FIT_CACHE=off, cache=False and keep_models bypass it; cached rows are marked."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from erc_lib import fitcache, zoo
from erc_lib.data import Dialogue, ERCData
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.baselines import build_bigru
from erc_lib.training import TrainConfig

NAMES = ["A", "B", "C"]
MODEL_ARGS = {"hidden": 8, "input_dropout": 0.1, "dropout": 0.1}
TRAIN_ARGS = {"epochs": 2, "batch_size": 4, "lr": 0.01}
CONFIG = TrainConfig(device="cpu", progress=False)


def tiny(seed: int = 0, n=(6, 3, 3), dim: int = 6, n_classes: int = 3) -> ERCData:
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in zip(("train", "dev", "test"), n):
        dialogues = []
        for i in range(count):
            length = int(rng.integers(3, 6))
            labels = rng.integers(0, n_classes, size=length).astype(np.int64)
            labels[:n_classes] = np.arange(n_classes)
            feats = rng.normal(size=(length, dim)).astype(np.float32) + labels[:, None]
            dialogues.append(Dialogue(f"{split}{i}", [NAMES[j % 3] for j in range(length)],
                                      [f"u{j}" for j in range(length)], labels, {"text": feats}))
        splits[split] = dialogues
    return ERCData("tiny", [f"c{k}" for k in range(n_classes)], splits).validate()


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(fitcache.ENV, raising=False)
    return tmp_path / "cache" / "fits"


def spec(data, model="bigru", model_args=None, train_args=None, **kw):
    args = MODEL_ARGS if model == "bigru" else {}
    return zoo.model_spec(model, data, ["text"], model_args={**args, **(model_args or {})},
                          train_args={**TRAIN_ARGS, **(train_args or {})}, **kw)


def run(data, specs, seeds=(0,), **kw):
    return run_experiment(data, specs, list(seeds), CONFIG, progress=False, **kw)


def statuses(exp) -> list[str]:
    return list(exp.cache_status.values())


@pytest.mark.parametrize("model", ["bigru", "logreg"])
def test_hit_returns_exactly_what_training_returned(model, fresh_cache, capsys):
    data = tiny()
    first = run(data, [spec(data, model)], seeds=(0, 1))
    assert statuses(first) == ["trained", "trained"] and len(list(fresh_cache.glob("*.npz"))) == 2
    second = run(data, [spec(data, model, variant="renamed", columns={"notebook": "04"})], seeds=(0, 1))
    assert statuses(second) == ["hit", "hit"]
    assert "read from the fit cache: renamed seeds 0-1 (2 fits); trained: 0 fits" in capsys.readouterr().out
    for seed in (0, 1):
        a, b = first.fit(zoo.MODEL_NAMES[model], seed), second.fit("renamed", seed)
        for f in dataclasses.fields(a):
            if f.name != "test_outputs":
                assert getattr(a, f.name) == getattr(b, f.name), f.name
        assert list(a.dev["per_class_f1"]) == list(b.dev["per_class_f1"])  # order kept
        assert sorted(a.test_outputs) == sorted(b.test_outputs)
        for k, v in a.test_outputs.items():
            assert v.dtype == b.test_outputs[k].dtype and np.array_equal(v, b.test_outputs[k]), k
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("variant", "cached", "notebook")} for r in rows]
    assert strip(first.rows) == strip(second.rows)
    assert [r["cached"] for r in first.rows] == [False] * 4 and [r["cached"] for r in second.rows] == [True] * 4
    assert second.rows[0]["notebook"] == "04" and second.test_truth == first.test_truth
    assert second.to_json()["fit_cache"] == {"hit": 2, "trained": 0, "uncached": 0}


def _changed_label(data):
    d = copy.deepcopy(data)
    lab = d.splits["train"][0].labels
    lab[-1] = (lab[-1] + 1) % d.n_classes
    return d


def _changed_feature(data):
    d = copy.deepcopy(data)
    d.splits["dev"][1].features["text"][0, 0] += 1e-3
    return d


@pytest.mark.parametrize("change", ["model_arg", "train_arg", "seed", "label", "feature", "code"])
def test_any_change_misses(change, monkeypatch):
    data = tiny()
    base = run(data, [spec(data)])
    assert statuses(base) == ["trained"]
    assert statuses(run(data, [spec(data)])) == ["hit"]
    new_data, new_spec, seeds = data, spec(data), (0,)
    if change == "model_arg":
        new_spec = spec(data, model_args={"hidden": 9})
    elif change == "train_arg":
        new_spec = spec(data, train_args={"lr": 0.02})
    elif change == "seed":
        seeds = (1,)
    elif change == "label":
        new_data = _changed_label(data)
        new_spec = spec(new_data)
    elif change == "feature":
        new_data = _changed_feature(data)
        new_spec = spec(new_data)
    else:
        monkeypatch.setattr(fitcache, "code_hash", lambda: "0" * 64)
    assert statuses(run(new_data, [new_spec], seeds)) == ["trained"]


def test_device_kind_and_side_inputs_are_keyed():
    data = tiny()
    s = spec(data)
    key = lambda sp, **cfg: fitcache.fit_key(sp, dataclasses.replace(CONFIG, **cfg), 0, "d")
    assert key(s) != key(s, device="cuda") and key(s) == key(s, progress=True, pin_memory=False)
    bios = lambda scale: {"bios": lambda d: np.full((len(d), 2), scale, dtype=np.float32)}
    fp = lambda scale: fitcache.extra_fingerprint(data, bios(scale))
    assert fp(1.0) != fp(2.0) and fitcache.extra_fingerprint(data, None) is None
    with_bios = lambda scale: dataclasses.replace(spec(data), extra=bios(scale))
    assert statuses(run(data, [with_bios(1.0)])) == ["trained"]
    assert statuses(run(data, [with_bios(1.0)])) == ["hit"]
    assert statuses(run(data, [with_bios(2.0)])) == ["trained"]


def test_damaged_entry_is_reported_and_recomputed(fresh_cache):
    data = tiny()
    first = run(data, [spec(data)]).fit("BiGRU (context)")
    (entry,) = fresh_cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match=f"fit cache entry .*{entry.name}.* is damaged"):
        again = run(data, [spec(data)])
    assert statuses(again) == ["trained"] and again.fit("BiGRU (context)").history == first.history
    assert statuses(run(data, [spec(data)])) == ["hit"]  # stored again


def test_bypass_off_refresh_keep_models_and_no_identity(fresh_cache, monkeypatch):
    data = tiny()
    run(data, [spec(data)])
    stored = next(fresh_cache.glob("*.npz")).stat().st_mtime_ns
    assert statuses(run(data, [spec(data)], cache=False)) == ["uncached"]
    assert statuses(run(data, [spec(data)], keep_models=True)) == ["uncached"]
    assert statuses(run(data, [spec(data)], on_epoch=lambda *a: None)) == ["uncached"]
    monkeypatch.setenv(fitcache.ENV, "off")
    exp = run(data, [spec(data)])
    assert statuses(exp) == ["uncached"] and [r["cached"] for r in exp.rows] == [False, False]
    monkeypatch.setenv(fitcache.ENV, "refresh")
    assert statuses(run(data, [spec(data)])) == ["trained"]
    assert next(fresh_cache.glob("*.npz")).stat().st_mtime_ns > stored  # overwritten
    monkeypatch.setenv(fitcache.ENV, "sometimes")
    with pytest.raises(ValueError, match="ERC_FIT_CACHE='sometimes': expected one of"):
        run(data, [spec(data)])
    monkeypatch.delenv(fitcache.ENV)
    closure = RunSpec("closure", lambda: build_bigru(data, ["text"], hidden=8), ["text"], train=TRAIN_ARGS)
    assert statuses(run(data, [closure])) == ["uncached"] and statuses(run(data, [closure])) == ["uncached"]
    assert len(list(fresh_cache.glob("*.npz"))) == 1


def test_entries_are_pickle_free(fresh_cache):
    data = tiny()
    run(data, [spec(data)])
    (entry,) = fresh_cache.glob("*.npz")
    with np.load(entry, allow_pickle=False) as z:
        assert all(z[name].dtype != object for name in z.files)


def test_zoo_identity_is_declared_content():
    data = tiny()
    sdt = lambda inputs, **kw: zoo.model_spec("sdt", data, inputs, model_args={"d_model": 8, **kw})
    assert sdt("t").identity == sdt(["text"]).identity == {"model": "sdt", "model_args": {"d_model": 8},
                                                          "inputs": ["text"]}
    assert sdt("t").identity != sdt("t", n_heads=2).identity
    key = lambda s: fitcache.fit_key(s, CONFIG, 0, "d")
    assert key(sdt("t")) == key(sdt(["text"])) and key(spec(data)) != key(spec(data, model="logreg"))
