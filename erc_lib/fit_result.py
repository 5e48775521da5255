"""The record one training run returns (:class:`FitResult`), below both the trainer and the models,
so a model that fits itself (the scikit-learn baseline) returns it without importing the trainer."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FitResult:
    """What :func:`erc_lib.training.fit` (and a scikit-learn baseline's ``fit_splits``) returns.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_<term>`` (mean per batch of every
            loss term), ``dev_<term>``, ``dev_weighted_f1``, ``dev_accuracy``,
            ``test_weighted_f1``, ``test_accuracy`` (test is logged for curves only).
        best_epoch: the epoch (1-based) with the best dev weighted F1.
        dev, test: :func:`erc_lib.metrics.classification_metrics` at ``best_epoch``.
        test_outputs: arrays at ``best_epoch`` over real test utterances: ``y_true``,
            ``y_pred`` and any extra per-utterance model outputs kept by :func:`erc_lib.training.predict`.
        seconds: wall time of training and evaluation.
        train_utterances_per_second: training throughput (forward + backward).
        config: the :class:`erc_lib.training.TrainConfig` as a dict.
        epoch_train_seconds: wall time of each epoch's training pass (no evaluation), e.g.
            to leave warm-up epochs out of a measurement.
    """

    history: list[dict]
    best_epoch: int
    dev: dict
    test: dict
    test_outputs: dict
    seconds: float
    train_utterances_per_second: float
    config: dict = field(default_factory=dict)
    epoch_train_seconds: list[float] = field(default_factory=list)
