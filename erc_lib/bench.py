"""Speed and scale of every model: ``python -m erc_lib.bench``.

What it measures, for each model (``logreg``, ``bigru``, ``sdt``, ``sdt_bios`` = SDT with
speaker bios, ``compm`` = CoMPM/EmoNet frozen, ``compm_finetune``, ``mister_e``) at two sizes
(:data:`SIZES`: the notebook's, from ``configs/defaults.yaml``, and the paper's), under each
training mode (:data:`MODES`: ``default`` = plain shuffled batches, the trainer before length
bucketing; ``bucketed``; ``fast`` = bucketed + fused optimizer, today's defaults) and each CPU
thread count:

* training utterances per second (forward + backward + optimizer step; a one-step warm-up
  run of the same model is excluded) and the seconds per epoch over IEMOCAP's training set,
* inference utterances per second (:func:`erc_lib.training.predict` over the training set),
* peak memory: resident set size on the CPU (sampled by psutil, or the process's peak from
  ``resource`` without it), ``torch.cuda.max_memory_allocated`` on CUDA,
* the padding share (padded positions / all positions) of the mode's training batches,

on IEMOCAP-shaped data: the real IEMOCAP dialogues (lengths, speakers, labels, texts) with
random features of the widths the models read (:data:`FEATURE_DIMS`: MiniLM text, IS10 audio).
A scaling table gives the seconds per training step for batches of dialogues of 25 ... 400
utterances (attention grows quadratically, recurrences linearly). A per-dataset table gives
the seconds per epoch on the real dialogue lengths of each dataset a model runs on in the
notebooks (:data:`DATASET_MODELS`; notebook size, one thread, ``default`` and ``fast`` modes),
and metrics checks train real-feature runs before and after a change of computation
(:data:`CHANGES`: length bucketing; SDT's position-wise layers on real utterances only) over
several seeds and report the difference of test weighted F1 with a paired bootstrap 95%
interval, so the effect of each change on results can be read against seed noise. A step table
(``steps``, :func:`step_comparison`) times single training steps of SDT (text, audio and
visual: nine source -> target transformers) and MiSTER-E at the papers' sizes on identical
IEMOCAP-shaped batches, each computation (:data:`STEP_COMPUTATIONS`: padded, packed) and way a
step can run (:data:`STEP_WAYS`: eager, ``torch.compile``), with the share of the eager step
spent in matrix multiplications (torch.profiler), which bounds what fusing the other operations
can gain. The best thread count of
each model goes into the JSON (``best_threads``), which ``runtime.set_cpu_threads(device,
"auto")`` reads from ``results/reference/bench.json``.

Every run goes through :func:`erc_lib.experiment.run_experiment` and
:func:`erc_lib.training.fit`, the models are built by :func:`erc_lib.zoo.model_spec`, so the
benchmark times the code the notebooks run.

Usage::

    python -m erc_lib.bench --quick                       # < 3 min on a 2-core CPU (see below)
    python -m erc_lib.bench --out results/reference/bench.json   # the reference table (~1 h on CPU)
    python -m erc_lib.bench --device cuda --amp bf16      # the same on a GPU
    python -m erc_lib.bench --models sdt mister_e --sizes paper --threads 1 --scaling   # no scaling table
    python -m erc_lib.bench --sections datasets metrics --merge --out results/reference/bench.json
    python -m erc_lib.bench --models compm_finetune --sections cells --modes fast --threads 1 --epochs 1 \
        --merge --out results/reference/bench.json          # one model's cells into the reference file

``--quick``: every model but ``compm_finetune``, modes ``default`` and ``fast``, 32 training
dialogues (spread over the length distribution), one timed epoch, one thread, the scaling
table at the notebook size only. The full run: every model, mode and size, all training
dialogues (``compm_finetune``: ``--finetune-dialogues``, default 3 = IEMOCAP's shortest, median
and longest training dialogues, 8 / 47 / 94 utterances, with one dev and one test dialogue), two
timed epochs, 1 and all threads. ``compm_finetune`` fine-tunes MiniLM (both encoders, CoMPM's
recipe) with the encoders in gradient-checkpointed chunks
(:attr:`erc_lib.models.compm.CoMPMConfig.chunk_tokens`), so its peak memory stays bounded on a
CPU (without chunks, IEMOCAP's longest dialogue took more than 23 GB of RAM; chunked, 1.8 GB). Busy machines make
every number noisy (the load average is recorded); two threads on a busy 2-core machine are
many times slower than one.

JSON (``--out``, default ``results/bench.json``; keys in :data:`JSON_KEYS`): ``date``,
``device``, ``device_name``, ``torch``, ``python``, ``cpu_count``, ``threads`` (the counts
measured), ``quick``, ``amp``, ``load_average`` (before, after: a busy machine shows here),
``data`` (what was measured on), ``modes`` (TrainConfig overrides of each mode), ``sizes``
(model and train overrides per model and size), ``rows`` (one per model x size x mode x
threads, keys :data:`ROW_KEYS`), ``padding`` (share per batch size and mode), ``speedup``
(epoch seconds of each mode against ``default``), ``scaling`` (seconds per step per length),
``best_threads`` (model -> thread count), ``best_threads_detail``, ``per_dataset`` (epoch
seconds per dataset, model and mode), ``metrics_checks`` (one entry per checked change, model and
dataset), ``steps`` (one row per model, computation and way: seconds per step, warm-up seconds,
speed-up against the padded eager step, matmul share), ``sections`` (section -> date it was measured), ``notes``, ``seconds``.

``--sections`` picks what to measure (:data:`SECTIONS`; default: all, ``--quick``: ``cells``
and ``scaling``); ``--merge`` keeps the other sections of an existing ``--out`` file, so one
section can be re-measured without the hour of the rest. Cells of only some models
(``--models compm_finetune --sections cells --merge``) replace those models' rows and keep the
others' (:func:`merge_reports`).
"""
from __future__ import annotations

import argparse
import copy
import itertools
import os
import platform
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from .data import DataError, Dialogue, ERCData, load_dataset
from .experiment import RunSpec, interval_reading, paired_difference, run_experiment
from .paths import results_dir, write_json
from .runtime import resolve_device
from .training import TrainConfig, fit, make_loader, make_optimizer, padding_share, predict
from . import zoo

MODELS = ("logreg", "bigru", "sdt", "sdt_bios", "compm", "compm_finetune", "mister_e")
#: Models ``--quick`` runs (``compm_finetune`` trains two transformer encoders: minutes per long dialogue on a CPU).
QUICK_MODELS = ("logreg", "bigru", "sdt", "sdt_bios", "compm", "mister_e")
#: Models of the scaling table (the sequence models whose cost grows with dialogue length).
SCALING_MODELS = ("bigru", "sdt", "mister_e", "compm")
SCALING_LENGTHS = (25, 50, 100, 200, 400)
#: CoMPM's speaker memory holds every earlier turn of the speaker: (B, L, L/2, D) floats.
COMPM_MAX_SCALING_LENGTH = 100
#: Random feature widths: all-MiniLM-L6-v2 text vectors, openSMILE IS10 audio (the SDT authors' IEMOCAP audio).
FEATURE_DIMS = {"text": 384, "audio": 1582}
BIOS_DIM = 384
#: Training modes: :class:`~erc_lib.training.TrainConfig` overrides. ``default`` is the trainer
#: as it was before length bucketing; ``fast`` is today's default (bucketed batches, fused Adam).
MODES = {
    "default": {"bucket_by_length": False, "fused_optimizer": False},
    "bucketed": {"bucket_by_length": True, "fused_optimizer": False},
    "fast": {"bucket_by_length": True, "fused_optimizer": True},
}
ROW_KEYS = ("model", "size", "mode", "threads", "batch_size", "parameters", "train_dialogues",
            "train_utterances_per_s", "inference_utterances_per_s", "epoch_seconds", "peak_memory_mb",
            "memory", "padding_share")
