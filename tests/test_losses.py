"""The losses of erc_lib/losses.py against hand computations: masked cross-entropy (SDT), masked KL
self-distillation (SDT; Hinton et al.'s T^2), focal loss (Lin et al.; MiSTER-E), supervised
contrastive loss (Khosla et al.; MiSTER-E Eq. 14), EmoNet's weighted cross-entropy and the class weights."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from erc_lib.losses import (class_weights_for, focal_loss, inverse_frequency_weights, masked_cross_entropy,
                            masked_kl_distillation, supervised_contrastive_loss, weighted_cross_entropy)

from by_hand import softmax, supcon_by_hand
from toy_data import C, random_dialogue_batch
from toy_models import recurring_speaker_data


# ----------------------------------------------------------------------------- SDT: cross-entropy and KL


def test_masked_cross_entropy_matches_hand_computation():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [9.0, 9.0, 9.0]]])
    labels = torch.tensor([[0, 2, 1]])
    mask = torch.tensor([[True, True, False]])  # the third utterance is padding
    expected = (-math.log(softmax([2.0, 0.0, -1.0])[0]) - math.log(softmax([0.5, 0.5, 0.0])[2])) / 2
    assert masked_cross_entropy(logits, labels, mask).item() == pytest.approx(expected, rel=1e-6)
    w = torch.tensor([1.0, 2.0, 3.0])
    weighted = (1 * -math.log(softmax([2.0, 0.0, -1.0])[0]) + 3 * -math.log(softmax([0.5, 0.5, 0.0])[2])) / (1 + 3)
    assert masked_cross_entropy(logits, labels, mask, w).item() == pytest.approx(weighted, rel=1e-6)


def test_masked_kl_matches_hand_computation():
    student = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, -5.0]]])
    teacher = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [-5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    T = 2.0

    def kl(s, t):
        p, q = softmax([v / T for v in s]), softmax([v / T for v in t])
        return sum(qc * math.log(qc / pc) for pc, qc in zip(p, q))

    expected = (kl([1.0, 0.0], [0.0, 1.0]) + kl([0.0, 2.0], [1.0, 1.0])) / 2
    got = masked_kl_distillation(student, teacher, mask, temperature=T)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert masked_kl_distillation(student, teacher, mask, T, scale_by_t2=True).item() == pytest.approx(4 * expected, rel=1e-5)
    assert masked_kl_distillation(teacher, teacher, mask, T).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError):
        masked_kl_distillation(student, teacher, mask, temperature=0)


def test_inverse_frequency_weights():
    labels = [0, 0, 0, 0, 1, 1, 2]
    assert inverse_frequency_weights(labels, 3).tolist() == pytest.approx([0.25, 0.5, 1.0])
    assert inverse_frequency_weights(labels, 3, normalise=False).tolist() == pytest.approx([7 / 4, 7 / 2, 7.0])
    with pytest.raises(ValueError, match="never occur"):
        inverse_frequency_weights(labels, 4)


# ----------------------------------------------------------------------------- documented defaults and messages


STUDENT = torch.tensor([[[1.0, 0.0, -2.0], [0.0, 2.0, 1.0]]], dtype=torch.float64)


TEACHER = torch.tensor([[[0.0, 1.5, 0.5], [1.0, 1.0, -1.0]]], dtype=torch.float64)


MASK = torch.tensor([[True, True]])


def _kl_by_hand(t: float) -> float:
    """(1/n) sum_i KL(softmax(teacher_i / T) || softmax(student_i / T))."""
    total = 0.0
    for s, q_logits in zip(STUDENT[0].tolist(), TEACHER[0].tolist()):
        p, q = softmax(s, t), softmax(q_logits, t)
        total += sum(qc * math.log(qc / pc) for pc, qc in zip(p, q))
    return total / 2


def test_kl_distillation_default_is_temperature_one_without_t2_and_not_detached():
    """Defaults as documented (SDT's code): T = 1, no T^2 factor, the teacher not detached."""
    teacher = TEACHER.clone().requires_grad_(True)
    got = masked_kl_distillation(STUDENT, teacher, MASK)
    assert got.item() == pytest.approx(_kl_by_hand(1.0), rel=1e-12)
    (grad,) = torch.autograd.grad(got, teacher)
    assert grad.abs().sum().item() > 1e-3          # gradient reaches the teacher by default


def test_kl_distillation_t2_factor_is_t_squared():
    """``scale_by_t2`` multiplies by T^2 (Hinton et al.), checked at T = 3 where T^2 = 9 differs
    from 2 T = 6."""
    got = masked_kl_distillation(STUDENT, TEACHER, MASK, temperature=3.0, scale_by_t2=True)
    assert got.item() == pytest.approx(9.0 * _kl_by_hand(3.0), rel=1e-12)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_kl_distillation_rejects_a_non_positive_temperature_with_its_message(temperature):
    with pytest.raises(ValueError, match=r"^temperature must be > 0$"):
        masked_kl_distillation(STUDENT, TEACHER, MASK, temperature=temperature)


def test_focal_default_gamma_is_two():
    """The documented default focusing parameter is gamma = 2 (Lin et al. 2017):
    FL = -(1 - p_y)^2 log p_y, averaged over real utterances."""
    labels = torch.tensor([[2, 1]])
    expected = 0.0
    for row, y in zip(STUDENT[0].tolist(), [2, 1]):
        p = softmax(row)[y]
        expected += -((1 - p) ** 2) * math.log(p)
    assert focal_loss(STUDENT, labels, MASK).item() == pytest.approx(expected / 2, rel=1e-12)


def test_focal_errors_say_what_is_wrong():
    labels = torch.tensor([[2, 1]])
    with pytest.raises(ValueError, match=r"^focal gamma must be >= 0, got -1.0$"):
        focal_loss(STUDENT, labels, MASK, gamma=-1.0)
    with pytest.raises(ValueError, match=r"^focal_loss: the mask selects no utterance$"):
        focal_loss(STUDENT, labels, torch.zeros_like(MASK))


def _supcon_case():
    """Two dialogues of one view each, with an anchor that has no positive in its dialogue (its
    label occurs once there) but has one across the batch, and a padded slot."""
    g = torch.Generator().manual_seed(3)
    views = torch.randn(2, 4, 1, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([[0, 0, 1, 2], [1, 2, 2, -100]])
    return views, labels, labels != -100


def test_contrastive_skips_anchors_without_a_positive_and_pools_the_batch_when_asked():
    """Per dialogue (Eq. 14) an anchor counts only if its dialogue holds another vector of its
    label; with ``per_dialogue=False`` positives and contrast sets span every real vector of the
    batch. Both against the loops of the formula, on a case where the two differ."""
    views, labels, mask = _supcon_case()
    for tau in (1.0, 0.5):
        per_dialogue = []
        for b in range(2):
            z = [views[b, k, 0].numpy() for k in range(4) if mask[b, k]]
            y = [int(labels[b, k]) for k in range(4) if mask[b, k]]
            pos = [a for a in range(len(z)) if any(y[p] == y[a] for p in range(len(z)) if p != a)]
            per_dialogue.append((supcon_by_hand(z, y, tau), len(pos)))
        expected = sum(v * n for v, n in per_dialogue) / sum(n for _, n in per_dialogue)
        got = supervised_contrastive_loss(views, labels, mask, temperature=tau).item()
        assert got == pytest.approx(expected, rel=1e-9)
        z_all = [views[b, k, 0].numpy() for b in range(2) for k in range(4) if mask[b, k]]
        y_all = [int(labels[b, k]) for b in range(2) for k in range(4) if mask[b, k]]
        pooled = supervised_contrastive_loss(views, labels, mask, temperature=tau, per_dialogue=False).item()
        assert pooled == pytest.approx(supcon_by_hand(z_all, y_all, tau), rel=1e-9)
    default = supervised_contrastive_loss(views, labels, mask).item()          # tau = 1 by default
    assert default == pytest.approx(supervised_contrastive_loss(views, labels, mask, 1.0).item(), rel=1e-12)
    assert default != pytest.approx(supervised_contrastive_loss(views, labels, mask, 2.0).item(), rel=1e-6)


def test_contrastive_rejects_bad_temperature_and_shapes_with_a_message():
    views, labels, mask = _supcon_case()
    for tau in (0.0, -0.5):
        with pytest.raises(ValueError, match=r"^temperature must be > 0$"):
            supervised_contrastive_loss(views, labels, mask, temperature=tau)
    shape_error = r"^views must be \(batch, L, V, d\) matching labels/mask \(batch, L\); got "
    with pytest.raises(ValueError, match=shape_error + r"\(2, 4, 3\), \(2, 4\), \(2, 4\)$"):
        supervised_contrastive_loss(views[:, :, 0], labels, mask)              # 3-D views
    with pytest.raises(ValueError, match=shape_error + r"\(2, 4, 1, 3\), \(2, 3\), \(2, 3\)$"):
        supervised_contrastive_loss(views, labels[:, :3], mask[:, :3])          # views vs labels
    with pytest.raises(ValueError, match=shape_error):
        supervised_contrastive_loss(views, labels, mask[:, :3])                 # labels vs mask


def test_inverse_frequency_error_names_the_missing_classes():
    with pytest.raises(ValueError, match=r"^class\(es\) \[1, 3\] never occur in the labels$"):
        inverse_frequency_weights([0, 0, 2, 2, 2], 4)


def test_class_weights_sum_to_one_are_sdt_constants():
    """``"sum-to-one"``: ``(1/n_c) / sum_k (1/n_k)``. On IEMOCAP's train(+dev) counts
    504/839/1324/933/742/1468 they are proportional to SDT's hard-coded ``1 / freq`` weights,
    freq = [0.0867, 0.1444, 0.2279, 0.1606, 0.1277, 0.2527] (train.py:201-206), and sum to 1."""
    counts = [504, 839, 1324, 933, 742, 1468]
    labels = np.repeat(np.arange(6), counts)
    inv = [1 / n for n in counts]
    expected = [v / sum(inv) for v in inv]
    got = class_weights_for(labels, 6, "sum-to-one").tolist()
    assert got == pytest.approx(expected, rel=1e-6)
    assert sum(got) == pytest.approx(1.0, rel=1e-6)
    scaled = [w * f for w, f in zip(got, [0.0867, 0.1444, 0.2279, 0.1606, 0.1277, 0.2527])]
    assert max(scaled) / min(scaled) == pytest.approx(1.0, abs=1e-3)   # w_c proportional to 1 / freq_c
    assert class_weights_for(labels, 6, None) is None
    with pytest.raises(ValueError, match=r"^class_weights must be None or one of \('normalised', 'unnormalised', "
                                         r"'sum-to-one'\), got 'sum_to_one'$"):
        class_weights_for(labels, 6, "sum_to_one")


# ----------------------------------------------------------------------------- focal loss (MiSTER-E)


def test_focal_equals_cross_entropy_at_gamma_zero():
    batch = random_dialogue_batch([4, 2])
    logits = torch.randn(2, 4, C)
    ce = F.cross_entropy(logits[batch.mask], batch.labels[batch.mask])
    assert torch.allclose(focal_loss(logits, batch.labels, batch.mask, gamma=0.0), ce, atol=1e-6)


def test_focal_matches_hand_computation():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]]])  # 3rd position is padding
    labels = torch.tensor([[0, 2, -100]])
    mask = torch.tensor([[True, True, False]])
    gamma = 2.0
    expected = 0.0
    for row, y in ((logits[0, 0], 0), (logits[0, 1], 2)):
        p = math.exp(row[y]) / sum(math.exp(v) for v in row.tolist())
        expected += -((1 - p) ** gamma) * math.log(p)
    expected /= 2
    assert focal_loss(logits, labels, mask, gamma).item() == pytest.approx(expected, rel=1e-5)
    # a well-classified example is down-weighted relative to cross-entropy
    assert focal_loss(logits, labels, mask, 3.0) < focal_loss(logits, labels, mask, 0.0)


