"""Figures shared by the notebooks (matplotlib / seaborn).

Each function draws one new figure with a title and axis labels in words, saves it under
``figures/<name>.png`` when ``name`` is given, shows it once (in a notebook) and closes it; it
returns None, so a trailing call never displays anything twice. Legends sit outside the axes
(they never cover data), in the tick labels' font size, and the entries of one legend differ in
line style and marker or hatch as well as colour, so they read in greyscale
(``tests/test_plots.py`` checks all of this on every function)."""
from __future__ import annotations

import io

import matplotlib.patches as mpatches
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .paths import figures_dir
from .runtime import in_kernel

METRIC_LABELS = {"weighted_f1": "weighted F1 (%)", "accuracy": "accuracy (%)", "macro_f1": "macro F1 (%)"}
#: Line styles and markers given in turn to the curves of one legend (distinct in greyscale).
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "*", "X", "p", "h")  # filled only: seaborn cannot mix kinds
#: Hatches given in turn to the bar groups of one legend.
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")


def line_style(i: int) -> dict:
    """Keyword arguments of the ``i``-th curve of a legend: a line style and a marker such that
    no two of the first 16 curves look alike in greyscale."""
    return {"linestyle": LINE_STYLES[i % len(LINE_STYLES)], "marker": MARKERS[i % len(MARKERS)], "markersize": 4}


def outside_legend(ax, title: str | None = None, **kwargs):
    """A legend to the right of ``ax`` (never over the data) in the tick labels' font size."""
    size = ax.xaxis.get_ticklabels()[0].get_fontsize() if ax.xaxis.get_ticklabels() else plt.rcParams["xtick.labelsize"]
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=size,
                     title=title, title_fontsize=size, **kwargs)


def hatch_groups(ax, legend=None) -> None:
    """Give each bar group of ``ax`` (a seaborn ``hue`` level, in hue order) its own hatch, and
    the same hatch to the matching entries of ``legend``."""
    for i, container in enumerate(ax.containers):
        for bar in container:
            if isinstance(bar, mpatches.Rectangle):
                bar.set_hatch(HATCHES[i % len(HATCHES)])
                bar.set_edgecolor("black")
    for i, handle in enumerate(legend.legend_handles if legend is not None else []):
        handle.set_hatch(HATCHES[i % len(HATCHES)])
        handle.set_edgecolor("black")


def show_figure(fig, name: str | None) -> None:
    """Save (``figures/<name>.png``), show once inside a notebook as a PNG (whatever the
    matplotlib backend, e.g. ``MPLBACKEND=Agg``), close."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    if name:
        (figures_dir() / f"{name}.png").write_bytes(buffer.getvalue())
    if in_kernel():
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
    ax.set_title((title or "Confusion matrix") + (" (% of each true class)" if normalize else ""))
    show_figure(fig, name)


def plot_loss_curves(history: list[dict], title: str = "", name: str | None = None) -> None:
    """Left: every training loss term per epoch; right: dev and test weighted F1 per epoch with
    the epoch selected on dev marked (test is shown, never used for selection)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7.2))
    epochs = [h["epoch"] for h in history]
    for i, k in enumerate(k for k in history[0] if k.startswith("train_")):
        ax1.plot(epochs, [h[k] for h in history], label=k[6:].replace("_", " "), lw=2.2 if k == "train_total" else 1.3,
                 **line_style(i))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (nats per utterance)")
    outside_legend(ax1, title="loss term")
    ax1.set_title(f"{title}: training loss terms")
    for i, split in enumerate(("dev", "test")):
        ax2.plot(epochs, [h[f"{split}_weighted_f1"] for h in history], label=f"{split} weighted F1", **line_style(i))
    key = "dev_selection_score" if "dev_selection_score" in history[0] else "dev_weighted_f1"
    best = max(history, key=lambda h: h[key])["epoch"]
    ax2.axvline(best, color="grey", ls=(0, (1, 4)), lw=1.5, label="epoch selected on dev")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("weighted F1 (%)")
    ax2.set_title(f"{title}: dev and test weighted F1")
    outside_legend(ax2)
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    show_figure(fig, name)


