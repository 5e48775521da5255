"""Result rows, mean +- std tables over seeds, and the ``results/<notebook>.json`` files."""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from .fitcache import code_hash
from .paths import results_dir, write_json

_PACKAGES = ("torch", "numpy", "scikit-learn", "pandas", "transformers", "sentence-transformers",
             "peft", "opensmile", "papermill")


def environment() -> dict:
    """Python, platform, package versions, the CUDA device (if any) and the training-code hash
    (:func:`erc_lib.fitcache.code_hash`: which code computed the numbers) of this run."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "packages": versions,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(), "code_hash": code_hash(),
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


STATUS_RUNNING, STATUS_COMPLETE = "running", "complete"


class IncompleteResultsError(RuntimeError):
    """A results file that is not from a finished run (still running, or killed)."""


def results_path(name: str) -> Path:
    """``results/<name>.json`` (``ERC_RESULTS_DIR``)."""
    return results_dir() / f"{name}.json"


def mark_running(name: str, parameters: dict) -> Path:
    """Mark ``results/<name>.json`` as a run in progress (status ``running``, start time and
    parameters), before any work. A previous finished file is kept as ``<name>.previous.json``
    (never read as current); a run killed before :func:`write_results` leaves this marker,
    which every reader refuses or flags."""
    path = results_path(name)
    if path.exists():
        try:
            if json.loads(path.read_text()).get("status") == STATUS_COMPLETE:
                path.replace(path.with_name(f"{name}.previous.json"))
        except ValueError:
            pass
    return write_json(path, {"notebook": name, "status": STATUS_RUNNING, "started": _now(),
                             "parameters": parameters, "environment": environment()})


def write_results(name: str, parameters: dict, rows: list[dict], started: str | None = None, **extra) -> Path:
    """Write ``results/<name>.json`` atomically, with status ``complete``: the parameters,
    the environment, start and end times, the result rows and any ``extra`` JSON-serialisable
    entries (histories, timings ...). ``started`` defaults to the start recorded by
    :func:`mark_running`."""
    path = results_path(name)
    if started is None and path.exists():
        try:
            started = json.loads(path.read_text()).get("started")
        except ValueError:
            started = None
    finished = _now()
    payload = {"notebook": name, "status": STATUS_COMPLETE, "started": started or finished, "written": finished,
               "parameters": parameters, "environment": environment(), "rows": rows, **extra}
    return write_json(path, payload, indent=None)


def read_results(name: str, allow_incomplete: bool = False) -> dict:
    """Load ``results/<name>.json``.

    Raises:
        FileNotFoundError: no such results (the message says which notebook writes it).
        IncompleteResultsError: the file is not from a finished run (status not ``complete``),
            unless ``allow_incomplete``.
    """
    path = results_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the notebook that writes it (see README.md)")
    payload = json.loads(path.read_text())
    if payload.get("status") != STATUS_COMPLETE and not allow_incomplete:
        raise IncompleteResultsError(f"{path} is not from a finished run (status {payload.get('status', 'missing')!r}, "
                                     f"started {payload.get('started')}); re-run its notebook")
    return payload


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def code_drift(results: dict[str, dict]) -> "pd.DataFrame":
    """The results files whose numbers today's code would not give back: one row per file whose
    recorded training-code hash (``environment.code_hash``, :func:`environment`) differs from
    :func:`erc_lib.fitcache.code_hash` of this checkout, or that records none (written before
    results recorded it). Columns ``results``, ``recorded code`` (12 hex digits or "not recorded"),
    ``this checkout``. Empty when every file is current."""
    today = code_hash()
    rows = [{"results": name, "recorded code": (p.get("environment") or {}).get("code_hash", "")[:12] or "not recorded",
             "this checkout": today[:12]}
            for name, p in results.items() if (p.get("environment") or {}).get("code_hash") != today]
    return pd.DataFrame(rows, columns=["results", "recorded code", "this checkout"])

