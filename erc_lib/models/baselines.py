"""The two baselines that open every results table, on the same inputs as the paper models.

* :class:`LogisticRegressionBaseline`: no context. A multinomial logistic regression
  (scikit-learn) on each utterance's features (modalities concatenated), one utterance at a
  time: what the features alone deliver.
* :class:`ContextBiGRU`: context. The utterance features (concatenated, input dropout) go
  through one bidirectional GRU layer over the dialogue (packed: padding never enters the
  recurrence), dropout and a linear classifier; cross-entropy over real utterances. Trained
  and dev-selected by the same trainer as every paper model.

A paper model's claim to model conversation is only as good as its margin over the
context BiGRU; a feature's worth shows in the logistic regression.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..data import canonical_modalities
from ..fit_result import FitResult
from ..losses import class_weights_for, masked_cross_entropy
from ..metrics import classification_metrics
from ..ranges import FLAG, POSITIVE, PROBABILITY, SIZE


def _modalities(data, modalities) -> list[str]:
    names = canonical_modalities([modalities] if isinstance(modalities, str) else modalities)
    dims = data.feature_dims()
    missing = [m for m in names if m not in dims]
    if not names or missing:
        raise ValueError(f"{data.name} has no {missing or names} features (available: {list(dims)}); text "
                         "features come from erc_lib.features.text.add_text_features")
    return names


def _class_weights(data, class_weighted: bool) -> list[float] | None:
    return class_weights_for(data.train_labels(), data.n_classes, "sum-to-one").tolist() if class_weighted else None


# ----------------------------------------------------------------------------- no context
class LogisticRegressionBaseline:
    """No-context baseline: ``sklearn.linear_model.LogisticRegression`` on utterance features.

    Args:
        C: inverse L2 strength.
        class_weighted: ``class_weight="balanced"`` (inverse class frequencies).
        max_iter: L-BFGS iterations.

    ``fit_splits(train, dev, test, label_names, config)`` reads the datasets'
    dialogues and modalities (:class:`erc_lib.data.DialogueDataset`), fits on train and
    returns an :class:`erc_lib.fit_result.FitResult` with one "epoch" (no selection happens:
    dev is only reported).
    """

    def __init__(self, C: float = 1.0, class_weighted: bool = False, max_iter: int = 2000):
        if not C > 0:
            raise ValueError(f"C must be > 0, got {C}")
        self.C, self.class_weighted, self.max_iter = C, class_weighted, max_iter
        self.estimator = None

    @staticmethod
    def _xy(dataset) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([np.concatenate([d.features[m] for m in canonical_modalities(dataset.modalities)], axis=1)
                            for d in dataset.dialogues])
        return x, np.concatenate([d.labels for d in dataset.dialogues])

    def fit_splits(self, train, dev, test, label_names: list[str], config):
        start = time.perf_counter()
        x, y = self._xy(train)
        self.estimator = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=config.seed,
                                            class_weight="balanced" if self.class_weighted else None)
        self.estimator.fit(x, y)
        fit_seconds = time.perf_counter() - start
        outputs, metrics = {}, {}
        for split, ds in (("dev", dev), ("test", test)):
            xs, ys = self._xy(ds)
            pred = self.estimator.predict(xs)
            metrics[split] = classification_metrics(ys, pred, label_names)
            outputs[split] = {"y_true": ys, "y_pred": pred, "probabilities": self.estimator.predict_proba(xs)}
        row = {"epoch": 1, "dev_weighted_f1": metrics["dev"]["weighted_f1"], "dev_accuracy": metrics["dev"]["accuracy"],
               "test_weighted_f1": metrics["test"]["weighted_f1"], "test_accuracy": metrics["test"]["accuracy"],
               "dev_selection_score": metrics["dev"]["weighted_f1"]}
        return FitResult(history=[row], best_epoch=1, dev=metrics["dev"], test=metrics["test"],
                         test_outputs=outputs["test"], seconds=time.perf_counter() - start,
                         train_utterances_per_second=len(y) / max(fit_seconds, 1e-9),
                         config={"C": self.C, "class_weighted": self.class_weighted, "seed": config.seed})


def build_logistic_regression(data, modalities, C: float = 1.0, class_weighted: bool = False) -> LogisticRegressionBaseline:
    """A :class:`LogisticRegressionBaseline` for ``data``'s ``modalities`` (checked to exist)."""
    _modalities(data, modalities)
    return LogisticRegressionBaseline(C=C, class_weighted=class_weighted)


