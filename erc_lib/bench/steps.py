"""The per-step table: single training steps of SDT and MiSTER-E at the papers' sizes on identical
batches, per computation (padded, packed) and way (eager, ``torch.compile``), with the matmul share."""
from __future__ import annotations

import itertools
import sys
import time
from typing import Sequence

import torch

from .. import zoo
from ..data import ERCData
from ..experiment import RunSpec
from ..runtime import seed_everything
from ..training import TrainConfig, make_loader, make_optimizer, to_device
from .sizes import paper_size
from .synthetic import iemocap_shaped

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
    if way not in STEP_WAYS:
        raise ValueError(f"unknown way {way!r}; expected one of {STEP_WAYS}")
    if len(batches) < warmup + 1:
        raise ValueError(f"{len(batches)} batches: need more than the {warmup} warm-up step(s)")
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
