"""MiSTER-E: gate weights, padding invariance, every variant trains, the text-only mode (its losses:
tests/test_losses.py)."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from erc_lib.data import DialogueBatch
from erc_lib.losses import focal_loss, supervised_contrastive_loss
from erc_lib.models.mister_e import EXPERTS, MISTER_E_VARIANTS, MiSTEREConfig, MiSTERE, build_mister_e
from toy_data import C, D_SPEECH, D_TEXT, random_dialogue_batch, random_text_only_data, zero_text_only_data


def make_model(variant="mister_e", **kw) -> MiSTERE:
    torch.manual_seed(0)
    cfg = MiSTEREConfig(input_dims={"speech": D_SPEECH, "text": D_TEXT}, n_classes=C, variant=variant,
                        can_hidden=8, fusion_hidden=8, fusion_heads=2, fusion_layers=2, **kw)
    return MiSTERE(cfg)


# ----------------------------------------------------------------------------- model
def test_gate_weights_sum_to_one_and_mix_expert_logits():
    model = make_model().eval()
    batch = random_dialogue_batch([5, 3, 1])
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
    batch = random_dialogue_batch([6, 3], seed=3)
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
    batch = random_dialogue_batch([5, 2])
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
    batch = random_dialogue_batch([4, 4])
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
    batch = random_dialogue_batch([3])
    del batch.features["audio"]
    with pytest.raises(ValueError, match="audio"):
        model(batch)


def test_build_text_only_mode():
    data = random_text_only_data()
    model = build_mister_e(data, ("text",))
    assert model.config.variant == "text" and list(model.cans) == ["text"]
    with pytest.raises(ValueError, match=r"^toy has no \['audio'\] features \(available: \['text'\]\); text features come "
                                         r"from erc_lib\.features\.text\.add_text_features$"):
        build_mister_e(data, ("speech", "text"))


# ----------------------------------------------------------------------------- fidelity options
def test_kl_forms_match_hand_computation():
    """Directional (paper Eq. 17): KL(p_m || p_s) + KL(p_m || p_t). Symmetric (authors' code): both
    directions between every pair of the three experts."""
    from erc_lib.losses import masked_kl_distillation as kl

    batch = random_dialogue_batch([5, 3])
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


# ----------------------------------------------------------------------------- the equations, by hand
@pytest.mark.parametrize("with_lengths", [True, False])
def test_context_addition_network_is_eq_3_4(with_lengths):
    """Eq. 3-4: ``h = BiGRU(sum_k ReLU(Conv_k(E))) + FC(E)`` per dialogue (each dialogue alone, no
    padding, its GRU run from a zero state), zero past its end; ``logits = FC(h)`` (dropout off).
    The batch is unsorted and padded one step past its longest dialogue."""
    from erc_lib.models.mister_e import ContextAdditionNetwork

    torch.manual_seed(0)
    can = ContextAdditionNetwork(D_SPEECH, 8, C, gru_layers=2).eval()
    assert can.gru.num_layers == 2 and can.gru.batch_first and can.gru.bidirectional
    lengths = [3, 5, 2]
    batch = random_dialogue_batch(lengths, seed=1)
    features = torch.cat([batch.features["audio"], torch.zeros(3, 1, D_SPEECH)], dim=1)      # L = 6 > 5
    mask = torch.cat([batch.mask, torch.zeros(3, 1, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        h, logits = can(features, mask, torch.tensor(lengths) if with_lengths else None)
        assert h.shape == (3, 6, 8)
        for b, n in enumerate(lengths):
            e = features[b:b + 1, :n]
            x = sum(torch.relu(F.conv1d(e.transpose(1, 2), conv.weight, conv.bias, padding=conv.kernel_size[0] // 2))
                    for conv in can.inception).transpose(1, 2)
            assert [conv.kernel_size[0] for conv in can.inception] == [1, 3, 5]
            expected = can.gru(x)[0] + e @ can.residual.weight.T + can.residual.bias
            assert torch.allclose(h[b, :n], expected[0], atol=1e-5)
            assert torch.equal(h[b, n:], torch.zeros(6 - n, 8))
            assert torch.allclose(logits[b, :n], expected[0] @ can.classifier.weight.T + can.classifier.bias, atol=1e-5)
    assert ContextAdditionNetwork(D_SPEECH, 8, C).gru.num_layers == 1 and ContextAdditionNetwork(D_SPEECH, 8, C).dropout.p == 0.2


def test_cross_modal_block_is_eq_5_to_8():
    """Eq. 5-8, each with its own attention and layer norm: ``M^{t->s} = LN0(s + MHA(s, t, t))``,
    ``M^{s->t} = LN1(t + MHA(t, s, s))``, ``M^s = LN2(M^{t->s} + SelfAttn)``, ``M^t = LN3(M^{s->t} +
    SelfAttn)``; attention-weight dropout 0.1 (the authors' code)."""
    from erc_lib.models.mister_e import CrossModalBlock

    torch.manual_seed(0)
    block = CrossModalBlock(8, 2, dropout=0.5).eval()
    assert len(block.norms) == 4
    assert all(a.dropout == 0.1 for a in (block.cross_s, block.cross_t, block.self_s, block.self_t))
    with torch.no_grad():
        for norm in block.norms:                      # four different norms: a swap shows
            norm.weight.normal_(), norm.bias.normal_()
    s, t = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    pad = torch.tensor([[False] * 4, [False, False, True, True]])
    attend = lambda mha, q, kv: mha(q, kv, kv, key_padding_mask=pad, need_weights=False)[0]
    with torch.no_grad():
        m_s, m_t = block(s, t, pad)
        t_to_s = block.norms[0](s + attend(block.cross_s, s, t))
        s_to_t = block.norms[1](t + attend(block.cross_t, t, s))
        real = ~pad
        assert torch.allclose(m_s[real], block.norms[2](t_to_s + attend(block.self_s, t_to_s, t_to_s))[real], atol=1e-5)
        assert torch.allclose(m_t[real], block.norms[3](s_to_t + attend(block.self_t, s_to_t, s_to_t))[real], atol=1e-5)


def test_expert_gate_is_eq_10():
    """Eq. 10 as the authors build it: ``beta = softmax(W2 ReLU(W1 x + b1) + b2) / T)``, 10 hidden
    units and T = 1 by default; T must be > 0."""
    from erc_lib.models.mister_e import ExpertGate

    torch.manual_seed(0)
    x = torch.randn(2, 3, 9)
    gate = ExpertGate(9, 3, temperature=2.0)
    first, last = gate.mlp[0], gate.mlp[-1]
    assert first.out_features == 10 and ExpertGate(9, 3).temperature == 1.0
    expected = torch.softmax((torch.relu(x @ first.weight.T + first.bias) @ last.weight.T + last.bias) / 2.0, -1)
    assert torch.allclose(gate(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="^gate temperature must be > 0$"):
        ExpertGate(9, 3, temperature=0.0)


def test_loss_terms_use_the_configured_gamma_and_contrastive_scope():
    """Each focal term uses ``focal_gamma`` (not the loss's default), and the contrastive term is
    SupCon over the fusion network's two views ``(batch, L, 2, d)`` at ``con_temperature``, within
    dialogues or across the batch as ``con_per_dialogue`` says."""
    for per_dialogue in (True, False):
        model = make_model(focal_gamma=3.0, con_temperature=0.5, con_per_dialogue=per_dialogue).eval()
        batch = random_dialogue_batch([4, 3])
        with torch.no_grad():
            out = model(batch)
            terms = model.loss(out, batch)
            for e in EXPERTS:
                assert torch.allclose(terms[f"focal_{e}"], focal_loss(out[f"logits_{e}"], batch.labels, batch.mask, 3.0))
            views = torch.stack([out["rep_speech_mm"], out["rep_text_mm"]], dim=2)
            expected = supervised_contrastive_loss(views, batch.labels, batch.mask, 0.5, per_dialogue)
            assert torch.allclose(terms["contrastive"], expected)
            other = supervised_contrastive_loss(views, batch.labels, batch.mask, 0.5, not per_dialogue)
            assert not torch.allclose(expected, other)             # the scope matters on this batch


def test_configured_sizes_rates_and_temperatures_reach_their_modules():
    """Every setting lands where the paper puts it: the CAN's dropout, the gate's temperature
    (logit gate and feat-MoE), the number of fusion blocks, feat-MoE's Dropout -> Linear classifier."""
    for variant in ("mister_e", "feat_moe"):
        model = MiSTERE(MiSTEREConfig(input_dims={"speech": D_SPEECH, "text": D_TEXT}, n_classes=C, variant=variant,
                                      can_hidden=8, fusion_hidden=8, fusion_heads=2, fusion_layers=3, can_dropout=0.35,
                                      gate_temperature=3.0, fusion_dropout=0.4))
        assert all(can.dropout.p == 0.35 for can in model.cans.values())
        assert model.gate.temperature == 3.0 and len(model.fusion.blocks) == 3
    head = model.mixture_classifier
    assert isinstance(head[0], torch.nn.Dropout) and head[0].p == 0.4 and isinstance(head[1], torch.nn.Linear)


def test_configuration_and_input_errors_say_what_is_wrong():
    dims = {"speech": D_SPEECH, "text": D_TEXT}
    cases = [({"input_dims": {"video": 3}}, r"^input_dims keys must be a non-empty subset of \('speech', 'text'\), got \['video'\]$"),
             ({"input_dims": {}}, r"^input_dims keys must be a non-empty subset of \('speech', 'text'\), got \[\]$"),
             ({"input_dims": {"text": 3}, "variant": "speech"},
              r"^variant 'speech' needs \['speech'\] features; missing \['speech'\] \(text-only data supports variant='text' only\)$"),
             ({"input_dims": dims, "can_hidden": 7}, r"^can_hidden must be even and fusion_hidden divisible by fusion_heads$"),
             ({"input_dims": dims, "fusion_hidden": 10, "fusion_heads": 4},
              r"^can_hidden must be even and fusion_hidden divisible by fusion_heads$")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            MiSTEREConfig(n_classes=C, **kwargs)
    model = make_model()
    batch = random_dialogue_batch([3, 2])                                                 # L = 3, a width of 4 differs
    batch.features["text"] = batch.features["text"][..., :4]
    with pytest.raises(ValueError, match=r"^text features are 4-d, model expects 5-d$"):
        model(batch)
    from erc_lib.models.mister_e import expert_features

    assert expert_features("text") == ["text"] and expert_features(("speech", "text")) == ["audio", "text"]
    for bad in ((), ("video",), ("speech", "video")):
        with pytest.raises(ValueError, match=r"^modalities must name MiSTER-E's experts: .*; got " + re.escape(repr(bad)) + "$"):
            expert_features(bad)


def test_mister_e_text_only_builds_from_a_modality_name():
    data = zero_text_only_data()
    assert build_mister_e(data, "text", can_hidden=8, gru_layers=1).config.variant == "text"
    with pytest.raises(ValueError, match=r"\('speech', 'text'\)"):
        build_mister_e(data, "texts")