#: :func:`build_logistic_regression` argument -> allowed values (:mod:`erc_lib.ranges`).
LOGREG_RULES = {"C": POSITIVE, "class_weighted": FLAG}
#: Search space of :mod:`erc_lib.tune` (format: :data:`erc_lib.models.sdt.SEARCH_SPACE`).
LOGREG_SEARCH_SPACE = {"model": {"C": ("log", 1e-3, 10.0), "class_weighted": ("choice", [False, True])}, "train": {}}


# ----------------------------------------------------------------------------- context
@dataclass
class BiGRUConfig:
    """Context BiGRU hyper-parameters.

    Attributes:
        input_dims: modality -> feature size (its keys choose the modalities, concatenated).
        n_classes: number of classes.
        hidden: GRU hidden size per direction.
        input_dropout: dropout on the concatenated utterance features.
        dropout: dropout before the classifier.
        class_weights: optional CE weights (weighted mean, as SDT's IEMOCAP setting).
    """

    input_dims: dict[str, int]
    n_classes: int
    hidden: int = 128
    input_dropout: float = 0.5
    dropout: float = 0.3


#: :func:`build_bigru` argument (:class:`BiGRUConfig` field or builder flag) -> allowed values (:mod:`erc_lib.ranges`).
BIGRU_RULES = {"hidden": SIZE, "input_dropout": PROBABILITY, "dropout": PROBABILITY, "class_weighted": FLAG}

#: Search space of :mod:`erc_lib.tune` (format: :data:`erc_lib.models.sdt.SEARCH_SPACE`).
BIGRU_SEARCH_SPACE = {
    "model": {"hidden": ("choice", [64, 128, 256]), "input_dropout": ("float", 0.0, 0.6),
              "dropout": ("float", 0.0, 0.6), "class_weighted": ("choice", [False, True])},
    "train": {"lr": ("log", 1e-4, 3e-3), "batch_size": ("choice", [4, 8, 16]), "weight_decay": ("log", 1e-6, 1e-3),
              "patience": ("choice", [5, 10, 15])},
}
#: The BiGRU at the papers' size: 512 per direction, as MiSTER-E's BiGRU (the benchmark's "paper" size).
BIGRU_PAPER_SIZE = ({"hidden": 512}, {})


class ContextBiGRU(nn.Module):
    """Utterance features -> one bidirectional GRU layer over the dialogue -> linear.

    Input: a :class:`erc_lib.data.DialogueBatch` with ``features[m]`` ``(batch, L, D_m)`` for
    every modality of ``config.input_dims`` and ``mask`` ``(batch, L)``. Output
    ``{"logits": (batch, L, C)}``; ``loss`` is the masked cross-entropy ``{"total", "ce"}``.
    Padded positions never influence real ones (packed sequences).
    """

    def __init__(self, config: BiGRUConfig, class_weights: list[float] | None = None):
        super().__init__()
        self.config = config
        self.modalities = list(config.input_dims)
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.gru = nn.GRU(sum(config.input_dims.values()), config.hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden, config.n_classes)
        weights = torch.tensor(class_weights, dtype=torch.float) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        x = self.input_dropout(torch.cat([batch.features[m] for m in self.modalities], dim=-1))
        lengths = batch.cpu_lengths() if hasattr(batch, "cpu_lengths") else batch.mask.sum(1).cpu()  # no device sync
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=x.shape[1])
        return {"logits": self.classifier(self.dropout(h))}

    def loss(self, out: dict, batch) -> dict[str, torch.Tensor]:
        ce = masked_cross_entropy(out["logits"], batch.labels, batch.mask, self.class_weights)
        return {"total": ce, "ce": ce}


def build_bigru(data, modalities, class_weighted: bool = False, **overrides) -> ContextBiGRU:
    """A :class:`ContextBiGRU` sized for ``data``'s ``modalities``; ``class_weighted`` uses
    inverse train frequencies (normalised to sum 1, as SDT's IEMOCAP constants);
    ``overrides`` set :class:`BiGRUConfig` fields."""
    names = _modalities(data, modalities)
    dims = data.feature_dims()
    config = BiGRUConfig(input_dims={m: dims[m] for m in names}, n_classes=data.n_classes, **overrides)
    return ContextBiGRU(config, _class_weights(data, class_weighted))
