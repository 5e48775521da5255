"""Utterance-level ERC metrics (scikit-learn), in percent, over real utterances only."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def real_utterances(labels: np.ndarray, predictions: np.ndarray, mask: np.ndarray | None = None):
    """Flatten and drop padding: keep positions where ``mask`` is True (or, without a mask,
    where ``labels >= 0``). Returns ``(y_true, y_pred)`` 1-D int arrays."""
    labels, predictions = np.asarray(labels).reshape(-1), np.asarray(predictions).reshape(-1)
    keep = np.asarray(mask).reshape(-1).astype(bool) if mask is not None else labels >= 0
    return labels[keep], predictions[keep]


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