JSON_KEYS = ("date", "device", "device_name", "torch", "python", "cpu_count", "threads", "quick", "amp",
             "load_average", "data", "modes", "sizes", "rows", "padding", "speedup", "scaling", "best_threads",
             "best_threads_detail", "per_dataset", "metrics_checks", "steps", "sections", "notes", "seconds")
#: What a run can measure: the model x size x mode x threads ``cells`` (rows, speedup, padding,
#: best threads), the ``scaling`` table, the ``datasets`` table, the ``metrics`` checks (bucketing,
#: packing) and the per-``steps`` table.
SECTIONS = ("cells", "scaling", "datasets", "metrics", "steps")
#: The report keys each section fills (``--merge`` replaces only these).
SECTION_KEYS = {"cells": ("rows", "padding", "speedup", "best_threads", "best_threads_detail"),
                "scaling": ("scaling",), "datasets": ("per_dataset",), "metrics": ("metrics_checks",),
                "steps": ("steps",)}
#: The datasets each sequence model runs on in the notebooks (per-dataset epoch table).
DATASET_MODELS = {"bigru": ("iemocap", "meld", "emorynlp", "mosi"), "sdt": ("iemocap", "meld", "mosi"),
                  "mister_e": ("mosi",), "compm": ("emorynlp", "meld")}
#: Does a change of how a model computes change its results? Each check trains a model on real
#: features, as in notebooks 03 and 06, ``before`` and ``after`` the change (:func:`metrics_check`).
#: A change is ``(before, after, model_args of each, train_args of each)``.
CHANGES = {
    "bucketing": ("default", "fast", ({}, {}), (MODES["default"], MODES["fast"])),
    "packing": ("padded", "packed", ({"pack_utterances": False}, {"pack_utterances": True}), (MODES["fast"], MODES["fast"])),
}
#: The metrics checks run by the ``metrics`` section: (change, model, dataset).
METRICS_CHECKS = (("bucketing", "sdt", "iemocap"), ("bucketing", "mister_e", "mosi"), ("packing", "sdt", "iemocap"))

# ----------------------------------------------------------------------------- sizes
SizeFn = Callable[[str, ERCData], tuple[dict, dict]]


def notebook_size(model: str, data: ERCData) -> tuple[dict, dict]:
    """No overrides: the notebook's settings (``configs/defaults.yaml`` via :func:`erc_lib.zoo.settings`)."""
    return {}, {}


def paper_size(model: str, data: ERCData) -> tuple[dict, dict]:
    """``(model_args, train_args)`` overrides for the papers' sizes.

    SDT: d_model 1024, 8 heads, d_ff 1024, batch 16 (IEMOCAP). MiSTER-E: CAN 1024 (BiGRU
    2 x 512), 3 GRU layers, batch 16. CoMPM frozen: CoM width = the encoder's (the text
    features' width) and the GRU as wide (CoMPM). BiGRU baseline: 512 per direction (as
    MiSTER-E's BiGRU). CoMPM fine-tuned: the encoder fixes the width (no override).
    Logistic regression has no size.
    """
    if model in ("sdt", "sdt_bios"):
        return {"d_model": 1024, "n_heads": 8, "d_ff": 1024}, {"batch_size": 16}
    if model == "mister_e":
        return {"can_hidden": 1024, "gru_layers": 3}, {"batch_size": 16}
    if model == "compm":
        return {"d_model": data.feature_dims()["text"], "pm_hidden": None}, {}
    if model == "bigru":
        return {"hidden": 512}, {}
    return {}, {}


SIZES: dict[str, SizeFn] = {"notebook": notebook_size, "paper": paper_size}
#: Models with only one meaningful size.
SIZELESS = ("logreg", "compm_finetune")


# ----------------------------------------------------------------------------- data
def with_random_features(data: ERCData, dims: dict[str, int] | None = None, seed: int = 0) -> ERCData:
    """A copy of ``data`` whose dialogues carry standard-normal float32 features of ``dims``
    (default :data:`FEATURE_DIMS`); ids, speakers, texts and labels are kept."""
    rng = np.random.default_rng(seed)
    dims = dims or FEATURE_DIMS
    splits = {s: [Dialogue(d.dialogue_id, d.speakers, d.texts, d.labels,
                           {m: rng.standard_normal((len(d), k), dtype=np.float32) for m, k in dims.items()})
                  for d in ds] for s, ds in data.splits.items()}
    return ERCData(data.name, data.label_names, splits, data.notes)


def iemocap_shaped(dims: dict[str, int] | None = None, seed: int = 0) -> tuple[ERCData, str]:
    """IEMOCAP's dialogues with random features (:func:`with_random_features`) and a note
    saying where the lengths came from.

    Without the IEMOCAP file, synthetic dialogues of IEMOCAP's split sizes with lengths drawn
    uniformly from IEMOCAP's range (8-110) and M/F speakers stand in (the note says so).
    """
    try:
        return with_random_features(load_dataset("iemocap"), dims, seed), "real IEMOCAP dialogues (lengths, speakers, labels)"
    except DataError:
        rng = np.random.default_rng(seed)
        counts = {"train": 108, "dev": 12, "test": 31}
        splits = {s: [_synthetic_dialogue(f"{s}{i}", int(rng.integers(8, 111)), 6, session=i % 5 + 1)
                      for i in range(n)] for s, n in counts.items()}
        data = ERCData("iemocap", ["happy", "sad", "neutral", "angry", "excited", "frustrated"], splits)
        return with_random_features(data, dims, seed), "synthetic lengths 8-110 (IEMOCAP file not found)"


def _synthetic_dialogue(dialogue_id: str, length: int, n_classes: int, session: int = 1) -> Dialogue:
    """A dialogue of ``length`` utterances: alternating IEMOCAP-style speakers (``Ses0k_M`` /
    ``Ses0k_F``), every class in turn as labels, a placeholder text."""
    speakers = [f"Ses0{session}_{'MF'[i % 2]}" for i in range(length)]
    return Dialogue(dialogue_id, speakers, ["hello"] * length, np.arange(length, dtype=np.int64) % n_classes)


def sample_dialogues(data: ERCData, n_train: int | None, n_eval: int = 2) -> ERCData:
    """``data`` with ``n_train`` training dialogues spread evenly over the sorted training
    lengths (so a subset keeps the length distribution; None: all) and the first ``n_eval``
    dev and test dialogues (evaluation is not what is timed)."""
    train = data.splits["train"]
    if n_train and n_train < len(train):
        by_length = np.argsort([len(d) for d in train], kind="stable")
        picked = sorted(by_length[np.linspace(0, len(train) - 1, n_train).round().astype(int)].tolist())
        train = [train[i] for i in picked]
    splits = {"train": list(train), "dev": data.splits["dev"][:n_eval], "test": data.splits["test"][:n_eval]}
    return ERCData(data.name, data.label_names, splits, data.notes)


