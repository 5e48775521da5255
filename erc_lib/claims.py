"""The published claims this study tests, how each is measured, and its verdict.

A :class:`Claim` names two rows of a notebook's experiment (A, the side the paper says is
better, and B), the claimed direction, and the published A - B where the paper gives one (with
the dataset it was measured on). :func:`evaluate_claims` measures A - B on the test dialogues
with a paired bootstrap 95% interval (:func:`erc_lib.differences.paired_difference`, whole
dialogues and seeds resampled), computes the smallest effect that comparison could detect
(:func:`detectable_effect`) and gives one verdict (:func:`verdict`).

The verdicts and their rule are in :mod:`erc_lib.verdict`; the claims, their published sizes and the
settings those were measured in, in :mod:`erc_lib.claim_table` (both re-exported here).

A claim is evaluated only from full-size runs with at least :data:`MIN_SEEDS` seeds; a smoke or
short run gives ``not measured at full size`` (:func:`evaluate_claims` with ``smoke=True``).
Every notebook stores its evaluated claims in its results JSON; :func:`collect_claims` gathers
the full-size ones into ``results/claims.json`` for the report.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .claim_table import CLAIMS, MEASURED_SETTINGS, Claim, base_dataset, measured_setting  # noqa: F401 (re-exported)
from .differences import paired_difference
from .metrics import classification_metrics, paired_bootstrap
from .paths import results_dir, write_json
from .results import STATUS_COMPLETE
from .verdict import (BOUNDARY, BOUNDARY_SEEDS, MAX_RESAMPLES, MC_ERROR_POINTS, MEANINGFUL_POINTS,  # noqa: F401
                      VERDICTS, Z_ALPHA, Z_POWER, detectable_effect, dialogues_needed, resamples_for,
                      stable_comparison, verdict)

NOT_MEASURED = "not measured at full size"
#: Every word a claim row's verdict can be, in the order the counts table lists them.
VERDICT_ORDER = (*VERDICTS, BOUNDARY, NOT_MEASURED)
#: Fewest seeds per row for a claim's verdict.
MIN_SEEDS = 5


def evaluate_claims(notebook: str, experiment, dataset: str, names: dict | None = None,
                    baseline: str = "BiGRU (context)", n_resamples: int | None = None) -> list[dict]:
    """Measure every claim of ``notebook`` that ``experiment`` holds both rows of on ``dataset`` (and,
    for a claim on a head such as ``logits_text``, whose rows have that head: an audio-only SDT has
    no text student, so that claim is not measured there).

    Args:
        notebook: e.g. ``"03_sdt"``.
        experiment: an :class:`erc_lib.experiment.Experiment`.
        dataset: the dataset the rows were trained on.
        names: values for the ``{...}`` placeholders of the row names (``full``, ``best_unimodal``).
        baseline: the row of the context baseline on the same inputs (reported beside the claim).
        n_resamples: bootstrap resamples (>= 1000 for a reported interval); None (default): as many
            as put each interval edge's Monte-Carlo error below :data:`MC_ERROR_POINTS`
            (:func:`resamples_for` on a first 1,000-resample standard error).

    Returns: one JSON-able dict per measured claim (the format of ``results/claims.json``) with
    the interval, ``published_size`` (this dataset's published A - B or None),
    ``published_elsewhere`` (a size exists for another dataset only), ``detectable_effect``
    (points), the verdict and its reason. Rows with fewer than :data:`MIN_SEEDS` seeds get the
    verdict :data:`NOT_MEASURED` (the interval is kept for reading, never for a verdict). The
    comparison also stores the interval under each of :data:`BOUNDARY_SEEDS` bootstrap seeds
    (``intervals_by_seed``); a verdict that differs between them is :data:`BOUNDARY`.
    """
    have = {v for (d, v, _) in experiment.fits if d == dataset}
    out = []
    for claim in CLAIMS:
        if claim.notebook != notebook or dataset not in claim.datasets:
            continue
        a, b = (claim.a.format(**(names or {})), claim.b.format(**(names or {})))
        if a not in have or b not in have:
            continue
        if claim.output != "y_pred" and any(claim.output not in f.test_outputs for v in (a, b)
                                            for f in experiment.seed_fits(v, dataset)):
            continue  # the rows have no such head (the text student of an audio-only SDT)
        compare = lambda resamples, seed: paired_difference(experiment, a, experiment, b, dataset,  # noqa: E731
                                                            n_resamples=resamples, seed=seed, output=claim.output)
        seeds = min(len(experiment.seed_fits(a, dataset)), len(experiment.seed_fits(b, dataset)))
        comparison = stable_comparison(compare, n_resamples, verdict_possible=seeds >= MIN_SEEDS)
        intervals = comparison["intervals_by_seed"]
        out.append({
            **{k: v for k, v in asdict(claim).items() if k not in ("a", "b", "datasets")},
            "dataset": dataset, "a": a, "b": b, "metric": "weighted_f1",
            "ours": _row_summary(experiment, a, dataset, claim.output),
            "other": _row_summary(experiment, b, dataset, claim.output),
            "baseline": _row_summary(experiment, baseline, dataset) if baseline in have else None,
            "comparison": {**{k: comparison[k] for k in ("difference", "ci_low", "ci_high", "standard_error",
                                                         "n_resamples", "n_dialogues", "n_seeds_a", "n_seeds_b")},
                           "bootstrap_seed": 0, "intervals_by_seed": intervals},
            **_judgement(claim, dataset, {**comparison, "intervals_by_seed": intervals},
                         min(comparison["n_seeds_a"], comparison["n_seeds_b"])),
            "source_results": notebook})
    return out


def versus_baseline(experiment, variant: str, dataset: str, baseline: str = "BiGRU (context)") -> str:
    """One sentence: does ``variant`` beat the context baseline on the same inputs, by how much,
    with the paired bootstrap 95% interval (the question every paper model must answer)."""
    c = paired_difference(experiment, variant, experiment, baseline, dataset)
    gap = f"{c['difference']:+.2f} weighted F1 (95% interval [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}])"
    if c["ci_low"] > 0:
        return f"{variant} beats the {baseline} on the same inputs by {gap}."
    if c["ci_high"] < 0:
        return f"{variant} trails the {baseline} on the same inputs: {gap}."
    return f"{variant} and the {baseline} cannot be told apart on these inputs: {gap} includes zero."


def claims_table(claims: list[dict]) -> pd.DataFrame:
    """The claims a notebook measured, one row each: claim, dataset, A - B, its 95% interval, the
    published A - B on this dataset ("other dataset" when the figure is for another one, "–" when
    none is published), the detectable effect, the verdict and the published figure."""
    def published(c):
        if c.get("published_size") is not None:
            return f"{c['published_size']:+.2f}"
        return "other dataset" if c.get("published_elsewhere") else "–"

    return pd.DataFrame([{"claim": c["text"], "dataset": c["dataset"], "A": c["a"], "B": c["b"],
                          "A − B": f"{c['comparison']['difference']:+.2f}",
                          "95% CI": f"[{c['comparison']['ci_low']:+.2f}, {c['comparison']['ci_high']:+.2f}]",
                          "published A − B": published(c),
                          "detectable": f"{c['detectable_effect']:.2f}" if c.get("detectable_effect") is not None else "–",
                          "verdict": c["verdict"], "published": c["published"]} for c in claims])


def verdict_summary(claims: list[dict]) -> tuple[pd.DataFrame, str]:
    """``(counts, reading)``: how many claims got each verdict (every verdict listed, zeros
    included, then :data:`BOUNDARY` and :data:`NOT_MEASURED`) and a one-paragraph reading of them for the front page."""
    words = [c["verdict"] for c in claims]
    counts = pd.DataFrame({"verdict": VERDICT_ORDER, "claims": [words.count(w) for w in VERDICT_ORDER]})
    n = len(claims)
    if not n:
        return counts, "No claim has been measured yet: run the notebooks at full size (configs/full.yaml)."
    c = dict(zip(counts.verdict, counts.claims))
    parts = [f"Of {n} claim measurements, {c['holds']} hold"]
    if c["smaller than published"]:
        parts.append(f"{c['smaller than published']} point the claimed way but are smaller than published")
    if c["published effect ruled out"]:
        parts.append(f"{c['published effect ruled out']} rule out an effect as large as published "
                     "(our interval includes zero and excludes the published A − B)")
    if c["contradicted"]:
        parts.append(f"{c['contradicted']} are contradicted (the interval excludes zero on the other side)")
    if c["underpowered"]:
        parts.append(f"{c['underpowered']} are underpowered (the test cannot tell zero from the published or a "
                     f"{MEANINGFUL_POINTS:g}-point effect; each row says how many test dialogues would)")
    if c["no effect found"]:
        parts.append(f"{c['no effect found']} found no effect although the test could detect one "
                     "(no size published for that dataset)")
    if c[BOUNDARY]:
        parts.append(f"{c[BOUNDARY]} are on the boundary between two verdicts (the verdict changes with the bootstrap's "
                     f"own random seed over {BOUNDARY_SEEDS} seeds, so neither is given)")
    if c[NOT_MEASURED]:
        parts.append(f"{c[NOT_MEASURED]} are not measured at full size (fewer than {MIN_SEEDS} seeds or a smoke "
                     "run) and carry no verdict")
    text = "; ".join(parts) + ". "
    text += ("Every interval is a paired bootstrap 95% interval over test dialogues and seeds; a published size is "
             "compared only on the dataset and in the setting (modalities, labels) it was published in, and our "
             "inputs (frozen sentence encoders, "
             "CPU-sized models) are not the papers', so a ruled-out effect is ruled out on our inputs.")
    return counts, text


def _row_summary(experiment, variant: str, dataset: str, output: str = "y_pred") -> dict:
    fits = experiment.seed_fits(variant, dataset)
    if output == "y_pred":
        scores = [f.test["weighted_f1"] for f in fits]
    else:
        scores = [classification_metrics(f.test_outputs["y_true"], f.test_outputs[output].argmax(-1),
                                         list(f.test["per_class_f1"]))["weighted_f1"] for f in fits]
    return {"variant": variant, "output": output, "mean": float(np.mean(scores)),
            "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, "n_seeds": len(scores)}


def rejudge(stored: dict) -> dict | None:
    """A stored claim measurement judged again by today's :func:`verdict` from its numbers (the
    interval, the seeds, this dataset's published size; the standard error from the interval width,
    ``(high - low) / 3.92``, when the run predates it), so every verdict on the front page follows
    one rule. Returns None for a claim no longer measured on that dataset (e.g. bc-LSTM MOSI, whose
    dev cannot select epochs or settings) or no longer in :data:`CLAIMS`."""
    claim = next((c for c in CLAIMS if c.id == stored.get("id")), None)
    if claim is None or stored.get("dataset") not in claim.datasets:
        return None
    comp = dict(stored["comparison"])
    se = comp.get("standard_error")
    if se is None:
        se = (comp["ci_high"] - comp["ci_low"]) / (2 * Z_ALPHA)
    seeds = min(comp.get("n_seeds_a", stored.get("ours", {}).get("n_seeds", 0)),
                comp.get("n_seeds_b", stored.get("other", {}).get("n_seeds", 0)))
    return {**stored, "published_differences": dict(claim.published_differences),
            **_judgement(claim, stored["dataset"], {**comp, "standard_error": se}, seeds)}


def recompute_comparison(stored: dict, results: dict, dialogue_lengths: list[int], n_classes: int) -> dict:
    """A stored claim's comparison computed again from the predictions its results JSON stores.

    Args:
        stored: one claim row of ``results/claims.json`` (its ``dataset``, ``a``, ``b``, ``output``
            and ``comparison``: ``n_resamples`` and ``bootstrap_seed``, 0 when absent).
        results: the results JSON it came from (``source_results``): ``test_truth``,
            ``test_predictions`` and, for a kept output such as ``logits_text``,
            ``test_output_predictions``.
        dialogue_lengths: the test dialogues' utterance counts from the loader (checked against
            the stored ones, so stored predictions sit on the dialogues they claim).
        n_classes: the dataset's number of classes.

    Returns: the :func:`erc_lib.metrics.paired_bootstrap` dict (``difference``, ``ci_low``,
    ``ci_high``, ``standard_error``, ...), equal to the stored one when nothing drifted.

    Raises:
        KeyError: a prediction the claim reads is not stored (named: variant, seed, output).
        ValueError: the stored dialogue lengths are not the loader's.
    """
    dataset, output, comp = stored["dataset"], stored.get("output", "y_pred"), stored["comparison"]
    truth = results["test_truth"][dataset]
    if list(truth["dialogue_lengths"]) != list(dialogue_lengths):
        raise ValueError(f"{stored['id']} on {dataset}: the stored test dialogue lengths are not the loader's")

    def predictions(variant: str, n_seeds: int) -> list[list[int]]:
        out = []
        for seed in range(n_seeds):
            key = f"{dataset}|{variant}|{seed}"
            try:
                out.append(results["test_predictions"][key] if output == "y_pred" else
                           results["test_output_predictions"][key][output])
            except KeyError:
                raise KeyError(f"{stored['id']} on {dataset}: no stored {output} predictions of {variant!r} seed {seed}") from None
        return out

    return paired_bootstrap(truth["labels"], predictions(stored["a"], comp["n_seeds_a"]),
                            predictions(stored["b"], comp["n_seeds_b"]), dialogue_lengths, n_classes,
                            n_resamples=comp["n_resamples"], seed=comp.get("bootstrap_seed", 0))


def rejudge_cv(stored: dict) -> dict | None:
    """A stored cross-validated claim row (:func:`erc_lib.crossval.evaluate_claims_cv`) judged again
    by today's rule: its pooled comparison and its standard-split (fold 0) comparison, and whether the
    two verdicts differ. None for a claim no longer in :data:`CLAIMS` on that dataset."""
    claim = next((c for c in CLAIMS if c.id == stored.get("id")), None)
    if claim is None or stored.get("dataset") not in claim.datasets:
        return None
    seeds = lambda comp: min(comp["n_seeds_a"], comp["n_seeds_b"])  # noqa: E731
    pooled = _judgement(claim, stored["dataset"], stored["comparison"], seeds(stored["comparison"]))
    standard = _judgement(claim, stored["dataset"], stored["standard"]["comparison"], seeds(stored["standard"]["comparison"]))
    return {**stored, **pooled, "standard": {**stored["standard"], **standard},
            "verdicts_differ": pooled["verdict"] != standard["verdict"]}


def judge_comparison(claim: Claim, dataset: str, comparison: dict, seeds: int) -> dict:
    """The verdict part of a claim row (``published_size``, ``published_elsewhere``,
    ``published_setting_differs``, ``detectable_effect``, ``verdict``, ``reason``) for a
    ``comparison`` measured elsewhere (e.g. a cross-validated one, :mod:`erc_lib.crossval`), by the
    one rule of :func:`evaluate_claims` and :func:`rejudge`."""
    return _judgement(claim, dataset, comparison, seeds)


def _judgement(claim: Claim, dataset: str, comparison: dict, seeds: int) -> dict:
    """The judged part of a claim row: the published size on ``dataset`` (or "published elsewhere"),
    the detectable effect, the verdict (:data:`NOT_MEASURED` below :data:`MIN_SEEDS` seeds) and its
    reason, from ``comparison`` (``difference``, ``ci_low``, ``ci_high``, ``standard_error``,
    ``n_dialogues``). One rule for :func:`evaluate_claims` and :func:`rejudge`."""
    published = claim.published_size(dataset)
    detectable = detectable_effect(comparison["standard_error"])
    if seeds < MIN_SEEDS:
        word, reason = NOT_MEASURED, f"{seeds} seed(s); a verdict needs >= {MIN_SEEDS} seeds at full size"
    else:
        word, reason = verdict(comparison["ci_low"], comparison["ci_high"], claim.sign, published, detectable,
                               comparison.get("n_dialogues"))
        by_seed = [verdict(low, high, claim.sign, published, detectable, comparison.get("n_dialogues"))[0]
                   for low, high in comparison.get("intervals_by_seed") or []]
        if len(set(by_seed)) > 1:
            counts = {w: by_seed.count(w) for w in dict.fromkeys(by_seed)}
            word, reason = BOUNDARY, (f"{BOUNDARY} between " + " and ".join(f"'{w}' ({n} of {len(by_seed)} bootstrap seeds)"
                                                                            for w, n in counts.items())
                                      + f"; with bootstrap seed 0: {reason}")
    elsewhere = published is None and bool(claim.published_differences)
    other_setting = claim.setting_note(dataset)
    note = (f"; published A - B {published:+.2f} on this dataset, same setting" if published is not None else
            f"; the published figure is in another setting ({other_setting}), sizes not compared" if other_setting else
            f"; the published figure is on another dataset ({', '.join(claim.published_differences)}), "
            "sizes not compared" if elsewhere else "")
    return {"published_size": published, "published_elsewhere": elsewhere, "published_setting_differs": bool(other_setting),
            "detectable_effect": round(detectable, 2),
            "verdict": word, "reason": f"ours A - B {comparison['difference']:+.2f}: {reason}{note}"}


def collect_claims(write: bool = True, folder=None) -> list[dict]:
    """Every claim measured by the complete, full-size results files directly under ``results/``
    (smoke runs write to ``results/smoke/`` and are never read here; a file whose parameters say
    ``smoke`` is skipped too, as is one not marked complete: both are listed in ``missing_results``).
    Written to ``results/claims.json``; claims no full-size run measured are listed in
    ``unmeasured`` with the verdict :data:`NOT_MEASURED`; cross-validated claims (a results file's
    ``cross_validation``, :func:`rejudge_cv`) under ``claims_cv``. ``folder``: default the full-size results
    folder (``results_dir(smoke=False)``, whatever this process's smoke setting)."""
    claims, claims_cv, missing, sources = [], [], [], []
    folder = Path(folder) if folder is not None else results_dir(smoke=False)
    for path in sorted(folder.glob("[0-9][0-9]_*.json")):
        if path.name.endswith(".previous.json"):
            continue
        payload = json.loads(path.read_text())
        if payload.get("status") != STATUS_COMPLETE:
            missing.append({"file": path.name, "status": payload.get("status", "missing")})
            continue
        if payload.get("parameters", {}).get("smoke"):
            missing.append({"file": path.name, "status": "smoke run (never read for claims)"})
            continue
        sources.append(path.stem)
        for c in payload.get("claims", []):
            judged = rejudge(c)
            if judged is not None:
                claims.append({**judged, "source_results": path.stem, "smoke": False})
        for c in (payload.get("cross_validation") or {}).get("claims", []):
            judged = rejudge_cv(c)
            if judged is not None:
                claims_cv.append({**judged, "source_results": path.stem})
    measured = {c["id"] for c in claims if c["verdict"] != NOT_MEASURED}
    unmeasured = [{"id": c.id, "paper": c.paper, "claim": c.text, "notebook": c.notebook, "verdict": NOT_MEASURED}
                  for c in CLAIMS if c.id not in measured]
    if write:
        write_json(folder / "claims.json", {
            "status": STATUS_COMPLETE, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": sources, "missing_results": missing, "unmeasured": unmeasured,
            "claims": sorted(claims, key=lambda c: (c["paper"], c["id"], c["dataset"])),
            "claims_cv": sorted(claims_cv, key=lambda c: (c["paper"], c["id"], c["dataset"]))})
    return claims
