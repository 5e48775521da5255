"""One trainer for every model: seeding, device choice, per-epoch history of every loss
term and of dev/test metrics, model selection on dev weighted F1 (never on test) and
early stopping.

Model protocol (all models in :mod:`erc_lib.models` follow it):

* ``out = model(batch)`` returns a dict with ``"logits"``: ``(batch, n_utterances, C)``;
* ``terms = model.loss(out, batch)`` returns a dict of scalar tensors with ``"total"``
  (the one that is back-propagated) and every named term (logged per epoch).

A batch is any object with ``labels`` ``(batch, n_utterances)``, ``mask`` (bool, same
shape), ``n_utterances`` and ``to(device)``, e.g. :class:`erc_lib.data.DialogueBatch`.

Speed (``python -m erc_lib.bench`` measures it):

* ``TrainConfig.bucket_by_length``: training batches of dialogues of similar length
  (:mod:`erc_lib.batching`, re-exported here; :class:`BucketBatchSampler`: seeded, every dialogue once per epoch), dev/test sorted by
  length (:class:`LengthSortedSampler`); :func:`predict` still returns dataset order. Masks
  are unchanged, so only the batch composition differs from plain shuffling.
* The training loop never waits for the device inside an epoch: loss terms are summed on
  the device (in float64, so the logged means equal a Python sum of per-batch floats) and
  read once per epoch; utterances are counted on the CPU side of the batch.
* ``fused_optimizer``: torch's fused Adam kernel (much faster steps for large models).
* CUDA only: ``amp="bf16"`` (``torch.autocast``), pinned memory and non-blocking copies
  (``pin_memory``). ``compile``: ``torch.compile`` of the forward pass (CPU or CUDA).

Determinism: the same seed on the same device gives the same numbers
(:func:`erc_lib.runtime.seed_everything`). The defaults bucket the batches (another, equally
seeded batch order) and use the fused optimizer (it rounds differently in the last bits), so
their numbers differ from the project's before these options existed;
``bucket_by_length=False, fused_optimizer=False`` gives those earlier numbers exactly. ``amp="bf16"`` changes the arithmetic, and
``compile=True`` fuses kernels and draws dropout masks from its own generator, so its numbers
differ from eager mode; run to run it is repeatable on the CPU (measured), not guaranteed on CUDA.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

# re-exported: the trainer's batching lives in erc_lib.batching
from .batching import (BUCKET_NOISE, BucketBatchSampler, LengthSortedSampler, dataset_lengths,  # noqa: F401
                       make_loader, padding_share)
from .data import collate_dialogues
from .fit_result import FitResult  # noqa: F401 (re-exported: the trainer returns it)
from .metrics import classification_metrics
from .runtime import progress_bar, resolve_device


OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "linear")
AMP_MODES = ("off", "bf16")


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
        selection: ``"dev"`` (the epoch with the best smoothed dev weighted F1; early stopping
            by ``patience``) or ``"last"`` (the last of ``epochs`` epochs, dev never read for
            selection or stopping): the stated rule for data whose dev cannot rank epochs
            (:data:`erc_lib.data.SATURATED_DEV`, the bc-LSTM MOSI features).
        seed: random seed for initialisation and batch order.
        device: ``auto`` | ``cpu`` | ``cuda``.
        progress: show a progress bar over epochs.
        bucket_by_length: training batches of dialogues of similar length
            (:class:`BucketBatchSampler`, seeded by ``seed``), dev/test sorted by length;
            needs datasets with ``dialogues``. False: plain seeded shuffling (the batches the
            project used before length bucketing; results then equal the earlier runs exactly).
        amp: ``"off"`` or ``"bf16"`` (``torch.autocast`` to bfloat16; CUDA only).
        pin_memory: on CUDA, batches in pinned memory and copied with ``non_blocking=True``
            (no effect on the CPU).
        compile: run the forward pass through ``torch.compile`` (``dynamic=True``: dialogue
            lengths vary); numbers differ from eager mode (module docstring). Measured on a
            2-core CPU (SDT, d_model 1024): ~10 % faster epochs after 20-140 s of compiling,
            so it is off by default.
        fused_optimizer: torch's fused Adam / AdamW kernel (``fused=True``): one pass over
            each parameter instead of ~8 element-wise operations, ~4x faster optimizer steps
            on the CPU, which matters for large models (MiSTER-E at the paper's size: ~50 M
            parameters). Numbers differ from the unfused kernel in the last bits (~1e-7 per
            step); same seed, same device, same numbers still holds.

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
    selection: str = "dev"
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    bucket_by_length: bool = True
    amp: str = "off"
    pin_memory: bool = True
    compile: bool = False
    fused_optimizer: bool = True

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
        if self.selection not in ("dev", "last"):
            problems.append(f"selection must be 'dev' or 'last', got {self.selection!r}")
        if not isinstance(self.selection_window, int) or self.selection_window < 1:
            problems.append(f"selection_window must be an integer >= 1, got {self.selection_window!r}")
        if self.amp not in AMP_MODES:
            problems.append(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        for name in ("bucket_by_length", "pin_memory", "compile", "fused_optimizer", "progress"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be True or False, got {getattr(self, name)!r}")
        if problems:
            raise ValueError("bad TrainConfig: " + "; ".join(problems))


# ----------------------------------------------------------------------------- steps
def _cpu_lengths(batch) -> torch.Tensor:
    """``(batch,)`` utterances per dialogue, read on the CPU side of the batch (no device sync)."""
    lengths = getattr(batch, "cpu_lengths", None)
    return lengths() if callable(lengths) else batch.mask.sum(1).cpu()


def to_device(batch, device: torch.device):
    """``batch.to(device)``; on CUDA with ``non_blocking=True`` (async from pinned memory)."""
    return batch.to(device, non_blocking=True) if device.type == "cuda" else batch.to(device)


def _autocast(device: torch.device, amp: str):
    """The autocast context of ``amp`` (``"off"``: none; ``"bf16"``: bfloat16 on CUDA).

    Raises:
        ValueError: an unknown mode, or ``"bf16"`` on a device other than CUDA.
    """
    if amp == "off":
        return contextlib.nullcontext()
    if amp != "bf16":
        raise ValueError(f"amp must be one of {AMP_MODES}, got {amp!r}")
    if device.type != "cuda":
        raise ValueError(f"amp='bf16' needs a CUDA device (got {device}); use amp='off' on the CPU")
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


def _accumulate(sums: dict, terms: dict) -> None:
    """Add every loss term to ``sums`` on its device, in float64 (no host sync; the result
    equals a Python sum of ``float(term)`` in the same order)."""
    for name, value in terms.items():
        value = torch.as_tensor(value).detach().to(torch.float64)
        sums[name] = sums[name] + value if name in sums else value


def _dataset_order_permutation(order: Sequence[int], lengths: Sequence[int]) -> np.ndarray:
    """Utterance permutation from loader order back to dataset order.

    ``order[j]`` is the dataset index of the j-th dialogue the loader yielded, ``lengths[j]``
    its utterance count; returns ``perm`` with ``loader_rows[perm]`` in dataset order."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    by_dataset = np.argsort(np.asarray(order), kind="stable")   # loader position of dataset item i
    n = lengths[by_dataset]
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]])
    return np.repeat(starts[by_dataset] - offsets, n) + np.arange(int(n.sum()))