def fixed_length_data(base: ERCData, length: int, n_train: int) -> ERCData:
    """``n_train`` training dialogues (and one dev, one test) of exactly ``length`` utterances
    with ``base``'s name, classes and random features of ``base``'s widths."""
    C = len(base.label_names)
    splits = {"train": [_synthetic_dialogue(f"train{i}", length, C, i % 5 + 1) for i in range(n_train)],
              "dev": [_synthetic_dialogue("dev0", length, C)], "test": [_synthetic_dialogue("test0", length, C)]}
    return with_random_features(ERCData(base.name, base.label_names, splits), base.feature_dims())


def random_bios(dim: int = BIOS_DIM) -> dict:
    """``RunSpec.extra`` for SDT + bios: a fixed random ``(n, dim)`` vector per dialogue
    (seeded by its id), standing in for the speaker-description embeddings."""
    def bios(dialogue: Dialogue) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(dialogue.dialogue_id.encode()))
        return rng.standard_normal((len(dialogue), dim), dtype=np.float32)
    return {"bios": bios}


# ----------------------------------------------------------------------------- specs
def bench_spec(model: str, size: str, data: ERCData, train_overrides: dict, sizes: dict[str, SizeFn] | None = None) -> RunSpec:
    """The :class:`~erc_lib.experiment.RunSpec` of ``model`` at ``size`` (:func:`erc_lib.zoo.model_spec`
    with the dataset's notebook settings, the size's overrides and ``train_overrides``).

    Raises ValueError for an unknown model or size."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    sizes = sizes or SIZES
    if size not in sizes:
        raise ValueError(f"unknown size {size!r}; expected one of {list(sizes)}")
    zoo_model = "sdt" if model == "sdt_bios" else model
    model_args, train_args = zoo.settings(zoo_model, data.name)
    size_model, size_train = sizes[size](model, data)
    model_args.update(size_model)
    train_args.update(size_train)
    inputs = {"mister_e": ["speech", "text"], "sdt": ["text"], "sdt_bios": ["text"],
              "bigru": ["text"], "logreg": ["text"]}.get(model)
    if model == "sdt_bios":
        model_args["bios_dim"] = BIOS_DIM
    spec = zoo.model_spec(zoo_model, data, inputs, variant=f"{model}/{size}", model_args=model_args,
                          train_args={**train_args, **train_overrides}, keep=())
    if model == "sdt_bios":
        spec.extra = random_bios()
    return spec


# ----------------------------------------------------------------------------- measuring
class PeakMemory:
    """Peak memory while the ``with`` block runs, in MiB (``.peak_mb``; ``.kind`` says which).

    CUDA: ``torch.cuda.max_memory_allocated`` (reset on entry). CPU: the process's resident
    set size sampled every 5 ms by psutil in a thread (``"rss"``), or without psutil the
    process's lifetime peak from ``resource.getrusage`` (``"rss (process peak)"``).
    """

    def __init__(self, device: torch.device):
        self.device, self.peak_mb, self.kind = device, float("nan"), ""
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.kind = "cuda max allocated"
            return self
        try:
            import psutil
        except ImportError:
            self.kind = "rss (process peak)"
            return self
        process, self.kind, self._peak = psutil.Process(), "rss", 0

        def sample():
            while not self._stop.is_set():
                self._peak = max(self._peak, process.memory_info().rss)
                self._stop.wait(0.005)

        self._peak = process.memory_info().rss
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_mb = self._peak / 2**20
        else:
            import resource

            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _head(dataset, n: int):
    """A shallow copy of a dialogue dataset holding its first ``n`` dialogues."""
    small = copy.copy(dataset)
    small.dialogues = dataset.dialogues[:n]
    return small


def _n_params(model) -> int | None:
    return sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else None


def _config(device: str, amp: str, epochs: int, overrides: dict) -> TrainConfig:
    return TrainConfig(**{**dict(epochs=epochs, patience=None, device=device, amp=amp, progress=False), **overrides})


@dataclass
class Cell:
    """One measurement: a model at a size, in a mode, with a thread count."""

    model: str
    size: str
    mode: str
    threads: int


def measure_cell(cell: Cell, data: ERCData, device: torch.device, epochs: int, amp: str,
                 full_train_utterances: int, sizes: dict[str, SizeFn] | None = None) -> dict:
    """Train ``cell.model`` on ``data`` for ``epochs`` timed epochs (after a one-step warm-up
    run of a fresh model of the same spec) and time one inference pass over the training set.

    Returns one row (:data:`ROW_KEYS`); ``epoch_seconds`` is the time for
    ``full_train_utterances`` at the measured training throughput.
    """
    torch.set_num_threads(cell.threads)
    overrides = MODES[cell.mode]
    spec = bench_spec(cell.model, cell.size, data, {**overrides, "epochs": epochs, "patience": None}, sizes)
    train, dev, test, collate = spec.splits(data)
    batch_size = int(spec.train.get("batch_size", TrainConfig.batch_size))
    dev_type = device.type if device.type == "cpu" else str(device)
    _warm_up(spec, (train, dev, test, collate), data, _config(dev_type, amp, 1, {**spec.train, "epochs": 1}))
    with PeakMemory(device) as memory:
        experiment = run_experiment(data, [spec], [0], _config(dev_type, amp, epochs, {}), keep_models=True,
                                    progress=False)
        fitted = experiment.fit(spec.variant, 0)
        model = experiment.models[(data.name, spec.variant, 0)]
        infer = _inference_rate(model, train, collate, batch_size, device, amp, overrides)
    n_train = sum(len(d) for d in train.dialogues)
    if fitted.epoch_train_seconds:   # torch models: every epoch of the timed run
        train_rate = n_train * len(fitted.epoch_train_seconds) / max(sum(fitted.epoch_train_seconds), 1e-9)
    else:                            # scikit-learn: the fit's own rate
        train_rate = fitted.train_utterances_per_second
    lengths = [len(d) for d in train.dialogues]
    bucketed = overrides.get("bucket_by_length", False) and isinstance(model, torch.nn.Module)
    return {"model": cell.model, "size": cell.size, "mode": cell.mode, "threads": cell.threads,
            "batch_size": batch_size if isinstance(model, torch.nn.Module) else None,
            "parameters": _n_params(model), "train_dialogues": len(lengths),
            "train_utterances_per_s": train_rate, "inference_utterances_per_s": infer,
            "epoch_seconds": full_train_utterances / max(train_rate, 1e-9),
            "peak_memory_mb": memory.peak_mb, "memory": memory.kind,
            "padding_share": (mean_padding_share(lengths, batch_size, bucketed)
                              if isinstance(model, torch.nn.Module) else 0.0)}


def _warm_up(spec: RunSpec, splits: tuple, data: ERCData, config: TrainConfig) -> None:
    """One training step of a fresh model of ``spec`` on the first batch (allocator, kernel
    selection, lazy initialisation), so the timed run starts warm. The model is built from
    ``data`` (class weights need every class), trained on the first batch only."""
    train, dev, test, collate = splits
    model = spec.build()
    if isinstance(model, torch.nn.Module):  # scikit-learn estimators have nothing to warm
        heads = (_head(train, config.batch_size), _head(dev, 1), _head(test, 1))
        fit(model, *heads, data.label_names, config, collate_fn=collate)


def _stacked_features(dataset) -> np.ndarray:
    """``(n_utterances, sum of dims)``: a dialogue dataset's features, modalities side by side."""
    return np.concatenate([np.concatenate([d.features[m] for m in dataset.modalities], axis=1)
                           for d in dataset.dialogues])