def test_focal_rejects_bad_input():
    batch = random_dialogue_batch([2])
    with pytest.raises(ValueError):
        focal_loss(torch.zeros(1, 2, C), batch.labels, batch.mask, gamma=-1.0)
    with pytest.raises(ValueError):
        focal_loss(torch.zeros(1, 2, C), batch.labels, torch.zeros(1, 2, dtype=torch.bool), gamma=1.0)


# ----------------------------------------------------------------------------- contrastive loss (MiSTER-E Eq. 14)


def test_contrastive_matches_hand_computation():
    g = torch.Generator().manual_seed(1)
    views = torch.randn(1, 3, 2, 4, generator=g)          # 1 dialogue, 3 utterances, 2 views
    labels = torch.tensor([[0, 1, 0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    # Z = {m^s_1, m^t_1, m^s_2, m^t_2, m^s_3, m^t_3}, labels per vector
    z = [views[0, k, v].numpy().astype(np.float64) for k in range(3) for v in range(2)]
    y = [int(labels[0, k]) for k in range(3) for _ in range(2)]
    for tau in (1.0, 0.1):
        got = supervised_contrastive_loss(views, labels, mask, temperature=tau).item()
        assert got == pytest.approx(supcon_by_hand(z, y, tau), rel=1e-4)


def test_contrastive_ignores_padding_and_other_dialogues():
    g = torch.Generator().manual_seed(2)
    views = torch.randn(2, 4, 2, 6, generator=g)
    labels = torch.tensor([[0, 1, 1, -100], [1, 0, -100, -100]])
    mask = labels != -100
    loss = supervised_contrastive_loss(views, labels, mask, 0.5)
    # scramble the padded positions: the loss must not move
    scrambled = views.clone()
    scrambled[~mask] = torch.randn(int((~mask).sum()), 2, 6, generator=g) * 100
    assert torch.allclose(supervised_contrastive_loss(scrambled, labels, mask, 0.5), loss, atol=1e-6)
    # per dialogue (Eq. 14): the mean over anchors of the two dialogues computed separately
    n_anchors = [6, 4]  # every real vector has its other view as a positive
    parts = [supervised_contrastive_loss(views[i:i + 1, :n // 2], labels[i:i + 1, :n // 2],
                                         mask[i:i + 1, :n // 2], 0.5) for i, n in enumerate(n_anchors)]
    expected = (parts[0] * n_anchors[0] + parts[1] * n_anchors[1]) / sum(n_anchors)
    assert torch.allclose(loss, expected, atol=1e-6)
    # gradients stay finite and padded inputs get none
    v = views.clone().requires_grad_(True)
    supervised_contrastive_loss(v, labels, mask, 0.5).backward()
    assert torch.isfinite(v.grad).all() and v.grad[~mask].abs().sum() == 0


def test_contrastive_batch_scope_differs_and_no_positive_is_zero():
    views = torch.randn(2, 3, 2, 4)
    labels = torch.tensor([[0, 1, 2], [0, 1, 2]])
    mask = torch.ones(2, 3, dtype=torch.bool)
    a = supervised_contrastive_loss(views, labels, mask, per_dialogue=True)
    b = supervised_contrastive_loss(views, labels, mask, per_dialogue=False)
    assert not torch.allclose(a, b)
    single_view = supervised_contrastive_loss(views[:, :, :1], labels, mask)  # all labels distinct: no positive
    assert single_view.item() == 0.0


# ----------------------------------------------------------------------------- EmoNet's weighted cross-entropy and class weights


def test_weighted_loss_equals_hand_computation():
    logits = torch.tensor([[[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [9.0, 9.0, 9.0]],
                           [[-1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, 2, -100], [1, 1, -100]])
    mask = labels != -100
    w = torch.tensor([0.5, 1.0, 2.0])
    terms = []
    for b, t in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        z = logits[b, t].tolist()
        y = int(labels[b, t])
        ce = -(z[y] - math.log(sum(math.exp(v) for v in z)))
        terms.append(w[y].item() * ce)
    expected = sum(terms) / len(terms)  # EmoNet: mean of w_y * CE, not divided by sum of w
    assert weighted_cross_entropy(logits, labels, mask, w).item() == pytest.approx(expected, rel=1e-6)
    plain = weighted_cross_entropy(logits, labels, mask)
    assert plain.item() == pytest.approx(sum(t / w[y].item() for t, y in zip(terms, [0, 2, 1, 1])) / 4, rel=1e-6)


def test_class_weights_normalised_and_unnormalised():
    data = recurring_speaker_data()
    counts = np.bincount(data.train_labels(), minlength=data.n_classes)
    norm = class_weights_for(data.train_labels(), data.n_classes, "normalised").numpy()
    unnorm = class_weights_for(data.train_labels(), data.n_classes, "unnormalised").numpy()
    assert np.allclose(norm, counts.min() / counts) and norm.max() == pytest.approx(1.0)
    assert np.allclose(unnorm, counts.sum() / counts)
    assert class_weights_for(data.train_labels(), data.n_classes, None) is None
    with pytest.raises(ValueError):
        class_weights_for(data.train_labels(), data.n_classes, "sqrt")
