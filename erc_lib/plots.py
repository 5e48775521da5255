"""Figures shared by the notebooks (matplotlib / seaborn). Each function draws on a new
figure, saves it under ``figures/`` when ``name`` is given, and returns the figure."""
from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .paths import figures_dir


def _save(fig, name: str | None):
    if name:
        fig.savefig(figures_dir() / f"{name}.png", dpi=120, bbox_inches="tight")
    return fig


def plot_confusion(confusion, label_names: list[str], title: str = "", name: str | None = None, normalize: bool = True):
    """Heat map of a confusion matrix (rows = true class); row-normalised to percent by default."""
    cm = np.asarray(confusion, dtype=float)
    if normalize:
        cm = 100 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(label_names), 0.8 + 0.7 * len(label_names)))
    sns.heatmap(cm, annot=True, fmt=".0f" if normalize else "g", cmap="Blues", cbar=False,
                xticklabels=label_names, yticklabels=label_names, ax=ax)
    ax.set_xlabel("predicted"); ax.set_ylabel("true"); ax.set_title(title + (" (row %)" if normalize else ""))
    return _save(fig, name)


def plot_loss_curves(history: list[dict], title: str = "", name: str | None = None):
    """Left: every ``train_<term>`` loss per epoch; right: dev and test weighted F1."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    epochs = [h["epoch"] for h in history]
    terms = [k for k in history[0] if k.startswith("train_")]
    for k in terms:
        ax1.plot(epochs, [h[k] for h in history], label=k[6:], lw=2 if k == "train_total" else 1)
    ax1.set_xlabel("epoch"); ax1.set_ylabel("loss (train)"); ax1.legend(fontsize=7, ncol=2); ax1.set_title(title)
    for split in ("dev", "test"):
        ax2.plot(epochs, [h[f"{split}_weighted_f1"] for h in history], label=f"{split} weighted F1")
    best = max(history, key=lambda h: h["dev_weighted_f1"])["epoch"]
    ax2.axvline(best, color="grey", ls="--", lw=1, label="selected on dev")
    ax2.set_xlabel("epoch"); ax2.set_ylabel("%"); ax2.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, name)


def plot_bars(df, x: str, y: str, hue: str | None = None, err: str | None = None, title: str = "",
              name: str | None = None, rotate: int = 0):
    """Bar plot of a summary table column (``err``: a column of error-bar half widths)."""
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(df)), 3.6))
    if hue is None:
        ax.bar(df[x].astype(str), df[y], yerr=df[err] if err else None, capsize=3, color="tab:blue")
    else:
        sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax)
    ax.set_title(title); ax.set_ylabel(y)
    ax.tick_params(axis="x", rotation=rotate)
    fig.tight_layout()
    return _save(fig, name)