def _inference_rate(model, train, collate, batch_size: int, device: torch.device, amp: str, overrides: dict) -> float:
    """Utterances per second of :func:`erc_lib.training.predict` over ``train`` (after a
    one-batch warm-up); scikit-learn models: ``estimator.predict`` on the stacked features."""
    if not isinstance(model, torch.nn.Module):
        x = _stacked_features(train)
        start = time.perf_counter()
        model.estimator.predict(x)
        return len(x) / max(time.perf_counter() - start, 1e-9)
    bucket = overrides.get("bucket_by_length", False)
    predict(model, make_loader(_head(train, batch_size), batch_size, False, collate_fn=collate,
                               bucket_by_length=bucket), device, amp=amp)
    loader = make_loader(train, batch_size, False, collate_fn=collate, bucket_by_length=bucket)
    start = time.perf_counter()
    out = predict(model, loader, device, amp=amp)
    return len(out["y_true"]) / max(time.perf_counter() - start, 1e-9)


def mean_padding_share(lengths: Sequence[int], batch_size: int, bucketed: bool, epochs: int = 5, seed: int = 0) -> float:
    """Mean padding share of ``epochs`` epochs of training batches as the trainer forms them
    (:func:`erc_lib.training.make_loader`; index batches only, no data is loaded)."""
    dataset = _LengthsOnly(lengths)
    sampler = make_loader(dataset, batch_size, True, seed, bucket_by_length=bucketed).batch_sampler
    return float(np.mean([padding_share(lengths, list(sampler)) for _ in range(epochs)]))


class _LengthsOnly(torch.utils.data.Dataset):
    """A dataset of "dialogues" that are only lengths (for counting padding)."""

    def __init__(self, lengths: Sequence[int]):
        self.dialogues = [range(n) for n in lengths]

    def __len__(self) -> int:
        return len(self.dialogues)

    def __getitem__(self, i: int):
        return self.dialogues[i]


def measure_scaling(model: str, size: str, base: ERCData, lengths: Sequence[int], device: torch.device, threads: int,
                    amp: str, steps: int, sizes: dict[str, SizeFn] | None = None) -> list[dict]:
    """Seconds per training step (one batch of the size's batch size, ``steps`` timed steps
    after a one-step warm-up epoch) for dialogues of each length in ``lengths``."""
    torch.set_num_threads(threads)
    rows = []
    dev_type = device.type if device.type == "cpu" else str(device)
    for length in lengths:
        if model == "compm" and length > COMPM_MAX_SCALING_LENGTH:
            continue
        probe = bench_spec(model, size, base, {}, sizes)
        batch_size = int(probe.train.get("batch_size", TrainConfig.batch_size))
        data = fixed_length_data(base, length, batch_size)
        spec = bench_spec(model, size, data, {"epochs": 1 + steps, "patience": None}, sizes)
        fitted = run_experiment(data, [spec], [0], _config(dev_type, amp, 1 + steps, {}), progress=False).fit(spec.variant, 0)
        rows.append({"model": model, "size": size, "length": length, "batch_size": batch_size, "threads": threads,
                     "seconds_per_step": float(np.mean(fitted.epoch_train_seconds[1:]))})
    return rows


def _modes_of(model: str, size: str, data: ERCData, modes: Sequence[str], sizes: dict[str, SizeFn]) -> list[str]:
    """The modes worth measuring for ``model``: the scikit-learn baseline has no batches
    (``default`` only); at batch size 1 bucketing is the plain loader, so ``bucketed`` would
    repeat ``default``."""
    if model == "logreg":
        return ["default"]
    batch_size = int(bench_spec(model, size, data, {}, sizes).train.get("batch_size", TrainConfig.batch_size))
    return [m for m in modes if not (batch_size == 1 and m == "bucketed")]


