"""Utterance-level ERC metrics in percent over real utterances only (scikit-learn), the
majority-class floor, and paired bootstrap confidence intervals over test dialogues."""
from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(y_true, y_pred, label_names: list[str]) -> dict:
    """Weighted F1, macro F1, accuracy (all in percent), per-class F1 and confusion matrix.

    Args:
        y_true, y_pred: 1-D integer class indices of real utterances (no padding).
        label_names: class names; index = class id. Classes absent from both arrays get F1 0.

    Returns:
        ``{"weighted_f1", "macro_f1", "accuracy", "per_class_f1": {name: f1},
        "confusion": list of lists (rows = true class, columns = predicted), "n": count}``.

    Raises:
        ValueError: empty input or labels outside ``range(len(label_names))``.
    """
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if len(y_true) == 0:
        raise ValueError("no utterances to score")
    n = len(label_names)
    if y_true.min() < 0 or y_true.max() >= n or y_pred.min() < 0 or y_pred.max() >= n:
        raise ValueError(f"labels outside 0..{n - 1}; did padding (-100) slip through?")
    labels = list(range(n))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "weighted_f1": 100 * f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
        "macro_f1": 100 * f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "accuracy": 100 * accuracy_score(y_true, y_pred),
        "per_class_f1": {name: 100 * float(f) for name, f in zip(label_names, per_class)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }


def majority_baseline(train_labels, test_labels, label_names: list[str]) -> dict:
    """Test metrics of always predicting the most frequent TRAIN class (scikit-learn's
    ``DummyClassifier``): the floor any model must clear. Returns
    :func:`classification_metrics` plus ``"label"`` (the predicted class name)."""
    y_train, y_test = np.asarray(train_labels).reshape(-1), np.asarray(test_labels).reshape(-1)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y_train), 1)), y_train)
    pred = dummy.predict(np.zeros((len(y_test), 1)))
    return {**classification_metrics(y_test, pred, label_names), "label": label_names[int(pred[0])]}


# ----------------------------------------------------------------------------- bootstrap
def _dialogue_tables(y_true: np.ndarray, y_pred: np.ndarray, dialogue: np.ndarray, n_dialogues: int,
                     n_classes: int) -> np.ndarray:
    """``(n_dialogues, 3, n_classes)`` counts per dialogue: true positives, predictions, truths."""
    out = np.zeros((n_dialogues, 3, n_classes))
    for row, (values, weights) in enumerate(((y_true, y_true == y_pred), (y_pred, None), (y_true, None))):
        flat = dialogue * n_classes + values
        out[:, row, :] = np.bincount(flat, weights=weights, minlength=n_dialogues * n_classes).reshape(n_dialogues, n_classes)
    return out


def _scores(counts: np.ndarray, metric: str) -> np.ndarray:
    """Weighted F1 or accuracy (percent) from ``(..., 3, C)`` summed counts (as scikit-learn:
    F1_c = 2 TP / (2 TP + FP + FN), 0 where undefined, weighted by support)."""
    tp, pred, true = counts[..., 0, :], counts[..., 1, :], counts[..., 2, :]
    n = true.sum(-1)
    if metric == "accuracy":
        return 100 * tp.sum(-1) / np.maximum(n, 1)
    denom = pred + true
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return 100 * (f1 * true).sum(-1) / np.maximum(n, 1)


