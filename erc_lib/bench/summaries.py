"""The benchmark's summaries: speed-ups against the default mode, the best thread count per model,
the printed tables (:func:`tables`, also rendered in ``docs/results.md``) and the printed report."""
from __future__ import annotations

import pandas as pd


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
