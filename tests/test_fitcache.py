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
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.baselines import build_bigru
from erc_lib.training import TrainConfig
from toy_data import labelled_text_data


MODEL_ARGS = {"hidden": 8, "input_dropout": 0.1, "dropout": 0.1}
TRAIN_ARGS = {"epochs": 2, "batch_size": 4, "lr": 0.01}
CONFIG = TrainConfig(device="cpu", progress=False)


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
    data = labelled_text_data()
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
    data = labelled_text_data()
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
    data = labelled_text_data()
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
    data = labelled_text_data()
    first = run(data, [spec(data)]).fit("BiGRU (context)")
    (entry,) = fresh_cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match=f"fit cache entry .*{entry.name}.* is damaged"):
        again = run(data, [spec(data)])
    assert statuses(again) == ["trained"] and again.fit("BiGRU (context)").history == first.history
    assert statuses(run(data, [spec(data)])) == ["hit"]  # stored again


def test_bypass_off_refresh_keep_models_and_no_identity(fresh_cache, monkeypatch):
    data = labelled_text_data()
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
    data = labelled_text_data()
    run(data, [spec(data)])
    (entry,) = fresh_cache.glob("*.npz")
    with np.load(entry, allow_pickle=False) as z:
        assert all(z[name].dtype != object for name in z.files)


def test_zoo_identity_is_declared_content():
    data = labelled_text_data()
    sdt = lambda inputs, **kw: zoo.model_spec("sdt", data, inputs, model_args={"d_model": 8, **kw})
    assert sdt("t").identity == sdt(["text"]).identity == {"model": "sdt", "model_args": {"d_model": 8},
                                                          "inputs": ["text"]}
    assert sdt("t").identity != sdt("t", n_heads=2).identity
    key = lambda s: fitcache.fit_key(s, CONFIG, 0, "d")
    assert key(sdt("t")) == key(sdt(["text"])) and key(spec(data)) != key(spec(data, model="logreg"))


