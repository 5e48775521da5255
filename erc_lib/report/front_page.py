"""The front page's tables (``notebooks/99_report.ipynb`` only calls these): results files, claims and
verdicts, measured tables, figures, test-set selection, published numbers beside ours, provenance."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..claims import NOT_MEASURED, VERDICT_ORDER, verdict_summary
from ..paths import figures_dir, results_dir
from ..published import COUNTERPARTS, GAP_REASONS, cited, display_name, published_table
from ..results import IncompleteResultsError, read_results, summarize
from ..tables import reader_frame
from .html import param_text
from .runner import duration_text

TEST_SELECTED = ("03_sdt", "06_mister_e")  # results whose authors selected epochs on test
VERDICT_COLOURS = {"holds": "#d4edda", "smaller than published": "#fff3cd", "not confirmed": "#fff3cd",
                   "published effect ruled out": "#ffe0b3", "contradicted": "#f8d7da", "no effect found": "#e2e3e5",
                   "underpowered": "#e2e3e5", "inconclusive": "#e2e3e5", "not measured at full size": "#ffffff"}


def load_results(expected: list[str] = ()) -> tuple[dict[str, dict], pd.DataFrame]:
    """Every finished notebook results file ``results/NN_*.json`` (not ``*.previous``), and a table
    (columns results, problem) of files that are incomplete or unreadable and of ``expected``
    names that have no file."""
    results, problems = {}, []
    names = sorted(p.stem for p in results_dir().glob("[0-9][0-9]_*.json") if not p.stem.endswith(".previous"))
    for name in names:
        try:
            results[name] = read_results(name)
        except (IncompleteResultsError, ValueError) as e:
            problems.append({"results": name, "problem": str(e)})
    problems += [{"results": n, "problem": "no results file: its notebook has not run, or failed"}
                 for n in expected if n not in names]
    return results, pd.DataFrame(problems, columns=["results", "problem"])


def _mean_std(d: dict | None) -> str:
    if not d or d.get("mean") is None:
        return "–"
    label = f"{d['variant']}: " if d.get("variant") else ""
    seeds = d.get("n_seeds")
    return f"{label}{d['mean']:.2f} ± {d.get('std') or 0:.2f} (n = {int(seeds) if isinstance(seeds, (int, float)) else '?'})"


#: Optional claim keys shown in the claims table when present: key -> column.
CLAIM_EXTRAS = {"published_size": "published A − B (this dataset)", "detectable_effect": "detectable effect (points)",
                "size_comparable": "size comparable"}


def _shown(value) -> str:
    """A table cell: "–" for a missing value, numbers to 2 decimals, booleans as yes / no."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:+.2f}" if isinstance(value, float) else str(value)


def _claim_extra(claim: dict, key: str) -> str:
    """A claims-table cell for one of :data:`CLAIM_EXTRAS`: the detectable effect as a magnitude,
    "other setting" for a size published on this dataset with other modalities or labels, "other
    dataset" for a size published only elsewhere."""
    value = claim.get(key)
    if key == "published_size" and value is None and claim.get("published_setting_differs"):
        return "other setting"
    if key == "published_size" and value is None and claim.get("published_elsewhere"):
        return "other dataset"
    if key == "detectable_effect" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return _shown(value)