def paired_bootstrap(y_true, predictions_a, predictions_b, dialogue_lengths, n_classes: int,
                     metric: str = "weighted_f1", n_resamples: int = 1000, confidence: float = 0.95,
                     seed: int = 0, strata=None, resample: str = "both") -> dict:
    """Paired bootstrap over test dialogues of the difference A - B in a metric.

    Each resample draws whole test dialogues with replacement (the utterances of a dialogue
    are not independent), and, when A and B have several seeds, draws seeds with replacement
    too (the same seed indices for both when their counts match, so identical predictions
    give exactly 0). For every resample the metric is averaged over the drawn seeds of A and
    of B and the difference taken; the interval is the percentile interval of those
    differences. Counts are summed per dialogue once, so 1,000 resamples take milliseconds.

    Cross-validation (``strata``): the test dialogues of all folds, each with its own fold's
    predictions, are resampled within their fold (a stratified bootstrap: each resample draws as
    many dialogues of each fold as the fold has; Davison & Hinkley 1997, Bootstrap Methods and
    their Application, Sec. 3.7), so every resample keeps the folds' sizes; seed ``s`` of A is the
    seed-``s`` fit of every fold, as in the concatenated predictions.

    Args:
        y_true: ``(n_utterances,)`` test labels, dialogues in order.
        predictions_a, predictions_b: ``(n_utterances,)`` or ``(n_seeds, n_utterances)`` predictions.
        dialogue_lengths: utterances per test dialogue, in order (sums to ``n_utterances``).
        n_classes: number of classes.
        metric: ``"weighted_f1"`` or ``"accuracy"`` (percent).
        n_resamples: bootstrap resamples (>= 1000 for a reported interval).
        confidence: interval coverage (0.95 -> 2.5th and 97.5th percentiles).
        seed: seeds the resampling (same seed, same interval).
        strata: ``(n_dialogues,)`` the fold of each test dialogue (any hashable labels), or None
            (one stratum: the plain bootstrap, the same draws as before strata existed).
        resample: ``"both"`` (dialogues and seeds, the interval of a claim), ``"dialogues"`` (every
            seed once in each resample) or ``"seeds"`` (every dialogue once): the last two split the
            variance of A - B into its test-dialogue and seed parts (:func:`seed_variance_share`).

    Returns:
        ``{"difference": A - B on the full test set (seed means), "ci_low", "ci_high",
        "standard_error" (the sample std of the resampled differences, points), "excludes_zero", "a_mean", "b_mean", "n_dialogues", "n_resamples", "confidence",
        "metric", "n_seeds_a", "n_seeds_b", "n_strata" (folds resampled within; 1 without strata)}``.

    Raises:
        ValueError: shapes that disagree, lengths that do not sum to the utterances, strata of
            another length than the dialogues, an unknown metric or a confidence outside (0, 1).
    """
    if metric not in ("weighted_f1", "accuracy"):
        raise ValueError(f"metric must be 'weighted_f1' or 'accuracy', got {metric!r}")
    if resample not in ("both", "dialogues", "seeds"):
        raise ValueError(f"resample must be 'both', 'dialogues' or 'seeds', got {resample!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    a = np.atleast_2d(np.asarray(predictions_a, dtype=np.int64))
    b = np.atleast_2d(np.asarray(predictions_b, dtype=np.int64))
    lengths = np.asarray(dialogue_lengths, dtype=np.int64)
    if a.shape[1] != len(y) or b.shape[1] != len(y):
        raise ValueError(f"predictions cover {a.shape[1]} / {b.shape[1]} utterances, labels {len(y)}")
    if lengths.sum() != len(y) or (lengths < 1).any():
        raise ValueError(f"dialogue lengths sum to {lengths.sum()}, but there are {len(y)} utterances")
    dialogue = np.repeat(np.arange(len(lengths)), lengths)
    tables = {k: np.stack([_dialogue_tables(y, p, dialogue, len(lengths), n_classes) for p in preds])
              for k, preds in (("a", a), ("b", b))}                        # (S, D, 3, C)
    rng = np.random.default_rng(seed)
    if strata is None:
        weights = rng.multinomial(len(lengths), np.full(len(lengths), 1 / len(lengths)), size=n_resamples)  # (R, D)
    else:
        groups = np.asarray(strata)
        if groups.shape != (len(lengths),):
            raise ValueError(f"strata give {groups.shape} labels for {len(lengths)} dialogues")
        weights = np.zeros((n_resamples, len(lengths)), dtype=np.int64)
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            weights[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_resamples)
    sa = rng.integers(0, len(a), size=(n_resamples, len(a)))
    sb = sa if len(a) == len(b) else rng.integers(0, len(b), size=(n_resamples, len(b)))
    if resample == "seeds":
        weights = np.ones_like(weights)
    elif resample == "dialogues":
        sa, sb = np.tile(np.arange(len(a)), (n_resamples, 1)), np.tile(np.arange(len(b)), (n_resamples, 1))

    def resampled(t: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        s_, d_, k_, c_ = t.shape  # one matrix product (R, D) x (D, S*3*C): exact on integer counts
        counts = (weights.astype(np.float64) @ t.transpose(1, 0, 2, 3).reshape(d_, -1)).reshape(-1, s_, k_, c_)
        per_seed = _scores(counts, metric)                                   # (R, S)
        return np.take_along_axis(per_seed, seeds, axis=1).mean(1)

    diffs = resampled(tables["a"], sa) - resampled(tables["b"], sb)
    full = {k: _scores(t.sum(1), metric) for k, t in tables.items()}        # (S,)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return {"metric": metric, "difference": float(full["a"].mean() - full["b"].mean()),
            "ci_low": float(low), "ci_high": float(high), "standard_error": float(diffs.std(ddof=1)) if n_resamples > 1 else 0.0,
            "excludes_zero": bool(low > 0 or high < 0),
            "a_mean": float(full["a"].mean()), "b_mean": float(full["b"].mean()),
            "n_seeds_a": int(len(a)), "n_seeds_b": int(len(b)), "n_dialogues": int(len(lengths)),
            "n_strata": 1 if strata is None else int(len(np.unique(np.asarray(strata)))),
            "n_resamples": int(n_resamples), "confidence": confidence}


def seed_variance_share(y_true, predictions_a, predictions_b, dialogue_lengths, n_classes: int,
                        metric: str = "weighted_f1", n_resamples: int = 2000, seed: int = 0, strata=None) -> dict:
    """How the variance of A - B splits between the seeds and the test dialogues.

    Two bootstraps of :func:`paired_bootstrap`: one resamples the seeds only (every test dialogue
    once), the other the dialogues only (every seed once); their variances are the seed part and the
    dialogue part (a one-way split of the bootstrap variance; Davison & Hinkley 1997, Sec. 3.8 on
    hierarchical data). More seeds shrink the first, more test dialogues (cross-validation) the second.

    Args: as :func:`paired_bootstrap` (with at least 2 seeds on each side for a seed part).

    Returns:
        ``{"seed_variance", "dialogue_variance" (points^2), "seed_share"}``: the seed part over the
        sum of both (0 when both are 0).
    """
    args = (y_true, predictions_a, predictions_b, dialogue_lengths, n_classes, metric, n_resamples)
    seeds = paired_bootstrap(*args, seed=seed, strata=strata, resample="seeds")["standard_error"] ** 2
    dialogues = paired_bootstrap(*args, seed=seed, strata=strata, resample="dialogues")["standard_error"] ** 2
    total = seeds + dialogues
    return {"seed_variance": seeds, "dialogue_variance": dialogues, "seed_share": seeds / total if total > 0 else 0.0}