def plot_bars(df: pd.DataFrame, x: str, y: str, err: str | None = None, hue: str | None = None, title: str = "",
              name: str | None = None, ylabel: str = "test weighted F1 (%)", xlabel: str = "",
              rotate: int = 0) -> None:
    """Bar plot of a summary table (``err``: a column of error-bar half widths, e.g. the std);
    ``hue`` groups are told apart by hatch as well as colour. ``xlabel`` defaults to ``x`` in words."""
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(df)), 3.8))
    if hue is None:
        ax.bar(df[x].astype(str), df[y], yerr=df[err] if err else None, capsize=3, color="tab:blue")
    else:
        sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax)
        hatch_groups(ax, outside_legend(ax, title=hue.replace("_", " ")))
    ax.set_title(title or f"{ylabel} by {x.replace('_', ' ')}")
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel or x.replace("_", " "))
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
    ax.set_ylabel("comparison")
    ax.set_title(title or "Paired differences with 95% intervals")
    fig.tight_layout()
    show_figure(fig, name)


def plot_gate_weights(long: pd.DataFrame, title: str = "", name: str | None = None) -> None:
    """Box plot of per-utterance gate weights per variant and expert (``variant``, ``expert``,
    ``gate weight`` columns; e.g. :func:`erc_lib.studies.mister_e.gate_weights`)."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    sns.boxplot(data=long, x="variant", y="gate weight", hue="expert", ax=ax, fliersize=1)
    for i, container in enumerate(ax.containers):  # one hatch per expert (hue level), in the legend too
        for box in getattr(container, "boxes", []):
            box.set_hatch(HATCHES[i % len(HATCHES)])
    ax.set_xlabel("model variant")
    ax.set_ylabel("gate weight β (per utterance)")
    ax.set_title(title or "Per-utterance gate weights")
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, hatch=HATCHES[i % len(HATCHES)], edgecolor="black")
               for i, c in enumerate(sns.color_palette(n_colors=long["expert"].nunique()))]
    outside_legend(ax, title="expert", handles=handles, labels=list(dict.fromkeys(long["expert"])))
    fig.tight_layout()
    show_figure(fig, name)


def plot_case_dialogue(table: pd.DataFrame, experts: list[str], title: str = "", name: str | None = None) -> None:
    """Stacked per-utterance expert weights of one dialogue (columns ``β <expert>``), with a tick
    or a cross above each utterance for a correct or wrong mixture prediction."""
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(table)), 3.2))
    bottom = np.zeros(len(table))
    for i, e in enumerate(experts):
        ax.bar(table["utterance"], table[f"β {e}"], bottom=bottom, label=f"{e} expert", hatch=HATCHES[i % len(HATCHES)],
               edgecolor="black", linewidth=0.5)
        bottom += table[f"β {e}"].to_numpy()
    for x, ok in zip(table["utterance"], table["MiSTER-E"] == table["true"]):
        ax.text(x, 1.02, "✓" if ok else "✗", ha="center", fontsize=9, color="green" if ok else "red")
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("utterance (position in the dialogue)")
    ax.set_ylabel("gate weight β")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or "Expert weights per utterance")
    outside_legend(ax)
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
        ax.set_title(f"{title}: {param.replace('_', ' ')}" if title else f"test weighted F1 against {param.replace('_', ' ')}")
    fig.tight_layout()
    show_figure(fig, name)


def plot_projection(projections: dict[str, np.ndarray], labels, title: str = "", name: str | None = None) -> None:
    """Side-by-side 2-D scatter plots (e.g. PCA and t-SNE of audio features) coloured by label."""
    fig, axes = plt.subplots(1, len(projections), figsize=(6 * len(projections) + 1.5, 4.8), squeeze=False)
    order = sorted(set(labels))
    markers = dict(zip(order, [MARKERS[i % len(MARKERS)] for i in range(len(order))]))
    for i, (ax, (method, P)) in enumerate(zip(axes[0], projections.items())):
        sns.scatterplot(x=P[:, 0], y=P[:, 1], hue=labels, hue_order=order, style=labels, style_order=order,
                        markers=markers, s=22, ax=ax, palette="tab10", legend=i == len(projections) - 1)
        ax.set_title(f"{title}, {method}" if title else method)
        ax.set_xlabel(f"{method} component 1")
        ax.set_ylabel(f"{method} component 2")
        ax.tick_params(labelbottom=False, labelleft=False)  # the axes' units mean nothing
    outside_legend(axes[0][-1], title="emotion", markerscale=1.3)  # one legend for every panel
    fig.tight_layout()
    show_figure(fig, name)


def plot_label_distribution(labels: pd.DataFrame, name: str | None = None) -> None:
    """One panel per dataset: the share of each label per split (``dataset``, ``label``,
    ``split``, ``share %`` columns; :func:`erc_lib.data.describe.label_table`), splits told apart
    by hatch; one legend beside the last panel."""
    datasets = list(dict.fromkeys(labels["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.4 * len(datasets) + 1.2, 3.8), squeeze=False)
    for i, (ax, ds) in enumerate(zip(axes[0], datasets)):
        sns.barplot(data=labels[labels.dataset == ds], x="label", y="share %", hue="split", ax=ax, legend=True)
        hatch_groups(ax, outside_legend(ax, title="split"))
        ax.set(title=f"{ds}: label shares per split", xlabel="emotion label", ylabel="share of utterances (%)")
        ax.tick_params(axis="x", rotation=45)
        plt.setp(ax.get_xticklabels(), ha="right")
        if i < len(datasets) - 1:
            ax.get_legend().remove()
    fig.tight_layout()
    show_figure(fig, name)


def plot_dialogue_lengths(lengths: pd.DataFrame, name: str | None = None, bins: int = 30) -> None:
    """One panel per dataset: histograms of utterances per dialogue per split (``dataset``,
    ``split``, ``utterances`` columns; :func:`erc_lib.data.describe.length_table`), each split an
    outline of its own line style."""
    datasets = list(dict.fromkeys(lengths["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.4 * len(datasets) + 1.2, 3.4), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        part = lengths[lengths.dataset == ds]
        edges = np.histogram_bin_edges(part["utterances"], bins=bins)
        handles = []
        for i, (split, group) in enumerate(part.groupby("split", sort=False)):
            style = LINE_STYLES[i % len(LINE_STYLES)]
            _, _, patches = ax.hist(group["utterances"], bins=edges, histtype="step", lw=1.8, linestyle=style)
            handles.append(Line2D([], [], color=patches[0].get_edgecolor(), lw=1.8, linestyle=style, label=split))
        ax.set(title=f"{ds}: dialogue lengths", xlabel="utterances per dialogue", ylabel="dialogues")
    outside_legend(axes[0][-1], title="split", handles=handles)  # lines: a step outline's style shows
    fig.tight_layout()
    show_figure(fig, name)


def plot_best_so_far(curves: dict[str, pd.DataFrame], title: str = "", name: str | None = None) -> None:
    """One small panel per tuning study: each trial's validation score (dots) and the best so far
    (a step line), from :func:`erc_lib.tune.best_so_far`; trial 0 (the defaults) is ringed. A
    curve that is flat over its last trials says the budget was enough for that study. Studies
    without a trial history (tuned files older than the history field) are left out."""
    curves = {k: v for k, v in curves.items() if len(v)}
    n = len(curves)
    if not n:
        return
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (study, frame) in zip(axes.flat, curves.items()):
        ax.plot(frame["trial"], frame["score"], "o", markersize=3, color="0.55", label="trial")
        ax.step(frame["trial"], frame["best so far"], where="post", color="black", linestyle="-", label="best so far")
        ax.plot(frame["trial"][:1], frame["score"][:1], "o", markersize=8, markerfacecolor="none", color="black",
                label="defaults (trial 0)")
        ax.set_title(study, fontsize=9)
        ax.set_xlabel("trial")
        ax.set_ylabel("validation weighted F1 (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    outside_legend(axes.flat[cols - 1])
    fig.suptitle(title or "Tuning: validation score per trial and best so far")
    fig.tight_layout()
    show_figure(fig, name)
