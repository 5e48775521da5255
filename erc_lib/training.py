"""One trainer for every model: seeding, device choice, per-epoch history of every loss
term and of dev/test metrics, model selection on dev weighted F1 (never on test) and
early stopping.

Model protocol (all models in :mod:`erc_lib.models` follow it):

* ``out = model(batch)`` returns a dict with ``"logits"``: ``(batch, n_utterances, C)``;
* ``terms = model.loss(out, batch)`` returns a dict of scalar tensors with ``"total"``
  (the one that is back-propagated) and every named term (logged per epoch).

A batch is any object with ``labels`` ``(batch, n_utterances)``, ``mask`` (bool, same
shape), ``n_utterances`` and ``to(device)``, e.g. :class:`erc_lib.data.DialogueBatch`.
"""
from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import DialogueDataset, ERCData, collate_dialogues
from .metrics import classification_metrics


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cuda"`` raises if CUDA is absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but torch.cuda.is_available() is False")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels,
    so the same seed on the same device gives the same numbers."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


@dataclass
class TrainConfig:
    """Optimisation settings (Adam with L2 weight decay, as SDT and MiSTER-E use).

    Attributes:
        epochs: maximum number of epochs.
        lr: learning rate.
        weight_decay: L2 penalty.
        batch_size: dialogues per batch.
        patience: stop after this many epochs without a better dev weighted F1 (None: never).
        grad_clip: max gradient norm (None: no clipping).
        seed: random seed for initialisation and batch order.
        device: ``auto`` | ``cpu`` | ``cuda``.
        progress: show a progress bar over epochs.
    """

    epochs: int = 30
    lr: float = 1e-4
    weight_decay: float = 1e-5
    batch_size: int = 16
    patience: int | None = 10
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool = True


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_<term>`` (mean per batch of every
            loss term), ``dev_<term>``, ``dev_weighted_f1``, ``dev_accuracy``,
            ``test_weighted_f1``, ``test_accuracy`` (test is logged for curves only).
        best_epoch: the epoch (1-based) with the best dev weighted F1.
        dev, test: :func:`erc_lib.metrics.classification_metrics` at ``best_epoch``.
        test_outputs: arrays at ``best_epoch`` over real test utterances: ``y_true``,
            ``y_pred`` and any extra per-utterance model outputs kept by :func:`predict`.
        seconds: wall time of training and evaluation.
        train_utterances_per_second: training throughput (forward + backward).
        config: the :class:`TrainConfig` as a dict.
    """

    history: list[dict]
    best_epoch: int
    dev: dict
    test: dict
    test_outputs: dict
    seconds: float
    train_utterances_per_second: float
    config: dict = field(default_factory=dict)


@torch.no_grad()
def predict(model: torch.nn.Module, loader, device: torch.device, keep: tuple[str, ...] = ()) -> dict:
    """Run ``model`` over ``loader``; return real-utterance arrays.

    Returns ``{"y_true": (n,), "y_pred": (n,), "logits": (n, C), "loss_<term>": mean per
    batch, **{k: (n, ...) for k in keep}}``; ``keep`` names extra per-utterance outputs of
    the model (e.g. MiSTER-E's ``"gate"``), each ``(batch, L, ...)`` in the output dict;
    names the model does not output are skipped.
    """
    model.eval()
    ys, preds, logits, kept, terms, n_batches = [], [], [], {k: [] for k in keep}, {}, 0
    for batch in loader:
        batch = batch.to(device)
        out = model(batch)
        for name, value in model.loss(out, batch).items():
            terms[name] = terms.get(name, 0.0) + float(value)
        n_batches += 1
        m = batch.mask
        logits.append(out["logits"][m].float().cpu())
        ys.append(batch.labels[m].cpu())
        preds.append(out["logits"][m].argmax(-1).cpu())
        for k in keep:
            if k in out:  # a variant may lack some outputs (e.g. a modality it does not use)
                kept[k].append(out[k][m].float().cpu())
    result = {"y_true": torch.cat(ys).numpy(), "y_pred": torch.cat(preds).numpy(),
              "logits": torch.cat(logits).numpy()}
    result.update({f"loss_{k}": v / max(n_batches, 1) for k, v in terms.items()})
    result.update({k: torch.cat(v).numpy() for k, v in kept.items() if v})
    return result


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int = 0, collate_fn=collate_dialogues):
    """A DataLoader with a seeded shuffling generator (single process)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                       collate_fn=collate_fn, generator=generator)


