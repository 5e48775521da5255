"""The fit cache: one trained run (a spec, a seed) stored by content and read back instead of
retrained.

:func:`erc_lib.experiment.run_experiment` asks :func:`fit_key` for a run's key before training
and :func:`read_fit` for a stored result; after training it stores the result with
:func:`write_fit`. The same row in two notebooks (IEMOCAP's baselines and tuned SDT in 02, 03
and 04), or an unchanged row on a re-run, is then trained once.

What is keyed (:func:`fit_key`; SHA-256 of the canonical JSON of):

* the spec's declared identity (:attr:`erc_lib.experiment.RunSpec.identity`, filled by
  :func:`erc_lib.zoo.model_spec`: model name, model arguments, inputs, e.g. the encoder's
  fingerprint for a fine-tuned encoder), the builder's qualified name, the spec's inputs and kept
  outputs, and the content of its side inputs (``extra``, e.g. bios vectors: every value
  :func:`extra_fingerprint` reads for every dialogue);
* every :class:`erc_lib.training.TrainConfig` field that can change the numbers (all but
  ``progress``, ``pin_memory`` and ``device``), the seed, and the device *kind* (``cpu`` or
  ``cuda``; not the index, not the GPU model);
* the dataset's fingerprint (:func:`data_fingerprint`: name, label names, and per split every
  dialogue's id, speakers, texts, labels and feature arrays);
* the code that trains (:func:`code_hash`: every ``erc_lib/**/*.py`` except the modules in
  :data:`NOT_TRAINING_CODE`) and the versions of torch, numpy and scikit-learn.

A spec without an identity (a hand-written :class:`~erc_lib.experiment.RunSpec` whose builder is a
closure) is never cached: its content cannot be read from the spec.

Storage: ``<cache_dir>/fits/<dataset>_<model>_s<seed>_<hash>.npz``, written atomically
(:func:`erc_lib.paths.atomic_write`), pickle-free: the test outputs as arrays and everything else
(the key itself, metrics, history, times) as one JSON string, read with
``np.load(allow_pickle=False)``. Trained weights are not stored.

Switch: ``ERC_FIT_CACHE`` = ``on`` (default), ``off`` (neither read nor write) or ``refresh``
(train, and overwrite what is stored; ``python -m erc_lib.report --force`` sets it).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import warnings
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np

from .data import SPLITS, ERCData
from .paths import atomic_write, cache_dir
from .runtime import resolve_device
from .training import FitResult, TrainConfig

#: The environment variable that switches the cache, and its values.
ENV = "ERC_FIT_CACHE"
MODES = ("on", "off", "refresh")
#: Bumped when the stored layout changes (old entries are then never read).
FORMAT = 1
#: Modules of ``erc_lib`` that cannot change a fit's numbers (reporting, tuning, benchmarking,
#: tables, folders; an entry ending in ``/`` is a whole package); every other module is in :func:`code_hash`.
NOT_TRAINING_CODE = ("report/", "bench/", "tune/", "claims.py", "claim_table.py", "verdict.py", "published.py",
                     "plots.py", "data/describe.py", "notebook.py", "results.py", "paths.py", "crossval.py", "tables.py")
#: TrainConfig fields that never change the numbers (the device enters the key as its kind).
_NOT_RESULT_FIELDS = ("progress", "pin_memory", "device")
_PACKAGES = ("torch", "numpy", "scikit-learn")
_OUT = "out__"  # prefix of the test-output arrays in an entry


def mode(cache: bool = True) -> str:
    """``"off"`` when ``cache`` is False, else ``$ERC_FIT_CACHE`` (default ``"on"``).

    Raises:
        ValueError: ``ERC_FIT_CACHE`` is set to something other than :data:`MODES`.
    """
    value = os.environ.get(ENV, "on").strip().lower() or "on"
    if value not in MODES:
        raise ValueError(f"{ENV}={os.environ[ENV]!r}: expected one of {MODES}")
    return value if cache else "off"


def is_training_code(rel: str) -> bool:
    """Whether the file ``rel`` (a path under ``erc_lib/``, e.g. ``"models/sdt.py"``) is training code:
    not named in :data:`NOT_TRAINING_CODE`, where an entry ending in ``/`` names a whole package."""
    return not any(rel == entry or (entry.endswith("/") and rel.startswith(entry)) for entry in NOT_TRAINING_CODE)


@functools.lru_cache(maxsize=None)
def code_hash() -> str:
    """SHA-256 over the path and bytes of every ``erc_lib/**/*.py`` except
    :data:`NOT_TRAINING_CODE` (once per process)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not is_training_code(rel):
            continue
        h.update(rel.encode() + b"\x00" + path.read_bytes() + b"\x00")
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _versions() -> dict:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _hash_array(h, x) -> None:
    x = np.ascontiguousarray(x)
    h.update(f"{x.dtype.str}{x.shape}".encode())
    h.update(x.data if x.dtype != object else repr(x.tolist()).encode())


