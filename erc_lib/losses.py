"""Masked losses shared by the paper models. Every loss takes per-utterance logits
``(batch, n_utterances, n_classes)`` (or already-flattened ``(n, n_classes)``) and an
utterance mask, and averages over real utterances only: padding never contributes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _flatten(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep real utterances: ``(batch, L, C)`` + ``(batch, L)`` -> ``(n_real, C)``."""
    return logits.reshape(-1, logits.shape[-1])[mask.reshape(-1)]


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                         class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over real utterances (SDT Eq. 1 of the seed, with optional class weights).

    With ``class_weights`` w, this is the weighted mean ``sum_i w_{y_i} CE_i / sum_i w_{y_i}``
    (torch's ``CrossEntropyLoss(weight=w)``; SDT's IEMOCAP setting).

    Args:
        logits: ``(batch, L, C)`` unnormalised scores.
        labels: ``(batch, L)`` int64 class ids (any value at padding).
        mask: ``(batch, L)`` bool, True at real utterances.
        class_weights: optional ``(C,)`` weights.
    Returns: scalar tensor.
    """
    return F.cross_entropy(_flatten(logits, mask), labels.reshape(-1)[mask.reshape(-1)], weight=class_weights)


def masked_kl_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                           temperature: float = 1.0, scale_by_t2: bool = False,
                           detach_teacher: bool = False) -> torch.Tensor:
    """KL(teacher || student) with softened distributions, averaged over real utterances.

    Implements the seed's Eq. 2: ``(1/sum m) sum_i m_i sum_c q_ic log(q_ic / p_ic)`` with
    ``q = softmax(z_teacher / T)`` and ``p = softmax(z_student / T)``. The seed multiplies
    by T^2 (``scale_by_t2=True``); SDT's code does not, and does not detach the teacher
    (both are options, default as in SDT's code).

    Args:
        student_logits, teacher_logits: ``(batch, L, C)``.
        mask: ``(batch, L)`` bool.
        temperature: T > 0.
    Returns: scalar tensor (nats per utterance).
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    teacher = teacher_logits.detach() if detach_teacher else teacher_logits
    log_p = F.log_softmax(_flatten(student_logits, mask) / temperature, dim=-1)
    log_q = F.log_softmax(_flatten(teacher, mask) / temperature, dim=-1)
    kl = F.kl_div(log_p, log_q, reduction="batchmean", log_target=True)
    return kl * temperature**2 if scale_by_t2 else kl


def inverse_frequency_weights(labels, n_classes: int, normalise: bool = True) -> torch.Tensor:
    """Inverse-frequency class weights from training labels.

    ``normalise=True``: ``w_c = min_k count_k / count_c`` (rarest class 1.0; EmoNet).
    ``normalise=False``: ``w_c = N / count_c`` (unnormalised inverse frequency).
    Raises ValueError if a class never occurs.
    """
    counts = torch.bincount(torch.as_tensor(labels).reshape(-1), minlength=n_classes).double()
    if (counts == 0).any():
        raise ValueError(f"class(es) {torch.nonzero(counts == 0).flatten().tolist()} never occur in the labels")
    w = counts.min() / counts if normalise else counts.sum() / counts
    return w.float()
