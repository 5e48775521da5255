"""Every figure helper (erc_lib.plots and the report's plot functions), drawn on small synthetic
tables: a title and axis labels in words on every panel, legend text at least the size of the
tick labels, legends outside the data area, and the curves / bar groups of one legend told apart
by more than colour (line style and marker, or hatch), so they read in greyscale."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

from erc_lib import plots, report  # noqa: E402

RNG = np.random.default_rng(0)
HISTORY = [{"epoch": e, "train_total": 2 / e, "train_ce_fused": 1 / e, "train_ce_t": 1.1 / e, "train_ce_a": 1.2 / e,
            "train_ce_v": 1.3 / e, "train_kl": 0.1 / e, "train_gate": 0.2 / e, "train_sd": 0.3 / e,
            "dev_weighted_f1": 50 + e, "test_weighted_f1": 49 + e} for e in range(1, 7)]
LABELS = pd.DataFrame([{"dataset": d, "label": lab, "split": s, "share %": float(RNG.uniform(5, 40))}
                       for d in ("iemocap", "mosi") for lab in ("neutral", "happy", "sad") for s in ("train", "dev", "test")])
LENGTHS = pd.DataFrame([{"dataset": d, "split": s, "utterances": int(RNG.integers(5, 60)), "speakers": 2}
                        for d in ("iemocap", "mosi") for s in ("train", "dev", "test") for _ in range(20)])
GATES = pd.DataFrame([{"variant": v, "expert": e, "gate weight": float(RNG.uniform())}
                      for v in ("MiSTER-E", "No-Loss-MoE") for e in ("speech", "text", "multimodal") for _ in range(30)])
CASE = pd.DataFrame({"utterance": range(8), "β speech": 0.2, "β text": 0.5, "β multimodal": 0.3,
                     "MiSTER-E": [0, 1] * 4, "true": [0] * 8})
SUMMARY = pd.DataFrame({"variant": ["a", "b", "c"], "weighted_f1_mean": [50.0, 55.0, 60.0], "weighted_f1_std": [1.0] * 3})
HUED = pd.DataFrame({"variant": ["a", "a", "b", "b"], "weighted F1": [50, 52, 55, 51],
                     "source": ["ours", "thesis (published)"] * 2})
DIFFS = pd.DataFrame({"comparison": ["x - y", "x - z"], "difference": [1.0, -2.0], "ci_low": [-1.0, -4.0],
                      "ci_high": [3.0, 0.5]})
SWEEP = {"focal_gamma": pd.DataFrame({"weighted_f1_mean": [50.0, 52.0], "weighted_f1_std": [1.0, 1.0]})}
INFLATION = pd.DataFrame({"results": ["03_sdt_mosi", "06_mister_e_mosi"], "variant": ["text", "MiSTER-E"],
                          "mean inflation": [1.5, 2.5]})

FIGURES = {
    "loss curves": lambda: plots.plot_loss_curves(HISTORY, title="SDT, mosi, seed 0"),
    "bars": lambda: plots.plot_bars(SUMMARY, "variant", "weighted_f1_mean", err="weighted_f1_std"),
    "bars with hue": lambda: plots.plot_bars(HUED, "variant", "weighted F1", hue="source", title="ablation"),
    "confusion": lambda: plots.plot_confusion([[5, 1], [2, 7]], ["neutral", "happy"], title="SDT test"),
    "differences": lambda: plots.plot_differences(DIFFS, title="x minus each other row"),
    "gate weights": lambda: plots.plot_gate_weights(GATES, title="mosi test: gate weights"),
    "case dialogue": lambda: plots.plot_case_dialogue(CASE, ["speech", "text", "multimodal"], title="dialogue 3"),
    "sweeps": lambda: plots.plot_sweeps(SWEEP, {"focal_gamma": [0.0, 3.0]}, title="mosi"),
    "projection": lambda: plots.plot_projection({"PCA": RNG.normal(size=(60, 2)), "t-SNE": RNG.normal(size=(60, 2))},
                                                np.array(["anger", "joy", "sadness", "fear", "disgust", "neutral"] * 10),
                                                title="EmoDB"),
    "label distribution": lambda: plots.plot_label_distribution(LABELS),
    "dialogue lengths": lambda: plots.plot_dialogue_lengths(LENGTHS),
    "inflation (report)": lambda: report.plot_inflation(INFLATION),
}


@pytest.fixture
def drawn(monkeypatch):
    """Keep the figures the helpers would show and close."""
    figures = []
    monkeypatch.setattr(plots, "show_figure", lambda fig, name=None: figures.append(fig))
    yield figures
    plt.close("all")


def _draw(name, drawn):
    fig = FIGURES[name]()
    fig = fig if fig is not None else drawn[-1]
    fig.canvas.draw()
    return fig


def _legends(fig) -> list[Legend]:
    return [a.get_legend() for a in fig.axes if a.get_legend() is not None] + list(fig.legends)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_panel_has_a_title_and_axis_labels_in_words(name, drawn):
    fig = _draw(name, drawn)
    for ax in fig.axes:
        assert len(ax.get_title()) >= 3, (name, "title")
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert any(c.isalpha() for c in label) and " " in label.strip() or len(label) >= 5, (name, label)


@pytest.mark.parametrize("name", list(FIGURES))
def test_legends_are_legible_and_never_cover_data(name, drawn):
    fig = _draw(name, drawn)
    renderer = fig.canvas.get_renderer()
    for legend in _legends(fig):
        ax = legend.axes
        tick = max(t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()) if \
            ax.get_xticklabels() + ax.get_yticklabels() else plt.rcParams["font.size"]
        assert min(t.get_fontsize() for t in legend.get_texts()) >= tick, (name, "legend smaller than tick labels")
        box = legend.get_window_extent(renderer)
        for other in fig.axes:
            assert not _overlaps(box, other.get_window_extent(renderer)), (name, "legend over an axes")


def _look(handle) -> tuple:
    """What tells a legend entry apart without colour: line style and marker, or hatch."""
    if hasattr(handle, "get_linestyle") and hasattr(handle, "get_marker"):
        return ("line", str(handle.get_linestyle()), str(handle.get_marker()))
    if hasattr(handle, "get_hatch"):
        return ("patch", handle.get_hatch(), str(handle.get_linestyle()))
    return ("other", id(handle))


@pytest.mark.parametrize("name", list(FIGURES))
def test_legend_entries_differ_in_greyscale(name, drawn):
    fig = _draw(name, drawn)
    for legend in _legends(fig):
        handles = legend.legend_handles
        looks = [_look(h) for h in handles]
        if all(k[0] == "other" for k in looks):  # scatter markers: told apart by marker path
            looks = [tuple(map(tuple, h.get_paths()[0].vertices.round(2))) for h in handles]
        assert len(set(looks)) == len(looks), (name, looks)


def test_loss_curves_with_eight_terms_are_distinct_and_labelled(drawn):
    fig = _draw("loss curves", drawn)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(texts) == 8 and "total" in texts