def per_dataset_epochs(models: Sequence[str], device: torch.device, threads: int, amp: str, epochs: int = 1,
                       modes: Sequence[str] = ("default", "fast"), datasets: dict[str, Sequence[str]] | None = None,
                       progress: bool = True) -> tuple[list[dict], list[str]]:
    """Seconds per training epoch on each dataset's real dialogue lengths.

    For every model of ``models`` in ``datasets`` (default :data:`DATASET_MODELS`) and every
    dataset it runs on, the real dialogues (lengths, speakers, labels, texts) with random
    features (:func:`with_random_features`), the dataset's notebook settings, ``epochs`` timed
    epochs per mode (:func:`measure_cell`, notebook size, ``threads`` threads).

    Returns ``(rows, notes)``: rows ``{dataset, model, mode, threads, batch_size,
    train_dialogues, train_utterances, epoch_seconds, train_utterances_per_s, padding_share}``;
    a note for each dataset whose file is missing (skipped).
    """
    datasets = datasets or DATASET_MODELS
    names = [d for m in models for d in datasets.get(m, ())]
    rows, notes = [], []
    for name in dict.fromkeys(names):
        try:
            data = with_random_features(load_dataset(name))
        except DataError as error:
            notes.append(f"per-dataset table: {name} skipped ({error})")
            continue
        n_utts = sum(len(d) for d in data.splits["train"])
        for model in (m for m in models if name in datasets.get(m, ())):
            for mode in _modes_of(model, "notebook", data, modes, SIZES):
                t0 = time.perf_counter()
                row = measure_cell(Cell(model, "notebook", mode, threads), data, device, epochs, amp, n_utts)
                rows.append({"dataset": name, "model": model, "mode": mode, "threads": threads,
                             "batch_size": row["batch_size"], "train_dialogues": len(data.splits["train"]),
                             "train_utterances": n_utts, "epoch_seconds": row["epoch_seconds"],
                             "train_utterances_per_s": row["train_utterances_per_s"],
                             "padding_share": row["padding_share"]})
                if progress:
                    print(f"dataset {name:9s} {model:9s} {mode:8s} epoch {row['epoch_seconds']:7.2f} s "
                          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return rows, notes


def metrics_check(change: str, model: str, dataset: str, seeds: int = 5, device: str = "cpu",
                  encoder: str = "all-MiniLM-L6-v2", data: ERCData | None = None,
                  model_args: dict | None = None) -> dict:
    """Does a change of computation (:data:`CHANGES`) change results? ``model`` on ``dataset``'s
    real features with the notebook's default settings, trained with every seed before and after
    the change; test weighted F1 at the dev-selected epoch.

    ``bucketing``: the ``default`` mode (plain shuffled batches, the trainer before bucketing)
    against ``fast`` (bucketed batches, fused Adam: today's default). ``packing``: SDT's padded
    computation against position-wise layers on real utterances only (``pack_utterances``).

    Returns ``{change, model, dataset, seeds, inputs, before, after, before_mean, before_std,
    after_mean, after_std, difference, ci_low, ci_high, reading, train_seconds_before,
    train_seconds_after}`` (weighted F1 in percent, seconds per fit): ``difference`` is after
    minus before with a paired bootstrap 95% interval over test dialogues and seeds
    (:func:`erc_lib.experiment.paired_difference`); ``reading`` is "inconclusive" when the
    interval includes zero (no effect distinguishable from seed noise). ``data`` replaces the
    prepared dataset and ``model_args`` are added to the settings (tests).

    Raises ValueError for an unknown change.
    """
    from .features.text import prepare_dataset

    if change not in CHANGES:
        raise ValueError(f"unknown change {change!r}; expected one of {tuple(CHANGES)}")
    before, after, arm_model_args, arm_train_args = CHANGES[change]
    data = data or prepare_dataset(dataset, encoder, device=device, progress=False)
    inputs = zoo.default_inputs(model, data)
    model_args, train_args = zoo.settings(model, dataset, model_args=model_args)
    specs = [zoo.model_spec(model, data, inputs, arm, {**model_args, **m_args}, {**train_args, **t_args}, keep=())
             for arm, m_args, t_args in zip((before, after), arm_model_args, arm_train_args)]
    experiment = run_experiment(data, specs, seeds, TrainConfig(device=device, progress=False), progress=False)
    diff = paired_difference(experiment, after, experiment, before)
    seconds = {arm: float(np.mean([f.seconds for f in experiment.seed_fits(arm)])) for arm in (before, after)}
    return {"change": change, "model": model, "dataset": dataset, "seeds": len(experiment.seed_fits(after)),
            "inputs": inputs, "before": before, "after": after,
            "before_mean": diff["b_mean"], "before_std": diff["b_std"], "after_mean": diff["a_mean"],
            "after_std": diff["a_std"], "difference": diff["difference"], "ci_low": diff["ci_low"],
            "ci_high": diff["ci_high"], "reading": interval_reading(diff, f"{after} better", f"{before} better"),
            "train_seconds_before": seconds[before], "train_seconds_after": seconds[after]}


# ----------------------------------------------------------------------------- summaries
def speedups(rows: list[dict]) -> list[dict]:
    """Epoch seconds of every mode against the ``default`` mode of the same model, size and
    threads: ``{model, size, threads, mode, epoch_seconds, default_epoch_seconds, speedup}``."""
    base = {(r["model"], r["size"], r["threads"]): r["epoch_seconds"] for r in rows if r["mode"] == "default"}
    out = []
    for r in rows:
        key = (r["model"], r["size"], r["threads"])
        if r["mode"] != "default" and key in base:
            out.append({"model": r["model"], "size": r["size"], "threads": r["threads"], "mode": r["mode"],
                        "epoch_seconds": r["epoch_seconds"], "default_epoch_seconds": base[key],
                        "speedup": base[key] / max(r["epoch_seconds"], 1e-9)})
    return out


def best_threads(rows: list[dict]) -> tuple[dict[str, int], list[dict]]:
    """Per model, the thread count with the best training throughput: for every (size, mode)
    cell each thread count's utterances per second relative to the cell's best, averaged over
    the cells; the highest mean wins (ties: fewer threads).

    Returns ``({model: threads}, detail rows)``; models measured with one thread count get it."""
    df = pd.DataFrame(rows)
    if df.empty:
        return {}, []
    best, detail = {}, []
    for model, group in df.groupby("model", sort=False):
        # per (size, mode) cell, each thread count's throughput relative to the cell's best
        rel = group.assign(rel=group["train_utterances_per_s"] / group.groupby(["size", "mode"])["train_utterances_per_s"].transform("max"))
        score = rel.groupby("threads")["rel"].mean()
        choice = int(score.idxmax())
        best[str(model)] = choice
        detail.append({"model": str(model), "threads_tested": sorted(int(t) for t in score.index),
                       "relative_throughput": {int(t): round(float(v), 3) for t, v in score.items()}, "best": choice})
    return best, detail


def tables(report: dict) -> dict[str, pd.DataFrame]:
    """The printed tables: ``cells`` (one row per model x size x mode x threads), ``speedup``
    (epoch seconds against the default mode), ``scaling`` (seconds per step, lengths as
    columns), ``padding`` (share of padded positions per batch size and mode), ``per_dataset``
    (epoch seconds, modes as columns) and ``metrics_checks``; tables of sections not measured
    are left out."""
    out = {}
    if report["rows"]:
        cells = pd.DataFrame(report["rows"]).rename(columns={
            "batch_size": "batch", "train_dialogues": "dialogues", "train_utterances_per_s": "train utt/s",
            "inference_utterances_per_s": "infer utt/s", "epoch_seconds": "epoch s", "peak_memory_mb": "peak MB",
            "padding_share": "padding"})
        cells["parameters"] = (cells["parameters"] / 1e6).round(2)
        out["cells"] = cells.rename(columns={"parameters": "params (M)"}).drop(columns=["memory"]).round(
            {"train utt/s": 0, "infer utt/s": 0, "epoch s": 2, "peak MB": 0, "padding": 3})
    if report["speedup"]:
        out["speedup"] = pd.DataFrame(report["speedup"]).round(3)
    if report["scaling"]:
        out["scaling"] = pd.DataFrame(report["scaling"]).pivot_table(
            index=["model", "size", "batch_size", "threads"], columns="length", values="seconds_per_step", sort=False).round(3)
    if report["padding"]:
        out["padding"] = pd.DataFrame(report["padding"]).round(3)
    if report.get("per_dataset"):
        out["per_dataset"] = pd.DataFrame(report["per_dataset"]).pivot_table(
            index=["dataset", "model", "batch_size", "train_utterances"], columns="mode", values="epoch_seconds",
            sort=False).round(2)
    if report.get("metrics_checks"):
        out["metrics_checks"] = pd.DataFrame(report["metrics_checks"]).drop(columns=["inputs"]).round(2)
    if report.get("steps"):
        out["steps"] = pd.DataFrame(report["steps"]).round(3)
    return out


# ----------------------------------------------------------------------------- steps
#: The per-step comparison: the attention models at the paper's size (:func:`paper_size`), IEMOCAP-shaped.
STEP_MODELS = ("sdt", "mister_e")
#: Ways of running one training step: the trainer's eager step, and its ``compile=True`` step.
STEP_WAYS = ("eager", "compile")
#: How each model's step computes: ``padded`` (every position of the padded batch; MiSTER-E's
#: BiGRU is packed either way) and, for SDT, ``packed`` (position-wise layers on real utterances
#: only, ``pack_utterances``). The first is the baseline of the speed-ups.
STEP_COMPUTATIONS = {"sdt": ("padded", "packed"), "mister_e": ("padded",)}
#: The papers' IEMOCAP feature widths (RoBERTa-large text, IS10 audio, DenseNet visual): SDT runs
#: all three modalities, so its nine source -> target transformers are all timed.
STEP_DIMS = {"text": 1024, "audio": 1582, "visual": 342}
#: Operators counted as dense linear algebra in the profile: matrix products, attention kernels and
#: convolutions (MiSTER-E's inception network); their share bounds what fusing the rest can gain.
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
              "aten::_scaled_dot_product_flash_attention_for_cpu_backward", "aten::mkldnn_convolution",
              "aten::convolution_backward")
#: The matrix products among them, whose floating-point operations the profiler counts.
GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm")


