"""Paired differences between two rows of an experiment on the same test dialogues: over seeds and
test dialogues (:func:`paired_difference`), over the pooled test sets of cross-validation folds
(:func:`cross_validated_difference`, :func:`pooled_test_set`), and their table and reading."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from .fit_result import FitResult
from .metrics import classification_metrics, paired_bootstrap

if TYPE_CHECKING:  # annotations only: the experiment module imports this one
    from .experiment import Experiment


def paired_difference(a: Experiment, variant_a: str, b: Experiment, variant_b: str, dataset: str | None = None,
                      metric: str = "weighted_f1", n_resamples: int = 1000, seed: int = 0,
                      output: str = "y_pred") -> dict:
    """Variant A minus variant B on the same test dialogues, with a paired bootstrap 95% interval
    over test dialogues and seeds (:func:`erc_lib.metrics.paired_bootstrap`).

    ``a`` and ``b`` may be the same experiment. ``output`` compares the model's predictions
    (``"y_pred"``) or those of a kept per-utterance output such as ``"logits_text"`` (an SDT
    student head). Returns the bootstrap dict plus ``a``, ``b`` (the variant names), ``dataset``
    and ``a_std``/``b_std`` (the seed std of the metric on the full test set).

    Raises:
        KeyError: a variant without runs.
        ValueError: the two were scored on different test utterances.
    """
    fits_a, fits_b = a.seed_fits(variant_a, dataset), b.seed_fits(variant_b, dataset)
    if not fits_a or not fits_b:
        raise KeyError(f"no runs of {variant_a!r} or {variant_b!r}" + (f" on {dataset}" if dataset else ""))
    name = dataset or next(k[0] for k in a.fits if k[1] == variant_a)
    truth = a.test_truth[name]
    for f in fits_a + fits_b:
        if not np.array_equal(f.test_outputs["y_true"], truth["labels"]):
            raise ValueError(f"{variant_a!r} and {variant_b!r} were not scored on the same test utterances")
    n_classes = len(fits_a[0].test["per_class_f1"])
    preds_a, preds_b = [_predictions(f, output) for f in fits_a], [_predictions(f, output) for f in fits_b]
    result = paired_bootstrap(truth["labels"], preds_a, preds_b, truth["dialogue_lengths"], n_classes,
                              metric, n_resamples, seed=seed)
    score = lambda p: classification_metrics(truth["labels"], p, [str(c) for c in range(n_classes)])[metric]
    std = lambda preds: float(np.std([score(p) for p in preds], ddof=1)) if len(preds) > 1 else 0.0
    return {"a": variant_a, "b": variant_b, "dataset": name, "output": output, **result,
            "a_std": std(preds_a), "b_std": std(preds_b)}


def cross_validated_difference(experiment: Experiment, variant_a: str, variant_b: str, dataset: str,
                               folds: Sequence[int], metric: str = "weighted_f1", n_resamples: int = 1000,
                               seed: int = 0, output: str = "y_pred") -> dict:
    """Variant A minus variant B over the test dialogues of every fold, each dialogue scored by its
    own fold's fits, with a fold-stratified paired bootstrap 95% interval
    (:func:`erc_lib.metrics.paired_bootstrap` with ``strata``: dialogues resampled within their
    fold, seeds as in :func:`paired_difference`).

    Args:
        experiment: the folds' runs merged into one (:func:`erc_lib.experiment.merge`), keyed ``"<dataset>@fold<k>"``.
        variant_a, variant_b: the two rows.
        dataset: the dataset's name (``"iemocap"``).
        folds: the folds to pool (e.g. ``range(erc_lib.data.folds.n_folds(dataset))``).
        metric, n_resamples, seed, output: as :func:`paired_difference`.

    Returns:
        the bootstrap dict (``n_strata`` = the folds pooled) plus ``a``, ``b``, ``dataset``,
        ``output``, ``folds`` and ``a_std``/``b_std`` (seed std of the pooled metric).

    Raises:
        KeyError: a fold without runs of either variant.
        ValueError: no folds, or the variants of a fold were run with different seeds than the
            other folds (seed ``s`` is pooled across folds), or scored on different test utterances.
    """
    pooled = pooled_test_set(experiment, variant_a, variant_b, dataset, folds, output)
    y, n_classes = pooled["labels"], pooled["n_classes"]
    result = paired_bootstrap(y, pooled["a"], pooled["b"], pooled["dialogue_lengths"], n_classes, metric, n_resamples,
                              seed=seed, strata=pooled["strata"])
    score = lambda p: classification_metrics(y, p, [str(c) for c in range(n_classes)])[metric]
    std = lambda rows: float(np.std([score(p) for p in rows], ddof=1)) if len(rows) > 1 else 0.0
    return {"a": variant_a, "b": variant_b, "dataset": dataset, "output": output, "folds": pooled["folds"], **result,
            "a_std": std(pooled["a"]), "b_std": std(pooled["b"])}


def pooled_test_set(experiment: Experiment, variant_a: str, variant_b: str, dataset: str, folds: Sequence[int],
                    output: str = "y_pred") -> dict:
    """The test dialogues of every fold in one set, each scored by its own fold's fits: what
    :func:`cross_validated_difference` resamples.

    Returns: ``{"labels": (n_utterances,), "a", "b": (n_seeds, n_utterances) predictions (seed s of
    every fold in row s), "dialogue_lengths", "strata" (the fold of each dialogue), "n_classes",
    "folds"}``, folds in the order given.

    Raises:
        KeyError: a fold without runs of either variant.
        ValueError: no folds, seeds that differ between folds, or fits scored on other utterances
            than the fold's test set.
    """
    folds = [int(k) for k in folds]
    if not folds:
        raise ValueError("cross_validated_difference needs at least one fold")
    labels, lengths, strata, preds = [], [], [], {"a": [], "b": []}
    seeds: dict[str, list[int]] = {}
    n_classes = None
    for k in folds:
        key = f"{dataset}@fold{k}"
        for side, variant in (("a", variant_a), ("b", variant_b)):
            fits = {s: f for (d, v, s), f in experiment.fits.items() if d == key and v == variant}
            if not fits:
                raise KeyError(f"no runs of {variant!r} on {key}")
            if seeds.setdefault(side, sorted(fits)) != sorted(fits):
                raise ValueError(f"{variant!r} has seeds {sorted(fits)} on {key} but {seeds[side]} on another fold")
            truth = experiment.test_truth[key]
            for f in fits.values():
                if not np.array_equal(f.test_outputs["y_true"], truth["labels"]):
                    raise ValueError(f"{variant!r} on {key} was not scored on the fold's test utterances")
            preds[side].append([_predictions(fits[s], output) for s in seeds[side]])
            n_classes = len(next(iter(fits.values())).test["per_class_f1"])
        labels.append(np.asarray(truth["labels"]))
        lengths += list(truth["dialogue_lengths"])
        strata += [k] * len(truth["dialogue_lengths"])
    return {"labels": np.concatenate(labels), "dialogue_lengths": lengths, "strata": strata, "n_classes": n_classes,
            "folds": folds, **{side: np.concatenate([np.asarray(p) for p in per_fold], axis=1)
                               for side, per_fold in preds.items()}}


def _predictions(fit: FitResult, output: str) -> np.ndarray:
    """A fit's test predictions: the model's (``"y_pred"``) or the class of highest score of a kept
    output such as ``"logits_text"``."""
    return fit.test_outputs["y_pred"] if output == "y_pred" else fit.test_outputs[output].argmax(-1)


def interval_reading(c: dict, a_better: str = "A better", b_better: str = "B better") -> str:
    """How to read a :func:`paired_difference` result: ``a_better`` when its 95% interval lies
    above zero, ``b_better`` when below, else ``"inconclusive"`` (the interval includes zero)."""
    return a_better if c["ci_low"] > 0 else b_better if c["ci_high"] < 0 else "inconclusive"


def comparison_table(comparisons: list[dict]) -> pd.DataFrame:
    """:func:`paired_difference` results as a table: comparison, A and B (mean +- std, seeds),
    difference, 95% interval and whether it excludes zero ("inconclusive" when it does not)."""
    rows = []
    for c in comparisons:
        rows.append({"comparison": f"{c['a']}  −  {c['b']}", "dataset": c["dataset"],
                     "A": f"{c['a_mean']:.2f} ± {c['a_std']:.2f} ({c['n_seeds_a']})",
                     "B": f"{c['b_mean']:.2f} ± {c['b_std']:.2f} ({c['n_seeds_b']})",
                     "difference": round(c["difference"], 2), "ci_low": round(c["ci_low"], 2),
                     "ci_high": round(c["ci_high"], 2),
                     "95% CI": f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]",
                     "reading": interval_reading(c)})
    return pd.DataFrame(rows)
