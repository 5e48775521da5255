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
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from .data import collate_dialogues
from .metrics import classification_metrics
from .runtime import progress_bar, resolve_device


OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "linear")


@dataclass
class TrainConfig:
    """Optimisation and selection settings.

    Attributes:
        epochs: maximum number of epochs (>= 1).
        lr: learning rate (> 0).
        weight_decay: ``adam``: L2 penalty added to the gradient (SDT, MiSTER-E);
            ``adamw``: decoupled weight decay (CoMPM, LoRA).
        batch_size: dialogues (or utterances, for utterance-level models) per batch (>= 1).
        patience: stop after this many epochs without a better (smoothed) dev weighted F1
            (None: never).
        grad_clip: max gradient norm (None: no clipping).
        optimizer: ``"adam"`` | ``"adamw"``.
        schedule: ``"constant"`` learning rate, or ``"linear"``: linear warm-up over
            ``warmup_epochs`` then linear decay to 0 at the last epoch
            (``transformers.get_linear_schedule_with_warmup``, CoMPM's schedule).
        warmup_epochs: warm-up length in epochs (``schedule="linear"`` only).
        selection_window: the epoch is selected on the mean dev weighted F1 of the last
            ``selection_window`` epochs (1: the raw dev curve); a wider window resists the
            epoch-to-epoch noise of a small dev split (IEMOCAP's is 12 dialogues).
        seed: random seed for initialisation and batch order.
        device: ``auto`` | ``cpu`` | ``cuda``.
        progress: show a progress bar over epochs.

    Raises:
        ValueError: any value outside the ranges above (checked at construction).
    """

    epochs: int = 30
    lr: float = 1e-4
    weight_decay: float = 1e-5
    batch_size: int = 16
    patience: int | None = 10
    grad_clip: float | None = None
    optimizer: str = "adam"
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    selection_window: int = 1
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self):
        problems = []
        if not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            problems.append(f"patience must be None or an integer >= 1, got {self.patience!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems.append(f"grad_clip must be None or > 0, got {self.grad_clip!r}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup_epochs < 0:
            problems.append(f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        if not isinstance(self.selection_window, int) or self.selection_window < 1:
            problems.append(f"selection_window must be an integer >= 1, got {self.selection_window!r}")
        if problems:
            raise ValueError("bad TrainConfig: " + "; ".join(problems))


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


def make_optimizer(parameters, config: TrainConfig, steps_per_epoch: int):
    """``(optimizer, scheduler or None)`` for ``config``: Adam (coupled L2) or AdamW (decoupled
    decay), and for ``schedule="linear"`` a per-step linear warm-up/decay schedule."""
    params = [p for p in parameters if p.requires_grad]
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = cls(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "constant":
        return optimizer, None
    from transformers import get_linear_schedule_with_warmup

    total = max(1, config.epochs * steps_per_epoch)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(round(config.warmup_epochs * steps_per_epoch)), total)


def fit(model: torch.nn.Module, train, dev, test, label_names: list[str], config: TrainConfig,
        collate_fn=collate_dialogues, desc: str = "", keep: tuple[str, ...] = (),
        on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train ``model`` on ``train``, select the epoch on ``dev`` weighted F1, report ``test``.

    Every epoch: one pass over ``train`` (shuffled, seeded by ``config.seed``), then dev and
    test are scored (test only for the curves and the test-selection analysis; it never
    chooses anything). The selected epoch maximises the mean dev weighted F1 of the last
    ``config.selection_window`` epochs (ties: the earlier epoch); its weights are restored.

    Args:
        model: follows the module docstring's protocol. It is seeded by the caller (build it
            after :func:`erc_lib.runtime.seed_everything`); ``fit`` re-seeds batch order.
        train, dev, test: torch datasets (e.g. :class:`erc_lib.data.DialogueDataset`).
        label_names: class names for the metrics.
        config: :class:`TrainConfig`.
        collate_fn: batches items (default :func:`erc_lib.data.collate_dialogues`).
        desc: progress-bar label.
        keep: extra per-utterance outputs to return for the best epoch's test set.
        on_epoch: called with each epoch's history row (e.g. to report to a pruner).

    Returns:
        :class:`FitResult`; ``model`` is left holding the selected epoch's weights.
    """
    device = resolve_device(config.device)
    model.to(device)
    train_loader = make_loader(train, config.batch_size, True, config.seed, collate_fn)
    dev_loader = make_loader(dev, config.batch_size, False, collate_fn=collate_fn)
    test_loader = make_loader(test, config.batch_size, False, collate_fn=collate_fn)
    optimizer, scheduler = make_optimizer(model.parameters(), config, len(train_loader))

    history, best, best_state, stale = [], None, None, 0
    train_seconds, train_utts = 0.0, 0
    start = time.perf_counter()
    bar = progress_bar(range(1, config.epochs + 1), desc=desc or "epochs", disable=not config.progress, leave=False)
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
            if scheduler is not None:
                scheduler.step()
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
        window = history[-(config.selection_window - 1):] if config.selection_window > 1 else []
        row["dev_selection_score"] = (sum(h["dev_weighted_f1"] for h in window) + row["dev_weighted_f1"]) / (len(window) + 1)
        history.append(row)
        if config.progress:
            bar.set_postfix(loss=f"{row['train_total']:.3f}", dev_wf1=f"{dev_metrics['weighted_f1']:.1f}")
        if on_epoch is not None:
            on_epoch(row)

        # Model selection on dev only; the first epoch always counts as an improvement.
        if best is None or row["dev_selection_score"] > best[4]:
            best = (epoch, dev_metrics, test_metrics,
                    {k: v for k, v in test_out.items() if not k.startswith("loss_")}, row["dev_selection_score"])
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