def step_model_args(model: str, computation: str) -> dict:
    """Model settings of a :data:`STEP_COMPUTATIONS` entry; ValueError for one ``model`` lacks."""
    if computation not in STEP_COMPUTATIONS.get(model, ()):
        raise ValueError(f"{model} has no {computation!r} computation; it has {STEP_COMPUTATIONS.get(model, ())}")
    return {"pack_utterances": computation == "packed"} if model == "sdt" else {}


def step_batches(model: str, n: int, seed: int = 0, data: ERCData | None = None, computation: str = "padded"):
    """``(spec, batches)``: the :class:`RunSpec` of ``model`` at the paper's size on IEMOCAP-shaped
    data with :data:`STEP_DIMS` features, computing as ``computation`` (:func:`step_model_args`),
    and the first ``n`` training batches the trainer forms (length-bucketed, seeded), so every
    way of stepping sees identical batches.

    SDT reads text, audio and visual (nine source -> target transformers); MiSTER-E speech and text."""
    data = data or iemocap_shaped(STEP_DIMS, seed)[0]
    model_args, train_args = zoo.settings(model, data.name)
    size_model, size_train = paper_size(model, data)
    inputs = ["text", "audio", "visual"] if model == "sdt" else ["speech", "text"]
    spec = zoo.model_spec(model, data, inputs, variant=f"{model}/paper",
                          model_args={**model_args, **size_model, **step_model_args(model, computation)},
                          train_args={**train_args, **size_train}, keep=())
    train, _, _, collate = spec.splits(data)
    loader = make_loader(train, int(spec.train["batch_size"]), True, seed, collate, True)
    return spec, list(itertools.islice(loader, n))


def time_steps(spec: RunSpec, batches: list, way: str, warmup: int = 1, seed: int = 0, profile: bool = False,
               device: torch.device | None = None) -> dict:
    """Seconds per training step (forward, loss, backward, optimiser step, exactly as
    :func:`erc_lib.training.fit` does it) of a fresh, seeded model of ``spec`` over ``batches``;
    the first ``warmup`` batches are run but not timed (allocator, kernel choice; with
    ``"compile"`` the compilation, reported as ``warmup_seconds``).

    ``device``: where to step (default CPU); CUDA steps are synchronised before the clock reads.
    ``profile`` (CPU only), from a second, untimed pass over the timed batches: the share of the
    steps' CPU time spent in matrix products and
    convolutions (:data:`MATMUL_OPS`, torch.profiler), ``matmul_share``; ``1 / matmul_share`` bounds the
    step speed-up available without fewer or faster multiplications. ``gemm_gflops_per_s``: the rate
    of the matrix products themselves (:data:`GEMM_OPS`, floating-point operations counted by the
    profiler over their own CPU time, 1e9 per second), to set against the core's peak.

    Raises ValueError for an unknown ``way`` or fewer batches than ``warmup + 1``."""
    from .runtime import seed_everything

    if way not in STEP_WAYS:
        raise ValueError(f"unknown way {way!r}; expected one of {STEP_WAYS}")
    if len(batches) < warmup + 1:
        raise ValueError(f"{len(batches)} batches: need more than the {warmup} warm-up step(s)")
    from .training import to_device

    device = device or torch.device("cpu")
    batches = [to_device(b, device) for b in batches]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    profile = profile and device.type == "cpu"
    seed_everything(seed)
    model = spec.build().to(device)
    model.train()
    forward = torch.compile(model, dynamic=True) if way == "compile" else model
    config = TrainConfig(**{**spec.train, "progress": False})
    optimizer, _ = make_optimizer(model.parameters(), config, len(batches))

    def step(batch):
        terms = model.loss(forward(batch), batch)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()

    t0 = time.perf_counter()
    for batch in batches[:warmup]:
        step(batch)
    sync()
    warm = time.perf_counter() - t0
    timed = batches[warmup:]
    t0 = time.perf_counter()
    for batch in timed:
        step(batch)
    sync()
    seconds = time.perf_counter() - t0
    share = gflops = None
    if profile:  # a second pass over the same batches: the profiler's own cost stays out of the timing
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True,
                                    with_flops=True) as prof:
            for batch in timed:
                step(batch)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        share = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS) / max(total, 1e-9)
        gemm = [e for e in events if e.key in GEMM_OPS]
        gemm_us = sum(e.self_cpu_time_total for e in gemm)
        gflops = sum(e.flops or 0 for e in gemm) / (gemm_us * 1e3) if gemm_us else None
    utterances = sum(int(b.mask.sum()) for b in timed)
    positions = sum(b.mask.numel() for b in timed)
    return {"way": way, "steps": len(timed), "seconds_per_step": seconds / len(timed), "warmup_seconds": warm,
            "utterances_per_s": utterances / max(seconds, 1e-9), "padding_share": 1 - utterances / positions,
            "matmul_share": share, "gemm_gflops_per_s": gflops}