def fit(model: torch.nn.Module, train, dev, test, label_names: list[str], config: TrainConfig,
        collate_fn=collate_dialogues, desc: str = "", keep: tuple[str, ...] = ()) -> FitResult:
    """Train ``model`` on ``train``, select the epoch on ``dev`` weighted F1, report ``test``.

    Args:
        model: follows the module docstring's protocol. It is seeded by the caller (build it
            after :func:`seed_everything`); ``fit`` re-seeds batch order with ``config.seed``.
        train, dev, test: torch datasets (e.g. :class:`erc_lib.data.DialogueDataset`).
        label_names: class names for the metrics.
        config: :class:`TrainConfig`.
        collate_fn: batches items (default :func:`erc_lib.data.collate_dialogues`).
        desc: progress-bar label.
        keep: extra per-utterance outputs to return for the best epoch's test set.

    Returns:
        :class:`FitResult`; ``model`` is left holding the best-dev-epoch weights.
    """
    device = resolve_device(config.device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_loader = make_loader(train, config.batch_size, True, config.seed, collate_fn)
    dev_loader = make_loader(dev, config.batch_size, False, collate_fn=collate_fn)
    test_loader = make_loader(test, config.batch_size, False, collate_fn=collate_fn)

    history, best, best_state, stale = [], None, None, 0
    train_seconds, train_utts = 0.0, 0
    start = time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc=desc or "epochs", disable=not config.progress, leave=False)
    for epoch in bar:
        model.train()
        sums, n_batches = {}, 0
        t0 = time.perf_counter()
        for batch in train_loader:
            batch = batch.to(device)
            terms = model.loss(model(batch), batch)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            n_batches += 1
            train_utts += batch.n_utterances
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds += time.perf_counter() - t0

        row = {"epoch": epoch, **{f"train_{k}": v / n_batches for k, v in sums.items()}}
        dev_out = predict(model, dev_loader, device)
        test_out = predict(model, test_loader, device, keep)
        dev_metrics = classification_metrics(dev_out["y_true"], dev_out["y_pred"], label_names)
        test_metrics = classification_metrics(test_out["y_true"], test_out["y_pred"], label_names)
        row.update({f"dev_{k[5:]}": v for k, v in dev_out.items() if k.startswith("loss_")})
        row.update({f"test_{k[5:]}": v for k, v in test_out.items() if k.startswith("loss_")})
        for split, metrics in (("dev", dev_metrics), ("test", test_metrics)):
            row[f"{split}_weighted_f1"] = metrics["weighted_f1"]
            row[f"{split}_accuracy"] = metrics["accuracy"]
        history.append(row)
        bar.set_postfix(loss=f"{row['train_total']:.3f}", dev_wf1=f"{dev_metrics['weighted_f1']:.1f}")

        # Model selection on dev only; the first epoch always counts as an improvement.
        if best is None or dev_metrics["weighted_f1"] > best[1]["weighted_f1"]:
            best = (epoch, dev_metrics, test_metrics, {k: v for k, v in test_out.items() if not k.startswith("loss_")})
            best_state = copy.deepcopy(model.state_dict())
            stale = 0
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    return FitResult(
        history=history, best_epoch=best[0], dev=best[1], test=best[2], test_outputs=best[3],
        seconds=time.perf_counter() - start,
        train_utterances_per_second=train_utts / max(train_seconds, 1e-9),
        config=asdict(config),
    )


def train_model(data: ERCData, build_model, modalities: list[str], config: TrainConfig,
                extra: dict | None = None, desc: str = "", keep: tuple[str, ...] = ()) -> tuple[torch.nn.Module, FitResult]:
    """Seed, build and :func:`fit` one model on ``data``'s train/dev/test splits.

    Args:
        data: the dataset (features for ``modalities`` already present).
        build_model: zero-argument callable returning a fresh model (called after seeding,
            so initialisation is reproducible).
        modalities: feature names to batch.
        config: :class:`TrainConfig` (its ``seed`` seeds everything).
        extra: per-utterance side inputs for :class:`erc_lib.data.DialogueDataset`.
    Returns: ``(model with best-dev weights, FitResult)``.
    """
    vocab = data.speaker_vocab()
    splits = [DialogueDataset(data.splits[s], modalities, vocab, extra) for s in ("train", "dev", "test")]
    seed_everything(config.seed)
    model = build_model()
    return model, fit(model, *splits, data.label_names, config, desc=desc, keep=keep)


def run_variants(data: ERCData, variants: dict, seeds: int, config: TrainConfig, model_name: str,
                 keep: tuple[str, ...] = (), extra: dict | None = None) -> tuple[list[dict], dict]:
    """Train every variant with seeds ``0 .. seeds-1``; the workhorse of the ablation notebooks.

    Args:
        data: the dataset.
        variants: variant name -> ``(build_model, modalities)``; ``build_model`` is a
            zero-argument callable (see :func:`train_model`).
        seeds: number of seeds.
        config: shared :class:`TrainConfig` (its ``seed`` is replaced per run).
        model_name: the ``model`` column of the result rows.
        keep, extra: passed to :func:`train_model`.

    Returns:
        ``(rows, fits)``: result rows (:func:`erc_lib.results.result_rows`, dev and test per
        run) and ``{(variant, seed): FitResult}``.
    """
    from dataclasses import replace

    from .results import result_rows

    rows, fits = [], {}
    runs = [(v, s) for v in variants for s in range(seeds)]
    bar = tqdm(runs, desc=f"{model_name} runs", disable=not config.progress)
    for variant, seed in bar:
        bar.set_postfix(variant=variant, seed=seed)
        build, modalities = variants[variant]
        cfg = replace(config, seed=seed)
        _, result = train_model(data, build, modalities, cfg, extra=extra, keep=keep, desc=f"{variant} s{seed}")
        fits[(variant, seed)] = result
        rows += result_rows(data.name, model_name, variant, seed, result)
    return rows, fits


def set_cpu_threads(device: str, n_threads: int | None) -> int:
    """On CPU, limit torch to ``n_threads`` intra-op threads (None: leave torch's default).

    The models of this study are small: one thread is as fast as two on an idle 2-core
    machine and many times faster on a busy one (measured: SDT on MOSI, 521 vs 39
    utterances/s with other jobs running). Returns the thread count in force."""
    if n_threads and resolve_device(device).type == "cpu":
        torch.set_num_threads(int(n_threads))
    return torch.get_num_threads()