def front_verdicts(payload: dict) -> tuple[pd.DataFrame, str]:
    """The front page's verdict counts and their reading for ``results/claims.json``
    (:func:`erc_lib.claims.collect_claims`): its measured claims *and* the claims no full-size run
    measured (``unmeasured``, verdict "not measured at full size"), so the counts add up to the rows
    of the claims table (:func:`claims_frame` with ``unmeasured=True``). Columns ``verdict``, ``claims``."""
    measured, unmeasured = list(payload.get("claims") or []), list(payload.get("unmeasured") or [])
    counts, reading = verdict_summary(measured + unmeasured)
    if unmeasured and not any(c.get("verdict") != NOT_MEASURED for c in measured):
        total = len(measured) + len(unmeasured)
        reading = (f"None of the {total} claims has a verdict: no full-size results file measured them (smoke runs "
                   f"and runs with fewer seeds never give one), so all {total} are counted under "
                   f"\"{NOT_MEASURED}\" and listed in the claims table below. The notebooks' own claims tables "
                   "further down show what a smoke run measured, for checking the code only. For verdicts run "
                   "`python -m erc_lib.report --config configs/full.yaml`.")
    judged = judged_verdicts(payload)
    if judged and any(c.get("verdict") != NOT_MEASURED for c in payload.get("claims_cv") or []):  # smoke: none
        reading = (f"The verdicts: judged on every dialogue where a claim was cross-validated (its standard split's "
                   f"verdict otherwise), {judged}. The counts below are the standard splits' alone (one test set per "
                   "claim, the split the papers report); the cross-validated verdicts are in the section on every "
                   "dialogue. " + reading)
    return counts, reading


def judged_verdicts(payload: dict) -> str:
    """The claims' verdicts counted as the study gives them: a claim's cross-validated verdict
    (``payload["claims_cv"]``, same ``id`` and ``dataset``) where it has one, its standard-split verdict
    otherwise, as text ("8 no effect found, 4 underpowered, ..." most frequent first, ties in the verdicts'
    order); "" when no claim was cross-validated."""
    cv = {(c.get("id"), c.get("dataset")): c.get("verdict") for c in payload.get("claims_cv") or []}
    if not cv:
        return ""
    words = [cv.get((c.get("id"), c.get("dataset")), c.get("verdict")) for c in payload.get("claims") or []]
    counts = sorted({w: words.count(w) for w in words}.items(), key=lambda kv: (-kv[1], VERDICT_ORDER.index(kv[0])))
    return ", ".join(f"{n} {w}" for w, n in counts) + f" ({len(words)} claim measurements)"


def claims_frame(payload: dict, unmeasured: bool = False) -> pd.DataFrame:
    """The claims of ``results/claims.json`` (:func:`erc_lib.claims.collect_claims`) as a table
    sorted by paper: paper, claim, dataset, the published figure, ours (row A) and the row it is
    compared with (B), the baseline on the same inputs, A - B with its 95% interval, verdict, reason;
    plus the claim's published size, detectable effect and size comparability where the claims
    carry them ("–" otherwise). Papers by their one display name (:func:`erc_lib.published.display_name`).
    ``unmeasured``: also one row per claim no full-size run measured (``payload["unmeasured"]``)."""
    rows = []
    extra = [k for k in CLAIM_EXTRAS if any(k in c for c in payload.get("claims", []))]
    for c in payload.get("claims", []):
        comp = c.get("comparison") or {}
        published = cited(c.get("published") or "–")
        diff = "–" if comp.get("difference") is None else \
            f"{comp['difference']:+.2f} [{comp.get('ci_low', float('nan')):+.2f}, {comp.get('ci_high', float('nan')):+.2f}]"
        rows.append({"paper": display_name(c.get("paper")), "claim": c.get("text"), "dataset": c.get("dataset"),
                     "published": published, "ours (A)": _mean_std(c.get("ours")), "compared with (B)": _mean_std(c.get("other")),
                     "baseline (same inputs)": _mean_std(c.get("baseline")), "A − B [95% CI]": diff,
                     **{CLAIM_EXTRAS[k]: _claim_extra(c, k) for k in extra},
                     "verdict": c.get("verdict"), "reason": c.get("reason")})
    for c in (payload.get("unmeasured") or []) if unmeasured else []:
        rows.append({"paper": display_name(c.get("paper")), "claim": c.get("claim"), "dataset": "–", "published": "–",
                     "ours (A)": "–", "compared with (B)": "–", "baseline (same inputs)": "–", "A − B [95% CI]": "–",
                     **{CLAIM_EXTRAS[k]: "–" for k in extra}, "verdict": c.get("verdict"),
                     "reason": f"no complete full-size results file measured it (notebook {c.get('notebook')})"})
    return pd.DataFrame(rows).sort_values("paper", kind="stable").reset_index(drop=True) if rows else pd.DataFrame()