def step_comparison(models: Sequence[str] = STEP_MODELS, ways: Sequence[str] = STEP_WAYS, steps: int = 3,
                    threads: int = 1, seed: int = 0, data: ERCData | None = None, progress: bool = True,
                    device: torch.device | None = None) -> list[dict]:
    """One row per model, computation (:data:`STEP_COMPUTATIONS`) and way (:func:`time_steps` on
    the same :func:`step_batches`), with ``speedup`` against the model's first computation
    (padded) run ``eager``, today's step before any change, and, for ``eager``, the profiled
    ``matmul_share``.

    Raises ValueError for unknown models or ways."""
    bad = [m for m in models if m not in STEP_MODELS] + [w for w in ways if w not in STEP_WAYS]
    if bad:
        raise ValueError(f"unknown {bad}; models are {STEP_MODELS}, ways {STEP_WAYS}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for model in models:
            base = None
            for computation in STEP_COMPUTATIONS[model]:
                spec, batches = step_batches(model, steps + 1, seed, data, computation)
                for way in ways:
                    row = {"model": model, "size": "paper", "computation": computation, "threads": threads,
                           "batch_size": int(spec.train["batch_size"]),
                           **time_steps(spec, batches, way, seed=seed, profile=(way == "eager"), device=device)}
                    base = row["seconds_per_step"] if base is None and way == "eager" else base
                    row["speedup"] = base / row["seconds_per_step"] if base else None
                    rows.append(row)
                    if progress:
                        print(f"steps {model} {computation} {way}: {row['seconds_per_step']:.2f} s/step "
                              f"(warm-up {row['warmup_seconds']:.0f} s)", file=sys.stderr, flush=True)
    finally:
        torch.set_num_threads(before)
    return rows


# ----------------------------------------------------------------------------- the run
def run_benchmark(models: Sequence[str] = QUICK_MODELS, sizes: Sequence[str] = ("notebook", "paper"),
                  modes: Sequence[str] = tuple(MODES), threads: Sequence[int | str] = (1, "all"),
                  device: str = "cpu", amp: str = "off", epochs: int = 2, train_dialogues: int | None = None,
                  finetune_dialogues: int = 3, scaling_lengths: Sequence[int] = SCALING_LENGTHS,
                  scaling_sizes: Sequence[str] | None = None, scaling_steps: int = 2, quick: bool = False,
                  data: ERCData | None = None, size_fns: dict[str, SizeFn] | None = None,
                  progress: bool = True, sections: Sequence[str] = ("cells", "scaling"),
                  metrics_checks: Sequence[tuple[str, str]] = METRICS_CHECKS, metrics_seeds: int = 5) -> dict:
    """Measure every cell and return the report (the JSON payload, :data:`JSON_KEYS`).

    Args:
        models, sizes, modes: what to measure (:data:`MODELS`, :data:`SIZES`, :data:`MODES`);
            sizeless models (:data:`SIZELESS`) run at their first size only.
        threads: CPU thread counts (``"all"``: every CPU this process may use); ignored on CUDA.
        device: ``cpu`` / ``cuda`` / ``auto``; amp: ``off`` / ``bf16`` (CUDA).
        epochs: timed epochs per cell.
        train_dialogues: training dialogues per cell (None: all; a subset keeps the length
            distribution, :func:`sample_dialogues`); epoch seconds are scaled to the full set.
        finetune_dialogues: training dialogues for ``compm_finetune`` (two transformer encoders
            over every utterance's context; the shortest, the median and the longest with 3), one
            dev and one test dialogue.
        scaling_lengths, scaling_sizes, scaling_steps: the scaling table (sizes default to ``sizes``;
            empty lengths: no table).
        quick: recorded in the report.
        data: the dataset (default :func:`iemocap_shaped`); size_fns: replaces :data:`SIZES`.
        progress: print a line per cell.
        sections: what to measure (:data:`SECTIONS`); the keys of the others are empty.
        metrics_checks, metrics_seeds: the ``metrics`` section (:func:`metrics_check` of each
            ``(change, model, dataset)``, real features, every seed).

    Raises:
        ValueError: unknown models, sizes, modes or sections, or a thread count < 1.
    """
    start = time.perf_counter()
    size_fns = size_fns or SIZES
    for name, given, allowed in (("models", models, MODELS), ("sizes", sizes, tuple(size_fns)),
                                 ("modes", modes, tuple(MODES)), ("sections", sections, SECTIONS)):
        bad = [x for x in given if x not in allowed]
        if bad:
            raise ValueError(f"unknown {name} {bad}; expected some of {allowed}")
    dev = resolve_device(device)
    all_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    thread_counts = sorted({all_cpus if t == "all" else int(t) for t in threads}) if dev.type == "cpu" else [torch.get_num_threads()]
    if any(t < 1 for t in thread_counts):
        raise ValueError(f"thread counts must be >= 1 or 'all', got {list(threads)}")
    notes = []
    if data is None:
        data, source = iemocap_shaped()
        notes.append(f"data: {source}, random features {FEATURE_DIMS}")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    full_train_utts = sum(len(d) for d in data.splits["train"])
    subset = sample_dialogues(data, train_dialogues)
    finetune_subset = sample_dialogues(data, finetune_dialogues, n_eval=1)
    threads_before = torch.get_num_threads()

    cells = [Cell(m, s, mode, t) for m in models for s in (sizes[:1] if m in SIZELESS else sizes)
             for mode in _modes_of(m, s, data, modes, size_fns) for t in thread_counts] if "cells" in sections else []
    rows, scaling, per_dataset, checks, step_rows = [], [], [], [], []
    try:
        for i, cell in enumerate(cells, 1):
            cell_data = finetune_subset if cell.model == "compm_finetune" else subset
            t0 = time.perf_counter()
            row = measure_cell(cell, cell_data, dev, epochs, amp, full_train_utts, size_fns)
            rows.append(row)
            if progress:
                print(f"[{i}/{len(cells)}] {cell.model:15s} {cell.size:8s} {cell.mode:8s} threads={cell.threads} "
                      f"epoch {row['epoch_seconds']:8.2f} s  train {row['train_utterances_per_s']:8.0f} utt/s  "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        for m in (x for x in SCALING_MODELS if x in models and "scaling" in sections):
            for s in scaling_sizes or sizes:
                if scaling_lengths:
                    t0 = time.perf_counter()
                    scaling += measure_scaling(m, s, data, scaling_lengths, dev, thread_counts[0], amp, scaling_steps, size_fns)
                    if progress:
                        print(f"scaling {m} {s}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        if "datasets" in sections:
            per_dataset, dataset_notes = per_dataset_epochs(models, dev, thread_counts[0], amp, max(1, epochs // 2),
                                                            progress=progress)
            notes += dataset_notes
        if "metrics" in sections:
            torch.set_num_threads(thread_counts[0])
            for change, model, dataset in metrics_checks:
                t0 = time.perf_counter()
                checks.append(metrics_check(change, model, dataset, metrics_seeds, str(dev)))
                if progress:
                    c = checks[-1]
                    print(f"metrics {change} {model} {dataset}: {c['after']} − {c['before']} {c['difference']:+.2f} "
                          f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}] ({time.perf_counter() - t0:.0f} s)",
                          file=sys.stderr, flush=True)
        if "steps" in sections:
            step_rows = step_comparison(threads=thread_counts[0], steps=max(2, epochs + 1), progress=progress, device=dev)
            notes.append(f"steps: SDT (text, audio, visual) and MiSTER-E (speech, text) at the papers' sizes, "
                         f"{max(2, epochs + 1)} timed step(s) after one warm-up on identical IEMOCAP-shaped "
                         f"batches {STEP_DIMS}, {thread_counts[0]} thread(s); load average at the start "
                         f"{[round(x, 1) for x in load_before] if load_before else '?'}")
    finally:
        torch.set_num_threads(threads_before)
    if "scaling" in sections and "compm" in models and any(n > COMPM_MAX_SCALING_LENGTH for n in scaling_lengths):
        notes.append(f"scaling: CoMPM only up to {COMPM_MAX_SCALING_LENGTH} utterances (its speaker memory is quadratic)")
    if any(c.model == "compm_finetune" for c in cells):
        from .models.compm import CoMPMConfig

        lengths = [len(d) for d in finetune_subset.splits["train"]]
        notes.append(f"compm_finetune: MiniLM fully fine-tuned (CoMPM's recipe, batch 1), encoders in "
                     f"gradient-checkpointed chunks of {CoMPMConfig.chunk_tokens} tokens; "
                     f"{len(lengths)} training dialogues of {sorted(lengths)} utterances, 1 dev and 1 test dialogue; "
                     f"epoch_seconds scaled to {full_train_utts} training utterances")
    if train_dialogues:
        notes.append(f"{len(subset.splits['train'])} of {len(data.splits['train'])} training dialogues per cell "
                     f"(compm_finetune: {len(finetune_subset.splits['train'])}); epoch_seconds scaled to "
                     f"{full_train_utts} training utterances")
    best, detail = best_threads(rows)
    padding_rows = [{"batch_size": bs, "mode": mode, "padding_share": mean_padding_share(
        [len(d) for d in data.splits["train"]], bs, MODES[mode].get("bucket_by_length", False))}
        for bs in sorted({r["batch_size"] for r in rows if r["batch_size"]}) for mode in modes]
    today = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {
        "date": today, "device": dev.type,
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine()),
        "torch": torch.__version__, "python": platform.python_version(), "cpu_count": all_cpus,
        "threads": thread_counts, "quick": quick, "amp": amp,
        "load_average": {"before": load_before, "after": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "data": {"dataset": data.name, "train_dialogues": len(data.splits["train"]),
                 "train_utterances": full_train_utts, "measured_train_dialogues": len(subset.splits["train"]),
                 "feature_dims": data.feature_dims(), "epochs_timed": epochs},
        "modes": {m: MODES[m] for m in modes},
        "sizes": {m: {s: dict(zip(("model", "train"), size_fns[s](m, data))) for s in sizes} for m in models},
        "rows": rows, "padding": padding_rows, "speedup": speedups(rows), "scaling": scaling,
        "best_threads": best, "best_threads_detail": detail, "per_dataset": per_dataset,
        "metrics_checks": checks, "steps": step_rows, "sections": {name: today for name in sections}, "notes": notes,
        "seconds": time.perf_counter() - start,
    }


def merge_reports(old: dict, new: dict) -> dict:
    """``old`` with the sections ``new`` measured replaced (:data:`SECTION_KEYS`). The header
    (date, load average, data, modes, ...) is that of the run that measured the cells; notes of
    both are kept (but an old note opening with the name of a section ``new`` measured, ``"steps: ..."``,
    gives way to the new ones) and ``seconds`` adds up.

    Partial cells: when ``new`` measured the cells of only some of the models ``old`` has rows
    for, those models' rows are replaced and the others kept; speed-ups and best threads are
    recomputed from the merged rows, padding rows, sizes and modes are united, the header and
    the cells' date stay ``old``'s and a note says which models were measured when.

    Raises ValueError when the two were measured on different devices."""
    if old.get("device") != new["device"]:
        raise ValueError(f"cannot merge a {new['device']} benchmark into a {old.get('device')} one")
    new_models = {r["model"] for r in new["rows"]}
    partial = "cells" in new["sections"] and any(r["model"] not in new_models for r in old.get("rows") or [])
    header = new if "cells" in new["sections"] and not partial else old
    out = {k: header.get(k) for k in JSON_KEYS}
    for name, keys in SECTION_KEYS.items():
        source = new if name in new["sections"] else old
        out.update({k: source.get(k) or ({} if k == "best_threads" else []) for k in keys})
    sections = {**(old.get("sections") or {k: old.get("date") for k in ("cells", "scaling") if old.get("date")}),
                **new["sections"]}
    # A note that opens with a section's name ("steps: ...") describes that section's measurement.
    stale = tuple(f"{name}:" for name in new["sections"])
    notes = [n for n in old.get("notes") or [] if not n.startswith(stale)] + new["notes"]
    if partial:
        rows = [r for r in old["rows"] if r["model"] not in new_models] + new["rows"]
        out["rows"], out["speedup"] = rows, speedups(rows)
        out["best_threads"], out["best_threads_detail"] = best_threads(rows)
        seen = {(p["batch_size"], p["mode"]) for p in old.get("padding") or []}
        out["padding"] = (old.get("padding") or []) + [p for p in new["padding"] if (p["batch_size"], p["mode"]) not in seen]
        out["sizes"] = {**(old.get("sizes") or {}), **new["sizes"]}
        out["modes"] = {**(old.get("modes") or {}), **new["modes"]}
        sections["cells"] = (old.get("sections") or {}).get("cells", old.get("date"))
        la = new["load_average"]
        notes.append(f"cells of {', '.join(sorted(new_models))} measured {new['date']} (threads {new['threads']}, "
                     f"{new['data']['epochs_timed']} timed epoch(s), load average before/after {la['before']} / "
                     f"{la['after']}); the other cells {sections['cells']}")
    out["sections"] = sections
    out["notes"] = list(dict.fromkeys(notes))
    out["seconds"] = (old.get("seconds") or 0) + new["seconds"]
    return out


def print_report(report: dict) -> None:
    """Print the tables of :func:`tables` and the notes."""
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 500):
        print(f"\nbenchmark on {report['device']} ({report['device_name']}), torch {report['torch']}, "
              f"threads {report['threads']}, load average before/after {report['load_average']}")
        for name, df in tables(report).items():
            print(f"\n== {name}\n{df}")
    print(f"\nbest threads: {report['best_threads']}")
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"total {report['seconds']:.0f} s")