# ============================================================================ the key, field by field
# Every field of a run's identity must change the key (else a changed run reads a stale fit);
# the fields declared not to change results (progress, pin_memory, the device index) must not
# (else every re-run retrains). Written from the module docstring, not from the code.
import os  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAST = settings(max_examples=int(os.environ.get("ERC_HYPOTHESIS_EXAMPLES", "30")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: A valid value other than the default for every TrainConfig field that can change the numbers.
OTHER_SETTING = {"epochs": 31, "lr": 2e-4, "weight_decay": 0.0, "batch_size": 8, "patience": None, "grad_clip": 1.0,
                 "optimizer": "adamw", "schedule": "linear", "warmup_epochs": 1.0, "selection_window": 3,
                 "selection": "last", "bucket_by_length": False, "amp": "bf16", "compile": True,
                 "fused_optimizer": False}
NOT_RESULT = {"progress": False, "pin_memory": False}
#: The modules declared unable to change a fit's numbers (reporting, tuning, tables, folders).
NOT_TRAINING_BY_HAND = {"report/", "bench/", "tune/", "claims.py", "claim_table.py", "verdict.py", "published.py",
                        "plots.py", "data/describe.py", "notebook.py", "results.py", "paths.py", "crossval.py", "tables.py"}
BASE = TrainConfig(device="cpu", progress=True, pin_memory=True)


def _declared(rel: str, entries: set[str]) -> bool:
    """Whether ``rel`` (a path under ``erc_lib/``) is one of ``entries``: a file named there, or a
    file inside a package named there with a trailing ``/`` (``"tune/"`` holds ``tune/study.py``)."""
    return rel in entries or any(e.endswith("/") and rel.startswith(e) for e in entries)


def _digest(s, config=BASE, seed=0, data_fp="data", extra_fp=None):
    return fitcache.digest(fitcache.fit_key(s, config, seed, data_fp, extra_fp))


def test_every_training_setting_changes_the_key_and_declared_non_result_fields_do_not():
    data = labelled_text_data()
    s = spec(data)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    # a new TrainConfig field must be declared here as changing the numbers or not
    assert set(OTHER_SETTING) | set(NOT_RESULT) | {"seed", "device"} == fields
    base = _digest(s)
    digests = {name: _digest(s, dataclasses.replace(BASE, **{name: value})) for name, value in OTHER_SETTING.items()}
    assert base not in digests.values() and len(set(digests.values())) == len(OTHER_SETTING)
    for name, value in NOT_RESULT.items():
        assert _digest(s, dataclasses.replace(BASE, **{name: value})) == base, name
    key = fitcache.fit_key(s, BASE, 3, "data")
    assert key["train"]["seed"] == 3 and "progress" not in key["train"] and "pin_memory" not in key["train"]
    assert key["train"]["lr"] == BASE.lr and key["device_kind"] == "cpu" and "device" not in key["train"]
    assert _digest(s, seed=1) != base != _digest(s, seed=2) != _digest(s, seed=1)
    assert _digest(s, data_fp="other data") != base and _digest(s, extra_fp="bios") != base


def test_device_kind_not_index_is_keyed():
    assert fitcache.device_kind("cpu") == "cpu"
    assert fitcache.device_kind("cuda:1") == fitcache.device_kind("cuda:0") == fitcache.device_kind("cuda") == "cuda"
    assert fitcache.device_kind("auto") in ("cpu", "cuda")
    s = spec(labelled_text_data())
    on = lambda device: _digest(s, dataclasses.replace(BASE, device=device))
    assert on("cuda:0") == on("cuda:1") == on("cuda") != on("cpu")


def test_spec_identity_builder_inputs_and_kept_outputs_change_the_key():
    data = labelled_text_data()
    s = spec(data)
    base = _digest(s, dataclasses.replace(BASE, **s.train))        # every digest with the spec's own settings
    variants = {
        "model argument": spec(data, model_args={"dropout": 0.2}),
        "training override": spec(data, train_args={"batch_size": 2}),
        "model": spec(data, model="logreg"),
        "identity inputs": dataclasses.replace(s, identity={**s.identity, "inputs": ["audio"]}),
        "builder": dataclasses.replace(s, build=labelled_text_data),
        "inputs": dataclasses.replace(s, inputs=("text", "audio")),
        "callable inputs": dataclasses.replace(s, inputs=labelled_text_data),
        "kept output": dataclasses.replace(s, keep=("logits_text",)),
    }
    seen = {base}
    for what, other in variants.items():
        config = dataclasses.replace(BASE, **other.train)
        d = _digest(other, config)
        assert d not in seen, what
        seen.add(d)
    renamed = dataclasses.replace(s, variant="another row name", columns={"notebook": "04"}, model="Another")
    assert _digest(renamed, dataclasses.replace(BASE, **s.train)) == base                              # the row's name and columns are not its identity
    assert fitcache.fit_key(dataclasses.replace(s, identity=None), BASE, 0, "data") is None
    key = fitcache.fit_key(s, BASE, 0, "data")
    assert key["builder"] == "erc_lib.models.baselines.build_bigru"         # the partial's function
    assert fitcache.fit_key(dataclasses.replace(s, inputs=labelled_text_data), BASE, 0, "d")["inputs"] == "toy_data.labelled_text_data"


def test_package_versions_and_the_format_change_the_key(monkeypatch):
    from importlib import metadata

    s = spec(labelled_text_data())
    key = fitcache.fit_key(s, BASE, 0, "data")
    assert key["versions"] == {name: metadata.version(name) for name in ("torch", "numpy", "scikit-learn")}
    assert key["format"] == fitcache.FORMAT and key["code"] == fitcache.code_hash()
    base = fitcache.digest(key)
    for name in ("torch", "numpy", "scikit-learn"):
        monkeypatch.setattr(fitcache, "_versions", lambda name=name: {**key["versions"], name: "0.0.1"})
        assert _digest(s) != base, name
    monkeypatch.undo()
    monkeypatch.setattr(fitcache, "FORMAT", fitcache.FORMAT + 1)
    assert _digest(s) != base


@pytest.fixture
def code_copy(tmp_path, monkeypatch):
    """A copy of every ``erc_lib/**/*.py`` that :func:`fitcache.code_hash` reads instead of the package."""
    root = Path(fitcache.__file__).resolve().parent
    copy = tmp_path / "erc_lib"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    for rel in files:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, copy / rel)
    monkeypatch.setattr(fitcache, "__file__", str(copy / "fitcache.py"))
    return copy, files, lambda: fitcache.code_hash.__wrapped__()


def test_every_training_code_file_changes_the_code_hash_and_only_those(code_copy):
    """Every ``.py`` under ``erc_lib/`` (sub-packages ``models/`` and ``features/`` included) is
    training code except the declared reporting / tuning / folder modules."""
    copy, files, code_hash = code_copy
    assert {"models/sdt.py", "models/mister_e.py", "models/compm.py", "features/text.py", "data/records.py",
            "data/iemocap.py", "data/mosi.py", "data/batches.py", "data/folds.py", "data/speakers.py",
            "training.py", "losses.py"} <= set(files)
    assert set(fitcache.NOT_TRAINING_CODE) == NOT_TRAINING_BY_HAND
    assert all(any(_declared(rel, {entry}) for rel in files) for entry in NOT_TRAINING_BY_HAND)  # each names files
    assert {"report/__init__.py", "report/html.py", "bench/__init__.py", "bench/measure.py"} <= set(files)
    base = code_hash()
    assert base == code_hash() and len(base) == 64
    for rel in files:
        original = (copy / rel).read_bytes()
        (copy / rel).write_bytes(original + b"\n# edited\n")
        changed = code_hash()
        (copy / rel).write_bytes(original)
        assert (changed != base) == (not _declared(rel, NOT_TRAINING_BY_HAND)), rel
    assert code_hash() == base


def test_moving_adding_or_removing_a_training_file_changes_the_code_hash(code_copy):
    copy, _, code_hash = code_copy
    base = code_hash()
    (copy / "models" / "sdt.py").rename(copy / "models" / "sdt_v2.py")
    moved = code_hash()
    (copy / "models" / "sdt_v2.py").rename(copy / "models" / "sdt.py")
    assert moved != base and code_hash() == base
    (copy / "features" / "new_extractor.py").write_text("X = 1\n")
    added = code_hash()
    (copy / "features" / "new_extractor.py").unlink()
    assert added != base
    (copy / "models" / "notes.txt").write_text("not code")     # only Python files are code
    assert code_hash() == base
    # the same bytes under two names are two different trees
    a, b = (copy / "ranges.py").read_bytes(), (copy / "runtime.py").read_bytes()
    (copy / "ranges.py").write_bytes(b)
    (copy / "runtime.py").write_bytes(a)
    assert code_hash() != base


def _mutations(data):
    """Every one-field change of a dataset's content that a run's numbers depend on."""
    return ("name", "label name", "dialogue id", "speaker", "text", "label", "feature value", "feature dtype",
            "feature name", "utterance order", "dialogue order", "holdout")


@st.composite
def data_change(draw):
    split = draw(st.sampled_from(["train", "dev", "test"]))
    what = draw(st.sampled_from(_mutations(None)))
    return split, what, draw(st.integers(0, 10 ** 6)), draw(st.integers(0, 10 ** 6))


def _apply(data, split, what, i, j):
    d = copy.deepcopy(data)
    dialogues = d.splits[split]
    dia = dialogues[i % len(dialogues)]
    u = j % len(dia)
    if what == "name":
        d.name = d.name + "-sdt"
    elif what == "label name":
        d.label_names[j % d.n_classes] += "x"
    elif what == "dialogue id":
        dia.dialogue_id += "x"
    elif what == "speaker":
        dia.speakers[u] = "Z"
    elif what == "text":
        dia.texts[u] = dia.texts[u] + "!"
    elif what == "label":
        dia.labels[u] = (dia.labels[u] + 1) % d.n_classes
    elif what == "feature value":
        dia.features["text"][u, j % dia.features["text"].shape[1]] += 1e-6
    elif what == "feature dtype":
        x = dia.features["text"]
        dia.features["text"] = x.astype(np.float32 if x.dtype == np.float64 else np.float64)
    elif what == "feature name":
        dia.features["audio"] = dia.features.pop("text")
    elif what == "utterance order":   # every field reversed together: alignment kept, order changed
        for attr in ("speakers", "texts"):
            setattr(dia, attr, getattr(dia, attr)[::-1])
        dia.labels = dia.labels[::-1].copy()
        dia.features = {k: v[::-1].copy() for k, v in dia.features.items()}
    elif what == "dialogue order":
        dialogues.reverse()
    else:                             # another holdout: one dialogue moves to a neighbouring split
        other = {"train": "dev", "dev": "test", "test": "train"}[split]
        d.splits[other].append(dialogues.pop(i % len(dialogues)))
    return d


@FAST
@given(change=data_change())
def test_every_field_of_the_data_changes_the_fingerprint(change):
    data = labelled_text_data()
    base = fitcache.data_fingerprint(data)
    assert fitcache.data_fingerprint(copy.deepcopy(data)) == base
    assert fitcache.data_fingerprint(_apply(data, *change)) != base, change


def test_data_fingerprint_ignores_feature_dict_order_and_reads_every_split():
    data = labelled_text_data()
    for d in data.splits["train"]:
        d.features["audio"] = d.features["text"] * 2
    base = fitcache.data_fingerprint(data)
    for d in data.splits["train"]:
        d.features = {"audio": d.features["audio"], "text": d.features["text"]}
    assert fitcache.data_fingerprint(data) == base
    for split in ("train", "dev", "test"):
        last = _apply(data, split, "label", -1, -1)        # the last utterance of the last dialogue
        assert fitcache.data_fingerprint(last) != base, split


def test_side_input_content_and_name_change_their_fingerprint():
    data = labelled_text_data()
    value = lambda target: (lambda d: np.full((len(d), 2), 2.0 if d.dialogue_id == target else 1.0, np.float32))
    base = fitcache.extra_fingerprint(data, {"bios": value(None)})
    for split in ("train", "dev", "test"):
        assert fitcache.extra_fingerprint(data, {"bios": value(f"{split}0")}) != base, split
    assert fitcache.extra_fingerprint(data, {"speaker_bios": value(None)}) != base
    assert fitcache.extra_fingerprint(data, {"bios": value(None), "more": value(None)}) != base
    assert fitcache.extra_fingerprint(data, {}) is None
    as_float64 = lambda d: np.ones((len(d), 2), np.float64)
    assert fitcache.extra_fingerprint(data, {"bios": as_float64}) == base   # read as float32, as the model sees it


def test_entry_path_names_dataset_row_seed_and_digest(fresh_cache):
    data = labelled_text_data()
    key = fitcache.fit_key(spec(data), BASE, 4, "data")
    path = fitcache.entry_path(key, "iemocap-sdt", "SDT (text+audio)")
    assert path.parent == fresh_cache
    assert path.name == f"iemocap-sdt_SDT-text-audio_s4_{fitcache.digest(key)[:32]}.npz"
    other = fitcache.fit_key(spec(data), BASE, 5, "data")
    assert fitcache.entry_path(other, "iemocap-sdt", "SDT (text+audio)") != path
    assert fitcache.entry_path(key, "X", "-MaxX (v2)-").name.startswith("X_MaxX-v2_s4_")   # only separators trimmed
    long = fitcache.entry_path(key, "d" * 60, "m")
    assert long.name.startswith("d" * 40 + "_m_s4_")


def test_a_stored_fit_is_read_back_only_under_its_own_key(fresh_cache):
    from erc_lib.training import FitResult

    data = labelled_text_data()
    key = fitcache.fit_key(spec(data), BASE, 0, "data")
    fit = FitResult([{"epoch": 1, "dev_weighted_f1": 50.0}], 1, {"weighted_f1": 50.0, "per_class_f1": {"b": 1, "a": 2}},
                    {"weighted_f1": 40.0}, {"y_true": np.array([0, 1]), "y_pred": np.array([1, 1]),
                                            "logits_text": np.ones((2, 3), np.float32)}, 2.5, 100.0,
                    config={"lr": 0.1}, epoch_train_seconds=[1.0])
    path = fitcache.entry_path(key, "tiny", "BiGRU")
    assert fitcache.write_fit(path, key, fit) == path and path.exists()
    back = fitcache.read_fit(path, key)
    assert back is not None and list(back.dev["per_class_f1"]) == ["b", "a"]
    for f in dataclasses.fields(FitResult):
        if f.name != "test_outputs":
            assert getattr(back, f.name) == getattr(fit, f.name), f.name
    assert all(np.array_equal(back.test_outputs[k], v) and back.test_outputs[k].dtype == v.dtype
               for k, v in fit.test_outputs.items()) and set(back.test_outputs) == set(fit.test_outputs)
    other = fitcache.fit_key(spec(data), BASE, 1, "data")
    assert fitcache.read_fit(path, other) is None and path.exists()      # another key: not read, not deleted
    assert fitcache.read_fit(fresh_cache / "missing.npz", key) is None
    bad = dataclasses.replace(fit, test_outputs={"y_pred": np.array([object()], dtype=object)})
    assert fitcache.write_fit(fresh_cache / "obj.npz", key, bad) is None and not (fresh_cache / "obj.npz").exists()


@pytest.mark.parametrize("value, cache, expected", [(None, True, "on"), ("", True, "on"), (" OFF ", True, "off"),
                                                    ("refresh", True, "refresh"), ("on", False, "off"),
                                                    ("Refresh", False, "off")])
def test_cache_mode_from_the_environment(value, cache, expected, monkeypatch):
    if value is not None:
        monkeypatch.setenv(fitcache.ENV, value)
    assert fitcache.mode(cache) == expected
    if cache:
        assert fitcache.mode() == expected                      # the cache is on unless switched off


@pytest.mark.parametrize("split", ["train", "dev", "test"])
@pytest.mark.parametrize("what", _mutations(None))
def test_each_kind_of_data_change_changes_the_fingerprint(what, split):
    """Every kind of change, in every split, at the last utterance of the last dialogue (the
    property test above draws the positions)."""
    data = labelled_text_data()
    assert fitcache.data_fingerprint(_apply(data, split, what, -1, -1)) != fitcache.data_fingerprint(data)


def test_digest_is_canonical_json_of_the_key():
    """Key order does not matter, NumPy scalars and arrays are read as their values, anything
    else that JSON cannot write is refused (a key must never depend on an object's address)."""
    import hashlib
    import json

    key = {"b": [0, 1, 2], "a": 1.5, "c": {"y": 1, "x": None}}
    expected = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    assert fitcache.digest(key) == expected
    assert fitcache.digest({"c": {"x": None, "y": 1}, "a": np.float32(1.5), "b": np.arange(3)}) == expected
    with pytest.raises(TypeError, match="^object is not JSON-serialisable$"):
        fitcache.digest({"a": object()})
    assert fitcache._qualname(lambda: 0).startswith("test_fitcache.test_digest_is_canonical_json_of_the_key.")
    import functools

    assert fitcache._qualname(functools.partial(labelled_text_data, 1)) == "toy_data.labelled_text_data"
    assert fitcache._qualname(object()) is None


def test_an_entry_holding_a_pickled_array_is_never_unpickled(fresh_cache):
    """An entry whose output array needs pickle (an object array, e.g. written by another tool) is
    treated as damaged: reported with the file's name, deleted, and not read."""
    import json
    import warnings as w

    key = fitcache.fit_key(spec(labelled_text_data()), BASE, 0, "data")
    path = fresh_cache / "pickled.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"key": key, "history": [], "best_epoch": 1, "dev": {}, "test": {}, "seconds": 1.0,
            "train_utterances_per_second": 1.0, "config": {}, "epoch_train_seconds": [], "outputs": ["y_pred"]}
    np.savez(path, meta=np.array(fitcache._json(meta)), out__y_pred=np.array([{"a": 1}], dtype=object))
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        assert fitcache.read_fit(path, key) is None
    (warning,) = [c for c in caught if issubclass(c.category, UserWarning)]
    assert str(warning.message).startswith(f"fit cache entry {path} is damaged (ValueError: ")
    assert str(warning.message).endswith("); deleting it and training this run again")
    assert not path.exists()


def test_object_arrays_are_hashed_by_content_not_by_address():
    """An object array (ragged values) is hashed by its values: two equal arrays built separately
    give one hash, a changed value another."""
    import hashlib

    def h(x):
        out = hashlib.sha256()
        fitcache._hash_array(out, x)
        return out.hexdigest()

    ragged = lambda last: np.array([[1, 2], [3, last]] + [[4]], dtype=object)
    assert h(ragged(5)) == h(ragged(5)) != h(ragged(6))
    assert h(np.arange(3, dtype=np.int64)) != h(np.arange(3, dtype=np.int32)) != h(np.arange(3).reshape(3, 1))
