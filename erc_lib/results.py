"""Result rows, mean +- std tables over seeds, and the ``results/<notebook>.json`` files."""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from .paths import results_dir

_PACKAGES = ("torch", "numpy", "scikit-learn", "pandas", "transformers", "sentence-transformers",
             "peft", "opensmile", "papermill")


def environment() -> dict:
    """Python, platform, package versions and the CUDA device (if any) of this run."""
    import torch

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "packages": versions,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
    }


def result_rows(dataset: str, model: str, variant: str, seed: int, fit_result, **extra) -> list[dict]:
    """Rows for one training run: one per split (``dev``, ``test``), at the dev-selected
    epoch, with ``weighted_f1`` and ``accuracy`` in percent and ``per_class_f1``.
    ``extra`` key/values (e.g. ``window=11``) are added to every row."""
    rows = []
    for split in ("dev", "test"):
        m = getattr(fit_result, split)
        rows.append({"dataset": dataset, "model": model, "variant": variant, "seed": seed, "split": split,
                     "weighted_f1": m["weighted_f1"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                     "per_class_f1": m["per_class_f1"], "best_epoch": fit_result.best_epoch,
                     "seconds": fit_result.seconds,
                     "train_utterances_per_second": fit_result.train_utterances_per_second, **extra})
    return rows


def summarize(rows: list[dict], by: tuple[str, ...] = ("dataset", "model", "variant"), split: str = "test",
              metrics: tuple[str, ...] = ("weighted_f1", "accuracy")) -> pd.DataFrame:
    """Mean +- std over seeds of ``metrics`` on ``split``, one row per ``by`` group.

    Returns a DataFrame with ``<metric>_mean``, ``<metric>_std``, a formatted
    ``<metric>`` column ("mean +- std") and ``n_seeds``; the group order of first appearance
    is kept. std is the sample standard deviation (0 with one seed).
    """
    df = pd.DataFrame([r for r in rows if r["split"] == split])
    if df.empty:
        raise ValueError(f"no rows for split {split!r}")
    by = [b for b in by if b in df.columns]
    grouped = df.groupby(by, sort=False)
    out = grouped[list(metrics)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out = out.fillna(0.0)
    for m in metrics:
        out[m] = [f"{a:.2f} ± {b:.2f}" for a, b in zip(out[f"{m}_mean"], out[f"{m}_std"])]
    out["n_seeds"] = grouped["seed"].nunique()
    return out.reset_index()


def write_results(name: str, parameters: dict, rows: list[dict], **extra) -> Path:
    """Write ``results/<name>.json``: the notebook's parameters, the environment, the
    result rows and any ``extra`` JSON-serialisable entries (histories, timings ...)."""
    path = results_dir() / f"{name}.json"
    payload = {"notebook": name, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "parameters": parameters, "environment": environment(), "rows": rows, **extra}
    path.write_text(json.dumps(payload, indent=1, default=float))
    return path


def read_results(name: str) -> dict:
    """Load ``results/<name>.json``."""
    return json.loads((results_dir() / f"{name}.json").read_text())