def main(argv: Sequence[str] | None = None) -> dict:
    """The command line (see the module docstring); returns the report."""
    p = argparse.ArgumentParser(prog="python -m erc_lib.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a subset: < 3 minutes on a 2-core CPU")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    p.add_argument("--amp", default="off", choices=("off", "bf16"), help="bf16 autocast (CUDA only)")
    p.add_argument("--threads", nargs="+", default=None,
                   help="CPU thread counts, e.g. 1 all (default: 1 all; --quick: 1)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=None)
    p.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=None)
    p.add_argument("--modes", nargs="+", choices=tuple(MODES), default=None)
    p.add_argument("--epochs", type=int, default=None, help="timed epochs per cell")
    p.add_argument("--dialogues", type=int, default=None, help="training dialogues per cell (default: all)")
    p.add_argument("--finetune-dialogues", type=int, default=3,
                   help="training dialogues of the compm_finetune cells (default 3: shortest, median, longest)")
    p.add_argument("--scaling", nargs="*", type=int, default=None,
                   help=f"dialogue lengths of the scaling table (default {' '.join(map(str, SCALING_LENGTHS))}; "
                        "none: no table)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=None,
                   help="what to measure (default: all; --quick: cells scaling)")
    p.add_argument("--metrics-seeds", type=int, default=5, help="seeds per arm of each metrics check (default 5)")
    p.add_argument("--merge", action="store_true",
                   help="keep the other sections of an existing --out file (replace only those measured)")
    p.add_argument("--out", default=str(results_dir() / "bench.json"))
    args = p.parse_args(argv)
    if args.metrics_seeds < 2:
        p.error("--metrics-seeds must be >= 2 (the check compares against seed noise)")
    threads = [t if t == "all" else int(t) for t in (args.threads or (["1"] if args.quick else ["1", "all"]))]
    if args.quick:
        settings = dict(models=args.models or QUICK_MODELS, sizes=args.sizes or ("notebook", "paper"),
                        modes=args.modes or ("default", "fast"), epochs=args.epochs or 1,
                        train_dialogues=args.dialogues or 32,
                        scaling_lengths=SCALING_LENGTHS if args.scaling is None else args.scaling,
                        scaling_sizes=("notebook",), scaling_steps=1, threads=threads,
                        sections=args.sections or ("cells", "scaling"))
    else:
        settings = dict(models=args.models or MODELS, sizes=args.sizes or ("notebook", "paper"),
                        modes=args.modes or tuple(MODES), epochs=args.epochs or 2, train_dialogues=args.dialogues,
                        scaling_lengths=SCALING_LENGTHS if args.scaling is None else args.scaling, threads=threads,
                        sections=args.sections or SECTIONS)
    old = None
    if args.merge and os.path.exists(args.out):
        import json

        with open(args.out) as f:
            old = json.load(f)
    if args.finetune_dialogues < 1:
        p.error("--finetune-dialogues must be >= 1")
    report = run_benchmark(device=args.device, amp=args.amp, quick=args.quick, metrics_seeds=args.metrics_seeds,
                           finetune_dialogues=args.finetune_dialogues, **settings)
    if old is not None:
        report = merge_reports(old, report)
    print_report(report)
    path = write_json(args.out, report)
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
