"""MiSTER-E: losses by hand, gate weights, padding invariance, every variant trains."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from erc_lib.data import DialogueBatch, Dialogue, ERCData
from erc_lib.losses import focal_loss, supervised_contrastive_loss
from erc_lib.models.mister_e import EXPERTS, MISTER_E_VARIANTS, MiSTEREConfig, MiSTERE, build_mister_e
from by_hand import supcon_by_hand

D_SPEECH, D_TEXT, C = 7, 5, 3


def make_batch(lengths, seed=0, n_classes=C) -> DialogueBatch:
    """A padded random batch of dialogues of the given lengths (zeros / -100 at padding)."""
    g = torch.Generator().manual_seed(seed)
    B, L = len(lengths), max(lengths)
    mask = torch.arange(L).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    labels = torch.randint(0, n_classes, (B, L), generator=g).masked_fill(~mask, -100)
    feats = {"audio": torch.randn(B, L, D_SPEECH, generator=g) * mask.unsqueeze(-1),
             "text": torch.randn(B, L, D_TEXT, generator=g) * mask.unsqueeze(-1)}
    zeros = torch.zeros(B, L, dtype=torch.long)
    return DialogueBatch(feats, labels, mask, zeros, zeros - 1, [f"d{i}" for i in range(B)])


def make_model(variant="mister_e", **kw) -> MiSTERE:
    torch.manual_seed(0)
    cfg = MiSTEREConfig(input_dims={"speech": D_SPEECH, "text": D_TEXT}, n_classes=C, variant=variant,
                        can_hidden=8, fusion_hidden=8, fusion_heads=2, fusion_layers=2, **kw)
    return MiSTERE(cfg)


# ----------------------------------------------------------------------------- focal loss
def test_focal_equals_cross_entropy_at_gamma_zero():
    batch = make_batch([4, 2])
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
    batch = make_batch([2])
    with pytest.raises(ValueError):
        focal_loss(torch.zeros(1, 2, C), batch.labels, batch.mask, gamma=-1.0)
    with pytest.raises(ValueError):
        focal_loss(torch.zeros(1, 2, C), batch.labels, torch.zeros(1, 2, dtype=torch.bool), gamma=1.0)


# ----------------------------------------------------------------------------- contrastive loss
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


# ----------------------------------------------------------------------------- model
def test_gate_weights_sum_to_one_and_mix_expert_logits():
    model = make_model().eval()
    batch = make_batch([5, 3, 1])
    with torch.no_grad():
        out = model(batch)
    assert out["gate"].shape == (3, 5, len(EXPERTS))
    assert torch.allclose(out["gate"].sum(-1), torch.ones(3, 5), atol=1e-6)
    assert (out["gate"] >= 0).all()
    mix = sum(out["gate"][..., i:i + 1] * out[f"logits_{e}"] for i, e in enumerate(EXPERTS))  # Eq. 11
    assert torch.allclose(out["logits"], mix, atol=1e-6)


@pytest.mark.parametrize("variant", MISTER_E_VARIANTS)
def test_padded_dialogue_equals_unpadded(variant):
    model = make_model(variant).eval()
    batch = make_batch([6, 3], seed=3)
    for x in batch.features.values():  # garbage at padding: the model must not read it
        x[~batch.mask] = torch.randn(int((~batch.mask).sum()), x.shape[-1]) * 50
    alone = DialogueBatch({m: x[1:2, :3] for m, x in batch.features.items()}, batch.labels[1:2, :3],
                          batch.mask[1:2, :3], batch.speakers[1:2, :3], batch.global_speakers[1:2, :3], ["d1"])
    with torch.no_grad():
        padded, single = model(batch), model(alone)
    for key in ("logits", "gate"):
        assert torch.allclose(padded[key][1, :3], single[key][0], atol=1e-5), key
    # every loss term ignores whatever the outputs hold at padded positions
    scrambled = {k: v.masked_fill(~batch.mask.view(*batch.mask.shape, *[1] * (v.dim() - 2)), 123.0)
                 for k, v in padded.items()}
    clean, dirty = model.loss(padded, batch), model.loss(scrambled, batch)
    for name in clean:
        assert torch.allclose(clean[name], dirty[name], atol=1e-5), name


@pytest.mark.parametrize("variant", MISTER_E_VARIANTS)
def test_every_variant_runs_forward_backward(variant):
    model = make_model(variant).train()
    batch = make_batch([5, 2])
    out = model(batch)
    assert out["logits"].shape == (2, 5, C)
    assert torch.allclose(out["gate"].sum(-1), torch.ones(2, 5), atol=1e-6)
    terms = model.loss(out, batch)
    assert torch.isfinite(terms["total"])
    terms["total"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    expected_terms = {
        "mister_e": {"focal_mix", "focal_speech", "focal_text", "focal_multimodal", "contrastive", "kl"},
        "feat_moe": {"focal_mix", "focal_speech", "focal_text", "focal_multimodal", "contrastive", "kl"},
        "no_loss_moe": {"focal_mix"},
        "speech": {"focal_speech"}, "text": {"focal_text"},
        "multimodal": {"focal_multimodal", "contrastive"}, "monolithic": {"focal_multimodal", "contrastive"},
    }[variant]
    assert set(terms) - {"total"} == expected_terms


def test_loss_weights_follow_eq18():
    model = make_model(lambda_con=2.0, alpha_kl=0.5).eval()
    batch = make_batch([4, 4])
    with torch.no_grad():
        terms = model.loss(model(batch), batch)
    expected = (terms["focal_mix"] + terms["focal_speech"] + terms["focal_text"] + terms["focal_multimodal"]
                + 2.0 * terms["contrastive"] + 0.5 * terms["kl"])
    assert torch.allclose(terms["total"], expected)


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match="variant"):
        MiSTEREConfig(input_dims={"speech": 3, "text": 3}, n_classes=2, variant="nope")
    with pytest.raises(ValueError, match="needs"):
        MiSTEREConfig(input_dims={"text": 3}, n_classes=2, variant="mister_e")
    model = make_model()
    batch = make_batch([3])
    del batch.features["audio"]
    with pytest.raises(ValueError, match="audio"):
        model(batch)


def test_build_text_only_mode():
    rng = np.random.default_rng(0)
    dialogues = [Dialogue(f"d{i}", ["A"] * 3, ["x"] * 3, np.array([0, 1, 1]), {"text": rng.normal(size=(3, 4)).astype(np.float32)})
                 for i in range(2)]
    data = ERCData("toy", ["a", "b"], {"train": dialogues, "dev": dialogues[:1], "test": dialogues[1:]})
    model = build_mister_e(data, ("text",))
    assert model.config.variant == "text" and list(model.cans) == ["text"]
    with pytest.raises(ValueError, match="audio"):
        build_mister_e(data, ("speech", "text"))


# ----------------------------------------------------------------------------- fidelity options
def test_kl_forms_match_hand_computation():
    """Directional (paper Eq. 17): KL(p_m || p_s) + KL(p_m || p_t). Symmetric (authors' code): both
    directions between every pair of the three experts."""
    from erc_lib.losses import masked_kl_distillation as kl

    batch = make_batch([5, 3])
    out = make_model(alpha_kl=1.0, kl_form="directional")(batch)
    terms = make_model(alpha_kl=1.0, kl_form="directional").loss(out, batch)
    m, s, t = (out[f"logits_{e}"] for e in ("multimodal", "speech", "text"))
    mask = batch.mask
    assert terms["kl"].item() == pytest.approx((kl(s, m, mask) + kl(t, m, mask)).item(), rel=1e-6)
    sym = make_model(alpha_kl=1.0, kl_form="symmetric").loss(out, batch)["kl"]
    pairs = [(s, m), (m, s), (t, m), (m, t), (s, t), (t, s)]
    assert sym.item() == pytest.approx(sum(kl(a, b, mask) for a, b in pairs).item(), rel=1e-6)
    with pytest.raises(ValueError, match="kl_form"):
        make_model(kl_form="sideways")


def test_gate_temperature_softens_the_mixture():
    from erc_lib.models.mister_e import ExpertGate

    torch.manual_seed(0)
    gate = ExpertGate(9, 3, temperature=1.0)
    x = torch.randn(2, 4, 9)
    logits = gate.mlp(x)
    torch.testing.assert_close(gate(x), torch.softmax(logits, -1))
    gate.temperature = 2.0
    torch.testing.assert_close(gate(x), torch.softmax(logits / 2, -1))
    assert MiSTEREConfig(input_dims={"text": 4}, n_classes=2, variant="text").gate_temperature == 2.0  # authors' code
