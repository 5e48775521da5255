"""Figures shared by the notebooks (matplotlib / seaborn).

Each function draws one new figure with axis labels in words, saves it under ``figures/<name>.png``
when ``name`` is given, shows it once (in a notebook) and closes it; it returns None, so a
trailing call never displays anything twice."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from .paths import figures_dir

METRIC_LABELS = {"weighted_f1": "weighted F1 (%)", "accuracy": "accuracy (%)", "macro_f1": "macro F1 (%)"}


def show_figure(fig, name: str | None) -> None:
    """Save (``figures/<name>.png``), show once inside a notebook as a PNG (whatever the
    matplotlib backend, e.g. ``MPLBACKEND=Agg``), close."""
    import io

    from .runtime import _in_kernel

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    if name:
        (figures_dir() / f"{name}.png").write_bytes(buffer.getvalue())
    if _in_kernel():
        from IPython.display import Image, display

        display(Image(data=buffer.getvalue(), format="png"))
    plt.close(fig)


def plot_confusion(confusion, label_names: list[str], title: str = "", name: str | None = None,
                   normalize: bool = True) -> None:
    """Heat map of a confusion matrix (rows = true class); row-normalised to percent by default."""
    cm = np.asarray(confusion, dtype=float)
    if normalize:
        cm = 100 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(label_names), 0.8 + 0.7 * len(label_names)))
    sns.heatmap(cm, annot=True, fmt=".0f" if normalize else "g", cmap="Blues", cbar=False,
                xticklabels=label_names, yticklabels=label_names, ax=ax)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title + (" (% of each true class)" if normalize else ""))
    show_figure(fig, name)


def plot_loss_curves(history: list[dict], title: str = "", name: str | None = None) -> None:
    """Left: every training loss term per epoch; right: dev and test weighted F1 per epoch with
    the epoch selected on dev marked (test is shown, never used for selection)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    epochs = [h["epoch"] for h in history]
    for k in [k for k in history[0] if k.startswith("train_")]:
        ax1.plot(epochs, [h[k] for h in history], label=k[6:].replace("_", " "), lw=2 if k == "train_total" else 1)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (nats per utterance)")
    ax1.legend(fontsize=7, ncol=2)
    ax1.set_title(f"{title}: training loss terms")
    for split in ("dev", "test"):
        ax2.plot(epochs, [h[f"{split}_weighted_f1"] for h in history], label=f"{split} weighted F1", marker=".")
    key = "dev_selection_score" if "dev_selection_score" in history[0] else "dev_weighted_f1"
    best = max(history, key=lambda h: h[key])["epoch"]
    ax2.axvline(best, color="grey", ls="--", lw=1, label="epoch selected on dev")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("weighted F1 (%)")
    ax2.set_title(f"{title}: dev and test weighted F1")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    show_figure(fig, name)


def plot_bars(df: pd.DataFrame, x: str, y: str, err: str | None = None, hue: str | None = None, title: str = "",
              name: str | None = None, ylabel: str = "test weighted F1 (%)", xlabel: str = "",
              rotate: int = 0) -> None:
    """Bar plot of a summary table (``err``: a column of error-bar half widths, e.g. the std)."""
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(df)), 3.8))
    if hue is None:
        ax.bar(df[x].astype(str), df[y], yerr=df[err] if err else None, capsize=3, color="tab:blue")
    else:
        sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax)
        ax.legend(fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="x", rotation=rotate)
    if rotate:
        plt.setp(ax.get_xticklabels(), ha="right")
    fig.tight_layout()
    show_figure(fig, name)


def plot_differences(table: pd.DataFrame, title: str = "", name: str | None = None,
                     xlabel: str = "difference in test weighted F1 (percentage points)") -> None:
    """Forest plot of paired differences with their 95% intervals (``comparison`` label,
    ``difference``, ``ci_low``, ``ci_high`` columns); the zero line marks "no difference"."""
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(table)))
    y = np.arange(len(table))[::-1]
    diff = table["difference"].to_numpy()
    ax.errorbar(diff, y, xerr=[diff - table["ci_low"].to_numpy(), table["ci_high"].to_numpy() - diff],
                fmt="o", capsize=3, color="tab:blue")
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(table["comparison"])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    show_figure(fig, name)


def plot_gate_weights(long: pd.DataFrame, title: str = "", name: str | None = None) -> None:
    """Box plot of per-utterance gate weights per variant and expert (``variant``, ``expert``,
    ``gate weight`` columns; e.g. :func:`erc_lib.models.mister_e.gate_weights`)."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    sns.boxplot(data=long, x="variant", y="gate weight", hue="expert", ax=ax, fliersize=1)
    ax.set_xlabel("model variant")
    ax.set_ylabel("gate weight β (per utterance)")
    ax.set_title(title)
    fig.tight_layout()
    show_figure(fig, name)


def plot_case_dialogue(table: pd.DataFrame, experts: list[str], title: str = "", name: str | None = None) -> None:
    """Stacked per-utterance expert weights of one dialogue (columns ``β <expert>``), with a tick
    or a cross above each utterance for a correct or wrong mixture prediction."""
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(table)), 3.2))
    bottom = np.zeros(len(table))
    for e in experts:
        ax.bar(table["utterance"], table[f"β {e}"], bottom=bottom, label=f"{e} expert")
        bottom += table[f"β {e}"].to_numpy()
    for x, ok in zip(table["utterance"], table["MiSTER-E"] == table["true"]):
        ax.text(x, 1.02, "✓" if ok else "✗", ha="center", fontsize=7, color="green" if ok else "red")
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("utterance (position in the dialogue)")
    ax.set_ylabel("gate weight β")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    show_figure(fig, name)


def plot_sweeps(summaries: dict[str, pd.DataFrame], values: dict[str, list], title: str = "",
                name: str | None = None) -> None:
    """One panel per swept hyper-parameter: test weighted F1 (mean ± std over seeds) against its value."""
    fig, axes = plt.subplots(1, len(summaries), figsize=(4.3 * len(summaries), 3.4), squeeze=False)
    for ax, (param, summary) in zip(axes[0], summaries.items()):
        ax.errorbar(values[param], summary["weighted_f1_mean"], yerr=summary["weighted_f1_std"], marker="o", capsize=3)
        if min(values[param]) >= 0 and max(values[param]) / max(min(v for v in values[param] if v > 0), 1e-12) > 100:
            ax.set_xscale("symlog", linthresh=min(v for v in values[param] if v > 0))
        ax.set_xlabel(param.replace("_", " "))
        ax.set_ylabel("test weighted F1 (%)")
        ax.set_title(f"{title}: {param.replace('_', ' ')}")
    fig.tight_layout()
    show_figure(fig, name)


def plot_projection(projections: dict[str, np.ndarray], labels, title: str = "", name: str | None = None) -> None:
    """Side-by-side 2-D scatter plots (e.g. PCA and t-SNE of audio features) coloured by label."""
    fig, axes = plt.subplots(1, len(projections), figsize=(6 * len(projections), 4.8), squeeze=False)
    order = sorted(set(labels))
    for ax, (method, P) in zip(axes[0], projections.items()):
        sns.scatterplot(x=P[:, 0], y=P[:, 1], hue=labels, hue_order=order, s=14, ax=ax, palette="tab10")
        ax.set_title(f"{title}, {method}")
        ax.set_xlabel(f"{method} component 1")
        ax.set_ylabel(f"{method} component 2")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=1.2, title="emotion")
    fig.tight_layout()
    show_figure(fig, name)