def style_table(df: pd.DataFrame, verdict_colours: bool = False):
    """A Styler without the index, numbers to 2 decimals, left-aligned; with ``verdict_colours``
    the ``verdict`` cells get a background per verdict (a second cue beside the word)."""
    df = reader_frame(df)
    styler = df.style.hide(axis="index").format(precision=2, na_rep="–").set_properties(**{"text-align": "left"})
    styler = styler.set_table_styles([{"selector": "th", "props": "text-align: left"}])
    if verdict_colours and "verdict" in df:
        styler = styler.map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, 'white')}", subset=["verdict"])
    return styler


_ROW_FIELDS = {"dataset", "model", "variant", "seed", "split", "weighted_f1", "accuracy", "macro_f1", "per_class_f1",
               "best_epoch", "seconds", "train_utterances_per_second"}


def measured_table(payload: dict) -> pd.DataFrame:
    """Test weighted F1 (and accuracy) mean ± std over seeds per dataset / model / variant, split
    further by the fewest extra row keys (e.g. ``window``) that make each seed appear once per row;
    an empty frame when the file has no test rows with seeds."""
    rows = [r for r in payload.get("rows", []) if r.get("split") == "test" and "weighted_f1" in r and "seed" in r]
    if not rows:
        return pd.DataFrame()
    scalar = {k for r in rows for k, v in r.items() if k not in _ROW_FIELDS and isinstance(v, (int, float, str))}
    df = pd.DataFrame([{**r, **{k: "–" for k in ("dataset", "model", "variant", *scalar) if r.get(k) is None}}
                       for r in rows])
    keys = ["dataset", "model", "variant"]
    for k in sorted(scalar, key=lambda k: (df[k].nunique(), k)):  # settings first, per-seed numbers last
        if df.duplicated([*keys, "seed"]).sum() > df.duplicated([*keys, k, "seed"]).sum():
            keys.append(k)
    metrics = ("weighted_f1", "accuracy") if all("accuracy" in r for r in rows) else ("weighted_f1",)
    out = summarize(df.to_dict("records"), by=tuple(keys), metrics=metrics)
    return out[[*keys, *metrics, "n_seeds"]].rename(
        columns={"weighted_f1": "test weighted F1", "accuracy": "test accuracy", "n_seeds": "seeds"})


def figure_files(names: list[str]) -> dict[str, list[Path]]:
    """The PNGs of ``figures_dir()`` per results name: a figure belongs to the longest name it
    starts with, else to the first name with its number prefix (``05_window`` -> ``05_emonet``)."""
    out = {n: [] for n in names}
    for png in sorted(figures_dir().glob("*.png")):
        direct = [n for n in names if png.stem == n or png.stem.startswith(n + "_")]
        same = sorted(n for n in names if n.split("_")[0] == png.stem.split("_")[0])
        owner = max(direct, key=len) if direct else (same[0] if same else None)
        if owner:
            out[owner].append(png)
    return out


def selection_inflation(results: dict[str, dict], prefixes: tuple[str, ...] = TEST_SELECTED):
    """Test-set epoch selection, measured from the saved histories of the results whose names
    start with ``prefixes``: per seed, test weighted F1 at the dev-selected epoch (the row's
    ``best_epoch``) vs the best test epoch. Returns (per-seed table, mean per results/variant)."""
    rows = []
    for name, payload in sorted(results.items()):
        if not name.startswith(prefixes):
            continue
        tests = [r for r in payload.get("rows", []) if r.get("split") == "test"]
        for key, history in (payload.get("histories") or {}).items():
            parts = key.split("|")
            dataset, variant, seed = (parts[0] if len(parts) == 3 else None), parts[-2], int(parts[-1])
            row = next((r for r in tests if r.get("variant") == variant and r.get("seed") == seed
                        and dataset in (None, r.get("dataset"))), None)
            epochs = [h for h in history if h.get("test_weighted_f1") is not None]
            chosen = next((h for h in epochs if row and h.get("epoch") == row.get("best_epoch")), None)
            if chosen is None:
                continue
            top = max(epochs, key=lambda h: h["test_weighted_f1"])
            rows.append({"results": name, "dataset": dataset or row.get("dataset"), "variant": variant, "seed": seed,
                         "dev-selected epoch": chosen["epoch"], "test wF1, dev-selected": chosen["test_weighted_f1"],
                         "best test epoch": top["epoch"], "test wF1, test-selected": top["test_weighted_f1"],
                         "inflation": top["test_weighted_f1"] - chosen["test_weighted_f1"]})
    per_seed = pd.DataFrame(rows)
    if per_seed.empty:
        return per_seed, per_seed
    mean = per_seed.groupby(["results", "dataset", "variant"], sort=False).agg(
        **{"test wF1, dev-selected": ("test wF1, dev-selected", "mean"),
           "test wF1, test-selected": ("test wF1, test-selected", "mean"),
           "mean inflation": ("inflation", "mean"), "seeds": ("seed", "nunique")}).reset_index()
    return per_seed, mean


