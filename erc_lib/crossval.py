"""Claims measured on every dialogue: cross-validated comparisons beside the standard split, their
power, and what tuning on the standard split leaks into the other folds.

A claim on the standard split sees one test set (31 IEMOCAP dialogues, 31 MOSI videos, 85 EmoryNLP
scenes); :func:`run_folds` trains the claim's rows on every fold of :mod:`erc_lib.data.folds` (the one
experiment loop, :func:`erc_lib.experiment.run_experiment`, once per fold), and
:func:`evaluate_claims_cv` judges each claim on all test dialogues at once
(:func:`erc_lib.experiment.cross_validated_difference`, a fold-stratified paired bootstrap) by the
one verdict rule (:func:`erc_lib.claims.judge_comparison`), with the standard split's verdict (fold
0) beside it. The papers report standard splits: absolute numbers are compared with theirs only there.

Tuning is not repeated per fold: the settings in ``configs/tuned/`` were chosen on the standard
split, whose train and dev dialogues are the test dialogues of folds 1 .. k-1. :func:`tuning_leak`
measures what that may add: the claim's difference on fold 0 (no tuning saw its test dialogues)
minus its difference on folds 1 .. k-1, with a 95% interval.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .claims import CLAIMS, MIN_SEEDS, Z_ALPHA, judge_comparison, stable_comparison
from .data import ERCData, standardize_features
from .experiment import Experiment, RunSpec, cross_validated_difference, merge, pooled_test_set, run_experiment
from .data.folds import STANDARD_FOLD, fold_data, n_folds
from .metrics import paired_bootstrap, seed_variance_share
from .training import TrainConfig


def run_folds(data: ERCData, specs_for: Callable[[ERCData], Sequence[RunSpec]], seeds: int | Sequence[int],
              config: TrainConfig, folds: Sequence[int] | None = None, standardize: bool = True,
              progress: bool = True) -> Experiment:
    """Train the rows ``specs_for(fold)`` builds on each fold of ``data``, merged into one experiment.

    Args:
        data: the dataset with its standard split, features NOT yet standardised
            (:func:`erc_lib.features.text.prepare_dataset` with ``standardize=False``).
        specs_for: builds the rows for one fold's dataset (class weights, feature sizes and
            speaker tables come from that fold's training dialogues).
        seeds: as :func:`erc_lib.experiment.run_experiment` (the same seeds on every fold).
        config: shared training settings.
        folds: the folds to run (default: all, ``0 .. n_folds - 1``).
        standardize: z-score each fold's features with its own training statistics.
        progress: progress bars.

    Returns: one :class:`~erc_lib.experiment.Experiment` keyed ``"<dataset>@fold<k>"``; fold 0's runs
    are the standard split's (the fit cache reads them back when the standard run stored them).

    Raises: ValueError for a dataset without folds or a fold out of range (before any training).
    """
    folds = list(range(n_folds(data.name))) if folds is None else [int(k) for k in folds]
    parts = [fold_data(data, k) for k in folds]  # every fold checked before the first fit
    runs = []
    for part in parts:
        if standardize and part.modalities:
            standardize_features(part)
        runs.append(run_experiment(part, list(specs_for(part)), seeds, config, progress=progress,
                                   desc=f"{data.name} fold {part.fold}"))
    return merge(*runs)


_KEPT = ("difference", "ci_low", "ci_high", "standard_error", "n_resamples", "n_dialogues", "n_seeds_a", "n_seeds_b",
         "bootstrap_seed", "intervals_by_seed")


def evaluate_claims_cv(notebook: str, experiment: Experiment, dataset: str, folds: Sequence[int] | None = None,
                       names: dict | None = None, n_resamples: int | None = None) -> list[dict]:
    """Judge every claim of ``notebook`` whose two rows ``experiment`` holds on every fold.

    Args:
        notebook: e.g. ``"03_sdt"``.
        experiment: the folds' runs (:func:`run_folds`).
        dataset: the dataset's name (``"iemocap"``).
        folds: the folds to pool (default: all of the dataset's).
        names: values for the claims' ``{...}`` placeholders (``full``, ``best_unimodal``).
        n_resamples: bootstrap resamples; None: enough for a 0.05-point Monte-Carlo error.

    Returns: one dict per claim: ``id``, ``text``, ``dataset``, ``a``, ``b``, ``output``, the
    cross-validated ``comparison`` and its judgement (``verdict``, ``reason``, ``detectable_effect``,
    ...), ``standard`` (the same for fold 0, the standard split), ``verdicts_differ``, ``seed_share``
    (seed part of the cross-validated variance, :func:`erc_lib.metrics.seed_variance_share`),
    ``fits`` (training runs the claim rests on) and ``tuning_leak`` (:func:`tuning_leak`).

    Raises: ValueError when ``folds`` leaves out fold 0 (the standard split; before any bootstrap).
    """
    folds = list(range(n_folds(dataset))) if folds is None else [int(k) for k in folds]
    if STANDARD_FOLD not in folds:
        raise ValueError(f"folds {folds} leave out fold {STANDARD_FOLD}, the standard split, on which every claim "
                         "is judged beside its cross-validated estimate")
    keys = [f"{dataset}@fold{k}" for k in folds]
    out = []
    for claim in CLAIMS:
        if claim.notebook != notebook or dataset not in claim.datasets:
            continue
        a, b = claim.a.format(**(names or {})), claim.b.format(**(names or {}))
        have = [{v for (d, v, _) in experiment.fits if d == key} for key in keys]
        if not all(a in h and b in h for h in have):
            continue
        if claim.output != "y_pred" and any(claim.output not in f.test_outputs for (d, v, _), f in experiment.fits.items()
                                            if d in keys and v in (a, b)):
            continue  # the rows have no such head (the text student of an audio-only SDT)
        pooled = lambda resamples, seed, fs=folds: cross_validated_difference(  # noqa: E731
            experiment, a, b, dataset, fs, n_resamples=resamples, seed=seed, output=claim.output)
        seeds = min(len({s for (d, v, s) in experiment.fits if d in keys and v == variant}) for variant in (a, b))
        cv = stable_comparison(pooled, n_resamples, verdict_possible=seeds >= MIN_SEEDS)
        standard = stable_comparison(lambda r, s: pooled(r, s, [STANDARD_FOLD]), n_resamples,
                                     verdict_possible=seeds >= MIN_SEEDS)
        judged, judged_standard = (judge_comparison(claim, dataset, c, seeds) for c in (cv, standard))
        test = pooled_test_set(experiment, a, b, dataset, folds, claim.output)
        out.append({
            "id": claim.id, "paper": claim.paper, "text": claim.text, "dataset": dataset, "a": a, "b": b,
            "output": claim.output, "folds": folds, "n_classes": test["n_classes"], "comparison": {k: cv[k] for k in _KEPT}, **judged,
            "standard": {"comparison": {k: standard[k] for k in _KEPT}, **judged_standard},
            "verdicts_differ": judged["verdict"] != judged_standard["verdict"],
            "seed_share": seed_variance_share(test["labels"], test["a"], test["b"], test["dialogue_lengths"],
                                              test["n_classes"], strata=test["strata"])["seed_share"],
            "fits": len(folds) * (cv["n_seeds_a"] + cv["n_seeds_b"]),
            "tuning_leak": tuning_leak(standard, pooled(cv["n_resamples"], 0, [k for k in folds if k != STANDARD_FOLD]))
            if len(folds) > 1 else None,
            "source_results": f"{notebook}_{dataset}_cv"})
    return out


#: Where the seeds are the noise: a claim whose seed share of the variance is over SEED_SHARE and whose
#: detectable effect is over TARGET_DETECTABLE points gets SEED_STEP more seeds for its two rows on every
#: fold, round after round, until its detectable effect reaches the target, falls by less than MIN_FALL
#: (relative) in a round, or its rows have MAX_SEEDS seeds.
SEED_SHARE, TARGET_DETECTABLE, SEED_STEP, MIN_FALL, MAX_SEEDS = 0.5, 2.0, 5, 0.05, 20


def _seeds_of(experiment: Experiment, variant: str, dataset: str, folds: Sequence[int]) -> list[int]:
    keys = {f"{dataset}@fold{k}" for k in folds}
    return sorted({s for (d, v, s) in experiment.fits if d in keys and v == variant})


def _paired_seeds(claim: dict) -> int:
    """The seeds a judged claim rests on: the smaller of its two rows' seed counts."""
    return min(claim["comparison"]["n_seeds_a"], claim["comparison"]["n_seeds_b"])


def why_no_more_seeds(claim: dict, history: list[dict], target: float = TARGET_DETECTABLE,
                      max_seeds: int = MAX_SEEDS) -> str | None:
    """Why a cross-validated claim gets no more seeds (:func:`add_seeds`), or None when it gets
    :data:`SEED_STEP` more.

    Args:
        claim: a judged claim (:func:`evaluate_claims_cv`): ``comparison.n_seeds_a``/``n_seeds_b``,
            ``seed_share`` (0-1), ``detectable_effect`` (points).
        history: its rounds so far, oldest first (``[{"seeds", "detectable_effect"}, ...]``); the last
            is the claim as judged now.
        target: the detectable effect (points) at which more seeds are not needed.
        max_seeds: the most seeds a row gets.

    The reasons, in this order: fewer than :data:`erc_lib.claims.MIN_SEEDS` seeds (no verdict to
    sharpen); a seed share of at most :data:`SEED_SHARE` before any round (the dialogues are the
    noise, seeds would not help); a detectable effect within ``target``; a detectable effect that fell
    by less than :data:`MIN_FALL` of itself in the last round; ``max_seeds`` reached.
    """
    seeds = _paired_seeds(claim)
    if seeds < MIN_SEEDS:
        return f"fewer than {MIN_SEEDS} seeds: no verdict to sharpen"
    if len(history) == 1 and claim["seed_share"] <= SEED_SHARE:
        return f"seed share {100 * claim['seed_share']:.0f}% is at most half: the dialogues are the noise"
    if claim["detectable_effect"] <= target:
        return f"detectable effect {claim['detectable_effect']:.2f} is within {target:g} points"
    # the relative fall, rounded so that a fall of exactly MIN_FALL is not lost to floating point
    if len(history) > 1 and round(history[-1]["detectable_effect"] / history[-2]["detectable_effect"], 9) > 1 - MIN_FALL:
        return (f"detectable effect stopped falling ({history[-2]['detectable_effect']:.2f} -> "
                f"{history[-1]['detectable_effect']:.2f} with {history[-1]['seeds']} seeds)")
    if seeds >= max_seeds:
        return f"at the cap of {max_seeds} seeds"
    return None


def add_seeds(data: ERCData, specs_for: Callable[[ERCData], Sequence[RunSpec]], experiment: Experiment,
              claims_cv: list[dict], config: TrainConfig, notebook: str, dataset: str, names: dict | None = None,
              folds: Sequence[int] | None = None, n_resamples: int | None = None, step: int = SEED_STEP,
              max_seeds: int = MAX_SEEDS, target: float = TARGET_DETECTABLE, progress: bool = True
              ) -> tuple[Experiment, list[dict]]:
    """More seeds where the seeds are the noise: each cross-validated claim that
    :func:`why_no_more_seeds` lets grow (seed share over :data:`SEED_SHARE` before its first round,
    detectable effect over ``target`` points, still falling by at least :data:`MIN_FALL` a round, rows
    under ``max_seeds``) gets ``step`` more seeds (the next seed numbers) for its two rows on every fold,
    and every claim is judged again; rounds go on until no claim may grow. Claims resting on fewer
    than :data:`erc_lib.claims.MIN_SEEDS` seeds (smoke runs) get none: there is no verdict to sharpen.

    A claim's two rows always keep the same seeds: when a row gains seeds for one claim, every
    other claim comparing that row has its other row trained on the same new seeds. The paired
    bootstrap (:func:`erc_lib.metrics.paired_bootstrap`) pairs seed i of A with seed i of B only when
    both have the same seeds; a claim left with 10 seeds against 5 loses that pairing and its
    interval widens (seen on MiSTER-E, whose full model every claim of the paper compares). A claim
    whose seeds changed in a round gets that round in its history, so its reason for stopping is
    always about the numbers it is judged on.

    Args:
        data, specs_for, config: as :func:`run_folds` (``specs_for`` may build more rows than the
            claims need; only the claims' rows are trained).
        experiment, claims_cv: the folds' runs and their judged claims (:func:`evaluate_claims_cv`).
        notebook, dataset, names, folds, n_resamples: as :func:`evaluate_claims_cv`.
        step, max_seeds, target: seeds per round, the most seeds a row gets, the detectable effect
            (points) at which a claim stops.

    Returns: ``(experiment with the added runs, claims judged again)``; every claim carries
    ``seed_rounds`` (``[{"seeds", "detectable_effect"}, ...]``: its first judgement, then one entry per
    round that changed its seeds) and ``seeds_stopped`` (why it gets no more seeds, from its last
    entry).

    Raises: ValueError for ``step < 1`` or ``max_seeds < 1`` (before any training).
    """
    if step < 1 or max_seeds < 1:
        raise ValueError(f"step and max_seeds must be at least 1 (got step={step}, max_seeds={max_seeds})")
    folds = list(range(n_folds(dataset))) if folds is None else [int(k) for k in folds]
    rounds = {c["id"]: [{"seeds": _paired_seeds(c), "detectable_effect": c["detectable_effect"]}] for c in claims_cv}
    while True:
        why = {c["id"]: why_no_more_seeds(c, rounds[c["id"]], target, max_seeds) for c in claims_cv}
        growing = [c for c in claims_cv if why[c["id"]] is None]
        if not growing:
            break
        have = {row: _seeds_of(experiment, row, dataset, folds) for c in claims_cv for row in (c["a"], c["b"])}
        wanted = {row: len(seeds) for row, seeds in have.items()}
        for c in growing:
            for row in (c["a"], c["b"]):
                wanted[row] = max(wanted[row], min(_paired_seeds(c) + step, max_seeds))
        paired = False
        while not paired:  # a claim's two rows get the same seeds, through every claim they share
            paired = True
            for c in claims_cv:
                both = max(wanted[c["a"]], wanted[c["b"]])
                for row in (c["a"], c["b"]):
                    if wanted[row] < both:
                        wanted[row], paired = both, False
        for row in sorted(wanted):
            first = max(have[row], default=-1) + 1  # seeds stay 0 .. n-1, as the stored predictions are keyed
            new = list(range(first, first + wanted[row] - len(have[row])))
            if new:
                more = run_folds(data, lambda part, r=row: [s for s in specs_for(part) if s.variant == r], new, config,
                                 folds=folds, progress=progress)
                experiment = merge(experiment, more)
        judged = {c["id"]: c for c in evaluate_claims_cv(notebook, experiment, dataset, folds=folds, names=names,
                                                         n_resamples=n_resamples)}
        claims_cv = [judged.get(c["id"], c) for c in claims_cv]
        for c in claims_cv:
            if _paired_seeds(c) != rounds[c["id"]][-1]["seeds"]:
                rounds[c["id"]].append({"seeds": _paired_seeds(c), "detectable_effect": c["detectable_effect"]})
    return experiment, [{**c, "seed_rounds": rounds[c["id"]], "seeds_stopped": why[c["id"]]} for c in claims_cv]


def claim_rows(notebook: str, dataset: str, names: dict | None = None) -> set[str]:
    """The rows (variant names) the claims of ``notebook`` on ``dataset`` compare: what
    :func:`run_folds` must train on every fold."""
    return {row.format(**(names or {})) for c in CLAIMS if c.notebook == notebook and dataset in c.datasets
            for row in (c.a, c.b)}


def results_payload(experiment: Experiment, claims_cv: list[dict]) -> dict:
    """The ``cross_validation`` entry of a notebook's results JSON: the judged claims and every
    fold's rows, test predictions (the model's and its class-scoring kept outputs) and truth, keyed
    ``"<dataset>@fold<k>|variant|seed"``, so every pooled interval can be recomputed."""
    payload = experiment.to_json()
    payload.pop("histories", None)
    return {"claims": claims_cv, **payload}


def recompute_cv_comparison(row: dict, payload: dict) -> dict:
    """A stored cross-validated claim's pooled comparison computed again from the predictions the
    ``cross_validation`` entry of its results JSON stores (:func:`results_payload`).

    Raises: KeyError naming a prediction that is not stored."""
    comp, output = row["comparison"], row.get("output", "y_pred")
    y, lengths, strata, preds = [], [], [], {"a": [], "b": []}
    for k in row["folds"]:
        key = f"{row['dataset']}@fold{k}"
        truth = payload["test_truth"][key]
        y += list(truth["labels"])
        lengths += list(truth["dialogue_lengths"])
        strata += [k] * len(truth["dialogue_lengths"])
        for side, n in (("a", comp["n_seeds_a"]), ("b", comp["n_seeds_b"])):
            stored = [f"{key}|{row[side]}|{seed}" for seed in range(n)]
            try:
                preds[side].append([payload["test_predictions"][x] if output == "y_pred" else
                                    payload["test_output_predictions"][x][output] for x in stored])
            except KeyError as missing:
                raise KeyError(f"{row['id']}: no stored {output} predictions for {missing}") from None
    pooled = {side: np.concatenate([np.asarray(p) for p in per_fold], axis=1) for side, per_fold in preds.items()}
    return paired_bootstrap(y, pooled["a"], pooled["b"], lengths, row["n_classes"], n_resamples=comp["n_resamples"],
                            seed=comp.get("bootstrap_seed", 0), strata=strata)


def tuning_leak(standard: dict, others: dict) -> dict:
    """The claim's difference on fold 0 (whose test dialogues no tuning saw) minus its difference on
    folds 1 .. k-1 (whose test dialogues were the standard split's train and dev, where the settings
    were tuned), with a 95% interval from the two independent bootstraps' standard errors (normal
    approximation: difference +- 1.96 x sqrt(se_0^2 + se_rest^2)). An interval that excludes zero
    says the folds disagree beyond chance, one possible cause being the leak.

    Args: two :func:`erc_lib.experiment.cross_validated_difference` (or paired) results.
    Returns: ``{"fold_0", "other_folds", "difference", "ci_low", "ci_high", "excludes_zero"}`` (points).
    """
    gap = standard["difference"] - others["difference"]
    half = Z_ALPHA * math.sqrt(standard["standard_error"] ** 2 + others["standard_error"] ** 2)
    return {"fold_0": standard["difference"], "other_folds": others["difference"], "difference": gap,
            "ci_low": gap - half, "ci_high": gap + half, "excludes_zero": bool(gap - half > 0 or gap + half < 0)}


def power_table(rows: list[dict]) -> pd.DataFrame:
    """One line per cross-validated claim (:func:`evaluate_claims_cv`): test dialogues on the
    standard split and under cross-validation, the seeds per fold and the fits it rests on (more seeds
    where the seeds are the noise, :func:`add_seeds`), the seed share of its variance,
    the smallest detectable effect and the verdict under each, and the tuning-leak gap."""
    lines = []
    for r in rows:
        leak = r.get("tuning_leak")
        lines.append({
            "claim": r["text"], "dataset": r["dataset"],
            "test dialogues (standard / CV)": f"{r['standard']['comparison']['n_dialogues']} / {r['comparison']['n_dialogues']}",
            "seeds per fold (A / B)": f"{r['comparison']['n_seeds_a']} / {r['comparison']['n_seeds_b']}",
            "fits": r["fits"], "seed share of the variance": f"{100 * r['seed_share']:.0f}%",
            "detectable effect, standard": f"{r['standard']['detectable_effect']:.2f}",
            "detectable effect, CV": f"{r['detectable_effect']:.2f}",
            "verdict, standard": r["standard"]["verdict"], "verdict, CV": r["verdict"],
            "fold 0 − other folds [95% CI]": (f"{leak['difference']:+.2f} [{leak['ci_low']:+.2f}, {leak['ci_high']:+.2f}]"
                                              if leak else "–")})
    return pd.DataFrame(lines)


#: Verdicts that leave the question open.
UNDECIDED = ("underpowered", "on the boundary", "not measured at full size")


def cv_reading(rows: list[dict]) -> str:
    """One paragraph for the front page: how many cross-validated claims the study decides (a
    verdict other than :data:`UNDECIDED`) against how many it decided on the standard split, which
    verdicts the two disagree on, which claims got more seeds (:func:`add_seeds`), and where fold 0
    and the other folds differ beyond chance (the tuning leak, :func:`tuning_leak`)."""
    if not rows:
        return ("No claim has been cross-validated yet: run `python -m erc_lib.report --config configs/full.yaml` "
                "(cross_validation: true).")
    decided = [r for r in rows if r["verdict"] not in UNDECIDED]
    before = [r for r in rows if r["standard"]["verdict"] not in UNDECIDED]
    text = (f"Cross-validated on every dialogue, the study decides {len(decided)} of {len(rows)} claim measurements "
            f"(on the standard split alone: {len(before)}).")
    grown = [r for r in rows if len(r.get("seed_rounds") or []) > 1]
    if grown:
        text += (" Where the seeds were most of the noise, the claim's rows got more seeds: " + "; ".join(
            f"{r['text']} on {r['dataset']} ({r['seed_rounds'][0]['seeds']} -> {r['seed_rounds'][-1]['seeds']} seeds per fold, "
            f"detectable effect {r['seed_rounds'][0]['detectable_effect']:.2f} -> {r['seed_rounds'][-1]['detectable_effect']:.2f})"
            for r in grown) + ".")
    differ = [r for r in rows if r.get("verdicts_differ")]
    if differ:
        text += " The verdict moves for " + "; ".join(
            f"{r['text']} on {r['dataset']} ({r['standard']['verdict']} -> {r['verdict']})" for r in differ) + "."
    leaks = [r for r in rows if (r.get("tuning_leak") or {}).get("excludes_zero")]
    text += (" Fold 0, whose test dialogues no tuning saw, differs from the other folds beyond chance for "
             + "; ".join(f"{r['text']} on {r['dataset']} ({r['tuning_leak']['difference']:+.2f})" for r in leaks)
             + ": read those verdicts with the tuning leak in mind." if leaks else
             " On no claim does fold 0, whose test dialogues no tuning saw, differ from the other folds beyond chance.")
    return text