@torch.no_grad()
def predict(model: torch.nn.Module, loader, device: torch.device, keep: tuple[str, ...] = (),
            amp: str = "off") -> dict:
    """Run ``model`` over ``loader``; return real-utterance arrays.

    Returns ``{"y_true": (n,), "y_pred": (n,), "logits": (n, C), "loss_<term>": mean per
    batch, **{k: (n, ...) for k in keep}}``; ``keep`` names extra per-utterance outputs of
    the model (e.g. MiSTER-E's ``"gate"``), each ``(batch, L, ...)`` in the output dict;
    names the model does not output are skipped. Utterances come in loader order, dialogue by
    dialogue; when the loader's sampler has an ``order`` (:class:`LengthSortedSampler`), they
    are put back into dataset order. Outputs stay on the device until the end (one copy).
    ``amp``: see :class:`TrainConfig`.
    """
    model.eval()
    ys, logits, kept, terms, lengths, n_batches = [], [], {k: [] for k in keep}, {}, [], 0
    for batch in loader:
        lengths.append(_cpu_lengths(batch))
        batch = to_device(batch, device)
        with _autocast(device, amp):
            out = model(batch)
            _accumulate(terms, model.loss(out, batch))
        n_batches += 1
        m = batch.mask
        logits.append(out["logits"][m].float())
        ys.append(batch.labels[m])
        for k in keep:
            if k in out:  # a variant may lack some outputs (e.g. a modality it does not use)
                kept[k].append(out[k][m].float())
    all_logits = torch.cat(logits)
    result = {"y_true": torch.cat(ys).cpu().numpy(), "y_pred": all_logits.argmax(-1).cpu().numpy(),
              "logits": all_logits.cpu().numpy()}
    result.update({k: torch.cat(v).cpu().numpy() for k, v in kept.items() if v})
    order = getattr(getattr(loader, "sampler", None), "order", None)
    if order is not None:
        perm = _dataset_order_permutation(order, torch.cat(lengths).tolist())
        result = {k: v[perm] for k, v in result.items()}
    result.update({f"loss_{k}": float(v) / max(n_batches, 1) for k, v in terms.items()})
    return result


