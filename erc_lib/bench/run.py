"""The benchmark run: every section measured into one report (:func:`run_benchmark`, the JSON payload)
and the merging of a re-measured section into an existing report (:func:`merge_reports`)."""
from __future__ import annotations

import os
import platform
import sys
import time
from datetime import datetime, timezone
from typing import Sequence

import torch

from ..data import ERCData
from ..models.compm import CoMPMConfig
from ..runtime import resolve_device
from .measure import (COMPM_MAX_SCALING_LENGTH, METRICS_CHECKS, MODES, Cell, mean_padding_share, measure_cell,
                      measure_scaling, metrics_check, modes_of, per_dataset_epochs)
from .sizes import SIZELESS, SIZES, SizeFn
from .specs import MODELS
from .steps import STEP_DIMS, step_comparison
from .summaries import best_threads, speedups
from .synthetic import FEATURE_DIMS, iemocap_shaped, sample_dialogues

#: Models ``--quick`` runs (``compm_finetune`` trains two transformer encoders: minutes per long dialogue on a CPU).
QUICK_MODELS = ("logreg", "bigru", "sdt", "sdt_bios", "compm", "mister_e")
#: Models of the scaling table (the sequence models whose cost grows with dialogue length).
SCALING_MODELS = ("bigru", "sdt", "mister_e", "compm")
SCALING_LENGTHS = (25, 50, 100, 200, 400)
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
             for mode in modes_of(m, s, data, modes, size_fns) for t in thread_counts] if "cells" in sections else []
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