def plot_inflation(mean: pd.DataFrame):
    """Horizontal bars of the mean inflation per results / variant; returns the figure."""
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(mean) + 1.6))
    ax.barh([f"{r.results} · {r.variant}" for r in mean.itertuples()], mean["mean inflation"], color="#888")
    ax.set_xlabel("test weighted F1 gained by choosing the epoch on test (points, mean over seeds)")
    ax.set_ylabel("results file and variant")
    ax.set_title("Test-set epoch selection: how much it would add to each reported score")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def published_vs_ours(results: dict[str, dict]) -> pd.DataFrame:
    """Every published number beside our closest row (:data:`erc_lib.published.COUNTERPARTS`),
    sorted by paper: published weighted F1, ours (mean ± std over seeds, dev-selected), the gap
    and why they differ (:data:`erc_lib.published.GAP_REASONS`); "not run" where the results
    file is missing."""
    rows = []
    for _, pub in published_table().iterrows():
        file, dataset, variant, *match = COUNTERPARTS.get((pub.source, pub.dataset, pub.variant), (None, None, None))
        where = {"split": "test", "dataset": dataset, "variant": variant, **(match[0] if match else {})}
        ours = None
        if file in results:
            scores = [r["weighted_f1"] for r in results[file]["rows"] if all(r.get(k) == v for k, v in where.items())]
            ours = (float(pd.Series(scores).mean()), float(pd.Series(scores).std(ddof=1)) if len(scores) > 1 else 0.0,
                    len(scores)) if scores else None
        rows.append({"paper": display_name(pub.source), "source": cited(f"[{pub.source}] {pub.note}"),
                     "dataset": pub.dataset, "published variant": pub.variant,
                     "published weighted F1": pub.weighted_f1,
                     "ours": f"{ours[0]:.2f} ± {ours[1]:.2f} ({ours[2]} seed{'' if ours[2] == 1 else 's'})" if ours else
                     ("no counterpart" if file is None else "not run"),
                     "our row": f"{file}: {variant}" if file else "",
                     "gap (ours − published)": round(ours[0] - pub.weighted_f1, 2) if ours and pub.weighted_f1 else None,
                     "why they differ": GAP_REASONS.get(pub.source, "") if file else ""})
    return pd.DataFrame(rows).sort_values(["paper", "dataset"], kind="stable").reset_index(drop=True)


def provenance_table(results: dict[str, dict]) -> pd.DataFrame:
    """Per results file: device, start / end dates, wall time, parameters and package versions."""
    rows = []
    for name, p in sorted(results.items()):
        env, wall = p.get("environment") or {}, p.get("wall_seconds")
        packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
        rows.append({"results": name, "device": p.get("device") or (p.get("parameters") or {}).get("device"),
                     "GPU": env.get("cuda_device") or "–", "started": p.get("started"), "written": p.get("written"),
                     "wall time": "–" if wall is None else duration_text(wall),
                     "parameters": ", ".join(f"{k}={param_text(v)}" for k, v in (p.get("parameters") or {}).items()),
                     "environment": f"Python {env.get('python', '?')}; {packages}"})
    return pd.DataFrame(rows)