def make_optimizer(parameters, config: TrainConfig, steps_per_epoch: int):
    """``(optimizer, scheduler or None)`` for ``config``: Adam (coupled L2) or AdamW (decoupled
    decay), fused with ``config.fused_optimizer``, and for ``schedule="linear"`` a per-step
    linear warm-up/decay schedule."""
    params = [p for p in parameters if p.requires_grad]
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    fused = {"fused": True} if config.fused_optimizer else {}  # default: torch's own choice, as before
    optimizer = cls(params, lr=config.lr, weight_decay=config.weight_decay, **fused)
    if config.schedule == "constant":
        return optimizer, None
    from transformers import get_linear_schedule_with_warmup  # optional: only the linear schedule needs it

    total = max(1, config.epochs * steps_per_epoch)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(round(config.warmup_epochs * steps_per_epoch)), total)


def fit(model: torch.nn.Module, train, dev, test, label_names: list[str], config: TrainConfig,
        collate_fn=collate_dialogues, desc: str = "", keep: tuple[str, ...] = (),
        on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train ``model`` on ``train``, select the epoch on ``dev`` weighted F1, report ``test``.

    Every epoch: one pass over ``train`` (shuffled or length-bucketed, seeded by
    ``config.seed``), then dev and test are scored (test only for the curves and the
    test-selection analysis; it never chooses anything). The selected epoch maximises the
    mean dev weighted F1 of the last ``config.selection_window`` epochs (ties: the earlier
    epoch); its weights are restored.

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

    Raises:
        ValueError: ``amp="bf16"`` off CUDA; ``bucket_by_length`` on datasets without dialogues.
    """
    device = resolve_device(config.device)
    _autocast(device, config.amp)  # fail before any work
    model.to(device)
    forward = torch.compile(model, dynamic=True) if config.compile else model  # shares the parameters
    pin = config.pin_memory and device.type == "cuda"
    loader = lambda ds, shuffle: make_loader(ds, config.batch_size, shuffle, config.seed if shuffle else 0, collate_fn,
                                             config.bucket_by_length, pin)
    train_loader, dev_loader, test_loader = loader(train, True), loader(dev, False), loader(test, False)
    optimizer, scheduler = make_optimizer(model.parameters(), config, len(train_loader))

    history, best, best_state, stale = [], None, None, 0
    train_seconds, train_utts, epoch_seconds = 0.0, 0, []
    start = time.perf_counter()
    bar = progress_bar(range(1, config.epochs + 1), desc=desc or "epochs", disable=not config.progress, leave=False)
    for epoch in bar:
        forward.train()
        sums, n_batches = {}, 0
        t0 = time.perf_counter()
        for batch in train_loader:
            train_utts += batch.n_utterances  # counted on the CPU side of the batch
            batch = to_device(batch, device)
            with _autocast(device, config.amp):
                terms = model.loss(forward(batch), batch)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            _accumulate(sums, terms)
            n_batches += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_seconds.append(time.perf_counter() - t0)
        train_seconds += epoch_seconds[-1]

        row = {"epoch": epoch, **{f"train_{k}": float(v) / n_batches for k, v in sums.items()}}
        dev_out = predict(forward, dev_loader, device, amp=config.amp)
        test_out = predict(forward, test_loader, device, keep, amp=config.amp)
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
        if best is None or config.selection == "last" or row["dev_selection_score"] > best[4]:
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
        config=asdict(config), epoch_train_seconds=epoch_seconds,
    )
