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


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017; MiSTER-E Eq. 19), averaged over real utterances.

    ``FL_i = -(1 - p_{i,y_i})^gamma * log p_{i,y_i}`` with ``p = softmax(logits)``; the mean
    is taken over positions where ``mask`` is True only (the authors' code also averaged
    over padded positions). ``gamma = 0`` is exactly the cross-entropy.

    Args:
        logits: ``(batch, L, C)`` unnormalised scores.
        labels: ``(batch, L)`` int64 class ids (any value at padding).
        mask: ``(batch, L)`` bool, True at real utterances.
        gamma: focusing parameter >= 0 (MiSTER-E: 3).
    Returns: scalar tensor (nats per utterance).
    Raises: ValueError for ``gamma < 0`` or an all-padding mask.
    """
    if gamma < 0:
        raise ValueError(f"focal gamma must be >= 0, got {gamma}")
    if not bool(mask.any()):
        raise ValueError("focal_loss: the mask selects no utterance")
    log_p = F.log_softmax(_flatten(logits, mask), dim=-1)
    log_p_true = log_p.gather(1, labels.reshape(-1)[mask.reshape(-1)].unsqueeze(1)).squeeze(1)
    weight = (1.0 - log_p_true.exp()).clamp(min=0.0) ** gamma if gamma else 1.0
    return -(weight * log_p_true).mean()


def supervised_contrastive_loss(views: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                                temperature: float = 1.0, per_dialogue: bool = True) -> torch.Tensor:
    """Supervised contrastive loss over several views of each utterance (MiSTER-E Eq. 13-14;
    Khosla et al. 2020), with padding excluded from anchors, positives and denominators.

    For every real utterance k of dialogue i and every view v (e.g. the multimodal expert's
    speech and text representations), ``z = m / ||m||`` is an anchor ``a``. Its positives
    ``P(a)`` are the other vectors with the same label; the contrast set is every vector
    except ``a`` itself. With ``per_dialogue=True`` (Eq. 14) both sets are restricted to the
    anchor's own dialogue, otherwise they span all real utterances of the batch. Then

    ``L_a = -1/|P(a)| sum_{p in P(a)} log( exp(z_a.z_p / tau) / sum_{q != a} exp(z_a.z_q / tau) )``

    and the loss is the mean of ``L_a`` over anchors with at least one positive (Eq. 14 sums;
    the mean only rescales it). Returns 0 (with a gradient path) when no anchor has a positive.

    Args:
        views: ``(batch, L, V, d)`` representations, V >= 1 views per utterance.
        labels: ``(batch, L)`` int64.
        mask: ``(batch, L)`` bool, True at real utterances.
        temperature: tau > 0 (MiSTER-E: 1 on IEMOCAP/MOSI, 0.05 on MELD).
        per_dialogue: contrast within each dialogue (Eq. 14) or across the batch.
    Returns: scalar tensor.
    Raises: ValueError for a bad temperature or shapes.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    if views.dim() != 4 or views.shape[:2] != labels.shape or labels.shape != mask.shape:
        raise ValueError(f"views must be (batch, L, V, d) matching labels/mask (batch, L); got "
                         f"{tuple(views.shape)}, {tuple(labels.shape)}, {tuple(mask.shape)}")
    B, L, V, d = views.shape
    z = F.normalize(views, dim=-1).reshape(B, L * V, d)                    # utterance-major: (k, v)
    y = labels.unsqueeze(-1).expand(B, L, V).reshape(B, L * V)
    real = mask.unsqueeze(-1).expand(B, L, V).reshape(B, L * V)
    if not per_dialogue:                                                  # one group of all real vectors
        z, y, real = z[real].unsqueeze(0), y[real].unsqueeze(0), real[real].unsqueeze(0)
    logits = z @ z.transpose(1, 2) / temperature                           # (G, n, n)
    not_self = ~torch.eye(z.shape[1], dtype=torch.bool, device=z.device).unsqueeze(0)
    contrast = real.unsqueeze(1) & real.unsqueeze(2) & not_self             # q valid for anchor a
    positive = contrast & (y.unsqueeze(1) == y.unsqueeze(2))
    # A large finite fill (not -inf) keeps rows without any contrast vector (padding) NaN-free.
    log_prob = logits - torch.logsumexp(logits.masked_fill(~contrast, -1e9), dim=-1, keepdim=True)
    n_pos = positive.sum(-1)
    anchors = real & (n_pos > 0)
    if not bool(anchors.any()):
        return views.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(-1)) / n_pos.clamp(min=1)
    return per_anchor[anchors].mean()


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                           class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """EmoNet's weighted CE (thesis 3.2.2.12; code ``WCELoss``): ``mean_i w_{y_i} CE_i``
    over real utterances, i.e. each utterance's CE multiplied by its class weight and
    averaged by the number of utterances (not by the sum of weights as torch's
    ``CrossEntropyLoss(weight=w)`` does). Plain mean CE when ``class_weights`` is None.

    Args:
        logits: ``(B, L, C)``; labels: ``(B, L)`` int64; mask: ``(B, L)`` bool;
        class_weights: optional ``(C,)``.
    Returns: scalar tensor (nats per utterance, weighted).
    """
    flat_mask = mask.reshape(-1)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1])[flat_mask], labels.reshape(-1)[flat_mask],
                         reduction="none")
    if class_weights is not None:
        ce = ce * class_weights[labels.reshape(-1)[flat_mask]]
    return ce.mean()


CLASS_WEIGHTINGS = ("normalised", "unnormalised", "sum-to-one")


def class_weights_for(train_labels, n_classes: int, kind: str | None) -> torch.Tensor | None:
    """Inverse-frequency class weights from the TRAIN labels (:func:`inverse_frequency_weights`):
    ``kind`` None -> None; ``"normalised"`` -> ``min_k n_k / n_c`` and ``"unnormalised"`` ->
    ``N / n_c`` (EmoNet's two rows); ``"sum-to-one"`` -> ``(1 / n_c) / sum_k (1 / n_k)`` (SDT's
    IEMOCAP constants, train.py:201-206). Raises ValueError for another ``kind``."""
    if kind is None:
        return None
    if kind not in CLASS_WEIGHTINGS:
        raise ValueError(f"class_weights must be None or one of {CLASS_WEIGHTINGS}, got {kind!r}")
    w = inverse_frequency_weights(train_labels, n_classes, normalise=kind == "normalised")
    return w / w.sum() if kind == "sum-to-one" else w