def data_fingerprint(data: ERCData) -> str:
    """SHA-256 over ``data``'s name, label names, cross-validation fold (1 .. k-1; fold 0 is the
    standard split, the same key as the dataset as loaded) and, per split in order, every dialogue's id,
    speakers, texts, labels and feature arrays (sorted by name). One pass over the arrays
    (IEMOCAP with three modalities: well under a second)."""
    h = hashlib.sha256(json.dumps([data.name, list(data.label_names)]).encode())
    if data.fold:  # folds 1 .. k-1 (erc_lib.data.folds); fold 0 is the standard split and shares its fits
        h.update(f"\x00fold:{data.fold}".encode())
    for split in SPLITS:
        h.update(f"\x00split:{split}:{len(data.splits[split])}".encode())
        for d in data.splits[split]:
            h.update(json.dumps([d.dialogue_id, list(d.speakers), list(d.texts), sorted(d.features)]).encode())
            _hash_array(h, np.asarray(d.labels))
            for name in sorted(d.features):
                _hash_array(h, d.features[name])
    return h.hexdigest()


def extra_fingerprint(data: ERCData, extra: dict | None) -> str | None:
    """SHA-256 over what every side input of ``extra`` (``{name: fn(dialogue) -> array}``,
    :class:`erc_lib.data.DialogueDataset`) gives for every dialogue of ``data``; None without
    side inputs."""
    if not extra:
        return None
    h = hashlib.sha256()
    for name in sorted(extra):
        h.update(f"\x00extra:{name}".encode())
        for split in SPLITS:
            for d in data.splits[split]:
                _hash_array(h, np.asarray(extra[name](d), dtype=np.float32))
    return h.hexdigest()


def _qualname(fn) -> str | None:
    fn = getattr(fn, "func", fn)  # functools.partial
    name = getattr(fn, "__qualname__", None)
    return f"{getattr(fn, '__module__', '?')}.{name}" if name else None


def device_kind(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a :class:`TrainConfig` device (``auto`` resolved)."""
    try:
        return resolve_device(device).type
    except Exception:  # noqa: BLE001 - the trainer raises the proper error; the key only needs a name
        return str(device).split(":")[0]


def fit_key(spec, config: TrainConfig, seed: int, data_fp: str, extra_fp: str | None = None) -> dict | None:
    """The content of one run's key (see the module docstring), or None when ``spec`` (an
    :class:`erc_lib.experiment.RunSpec`) has no identity. ``config`` is the run's full
    configuration (spec overrides applied)."""
    identity = getattr(spec, "identity", None)
    if identity is None:
        return None
    train = {k: v for k, v in asdict(config).items() if k not in _NOT_RESULT_FIELDS}
    inputs = _qualname(spec.inputs) if callable(spec.inputs) else list(spec.inputs)
    return {"format": FORMAT, "identity": identity, "builder": _qualname(spec.build), "inputs": inputs,
            "keep": list(spec.keep), "extra": extra_fp, "train": {**train, "seed": int(seed)},
            "device_kind": device_kind(config.device), "data": data_fp, "code": code_hash(), "versions": _versions()}


def _json(payload, sort_keys: bool = True) -> str:
    def default(x):
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        raise TypeError(f"{type(x).__name__} is not JSON-serialisable")

    return json.dumps(payload, sort_keys=sort_keys, default=default)


def digest(key: dict) -> str:
    """SHA-256 hex of the canonical JSON of ``key``."""
    return hashlib.sha256(_json(key).encode()).hexdigest()


def entry_path(key: dict, dataset: str, label: str) -> Path:
    """``<cache_dir>/fits/<dataset>_<label>_s<seed>_<digest[:32]>.npz`` (names readable, the digest
    what makes it unique)."""
    slug = lambda s: re.sub(r"[^A-Za-z0-9_.-]+", "-", str(s)).strip("-")[:40]
    return cache_dir() / "fits" / f"{slug(dataset)}_{slug(label)}_s{key['train']['seed']}_{digest(key)[:32]}.npz"


def read_fit(path: Path, key: dict) -> FitResult | None:
    """The :class:`FitResult` stored at ``path`` under ``key``; None when nothing usable is
    there: missing, stored under another key, or damaged (a warning names the file, which is
    deleted so the run is trained and stored again). Never unpickles."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            outputs = {name: z[_OUT + name] for name in meta["outputs"]}
        if meta["key"] != json.loads(_json(key)):
            return None
        return FitResult(history=meta["history"], best_epoch=meta["best_epoch"], dev=meta["dev"], test=meta["test"],
                         test_outputs=outputs, seconds=meta["seconds"],
                         train_utterances_per_second=meta["train_utterances_per_second"], config=meta["config"],
                         epoch_train_seconds=meta["epoch_train_seconds"])
    except Exception as e:  # noqa: BLE001 - any damage: truncated zip, missing arrays, bad JSON
        warnings.warn(f"fit cache entry {path} is damaged ({type(e).__name__}: {e}); deleting it and "
                      "training this run again", stacklevel=2)
        path.unlink(missing_ok=True)
        return None


def write_fit(path: Path, key: dict, fit: FitResult) -> Path | None:
    """Store ``fit`` under ``key`` at ``path`` atomically; None (nothing written) when a test
    output is not a plain numeric array (it could not be read back without pickle)."""
    outputs = {name: np.asarray(v) for name, v in fit.test_outputs.items()}
    if any(v.dtype == object for v in outputs.values()):
        return None
    meta = {"key": key, "history": fit.history, "best_epoch": fit.best_epoch, "dev": fit.dev, "test": fit.test,
            "seconds": fit.seconds, "train_utterances_per_second": fit.train_utterances_per_second,
            "config": fit.config, "epoch_train_seconds": fit.epoch_train_seconds, "outputs": sorted(outputs)}
    arrays = {_OUT + name: v for name, v in outputs.items()}
    return atomic_write(path, lambda tmp: np.savez(tmp, meta=np.array(_json(meta, sort_keys=False)), **arrays))
