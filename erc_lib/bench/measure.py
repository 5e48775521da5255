"""Measuring: one model x size x mode x threads cell (throughput, epoch seconds, peak memory, padding),
the scaling table, the per-dataset epochs and the metrics checks of a change of computation."""
from __future__ import annotations

import copy
import resource
import sys
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

try:
    import psutil
except ImportError:  # optional: without psutil the CPU peak is the process's lifetime peak (resource)
    psutil = None

from .. import zoo
from ..data import DataError, ERCData, load_dataset
from ..experiment import RunSpec, interval_reading, paired_difference, run_experiment
from ..features.text import prepare_dataset
from ..training import TrainConfig, fit, make_loader, padding_share, predict
from .sizes import SIZES, SizeFn
from .specs import bench_spec
from .synthetic import fixed_length_data, with_random_features

#: CoMPM's speaker memory holds every earlier turn of the speaker: (B, L, L/2, D) floats.
COMPM_MAX_SCALING_LENGTH = 100
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
        if psutil is None:
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
    dataset = LengthsOnly(lengths)
    sampler = make_loader(dataset, batch_size, True, seed, bucket_by_length=bucketed).batch_sampler
    return float(np.mean([padding_share(lengths, list(sampler)) for _ in range(epochs)]))


class LengthsOnly(torch.utils.data.Dataset):
    """A dataset of "dialogues" that are only lengths, ``lengths[i]`` utterance indices each: the trainer's
    loader forms its batches from it without loading any data (for counting padding)."""

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


def modes_of(model: str, size: str, data: ERCData, modes: Sequence[str], sizes: dict[str, SizeFn]) -> list[str]:
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
            for mode in modes_of(model, "notebook", data, modes, SIZES):
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
