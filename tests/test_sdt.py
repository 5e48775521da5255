"""SDT: output shapes for every modality subset,
padding invariance, self-distillation switch, determinism, metrics (the losses: tests/test_losses.py;
the positions and packing: tests/test_layers.py)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from erc_lib.data import DialogueDataset, collate_dialogues
from erc_lib.metrics import classification_metrics
from erc_lib.models.sdt import SDT, SDTConfig, build_sdt, parse_modalities
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.training import TrainConfig
from toy_data import iemocap_session_speakers_data, three_speaker_three_modality_data


def test_metrics_weighted_f1_and_errors():
    m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
    # class a: P=1 R=.5 F1=2/3; class b: P=2/3 R=1 F1=.8; weighted by support 2/2
    assert m["weighted_f1"] == pytest.approx(100 * (2 / 3 + 0.8) / 2)
    assert m["accuracy"] == 75.0 and m["confusion"] == [[1, 1], [0, 2]]
    with pytest.raises(ValueError, match="padding"):
        classification_metrics([0, -100], [0, 1], ["a", "b"])


def _batch(data, modalities, split="train", idx=None):
    ds = DialogueDataset(data.splits[split], modalities, data.speaker_vocab())
    return collate_dialogues([ds[i] for i in (idx if idx is not None else range(len(ds)))])


SUBSETS = ["".join(c) for r in (1, 2, 3) for c in itertools.combinations("tav", r)]


@pytest.mark.parametrize("subset", SUBSETS)
def test_sdt_shapes_for_every_modality_subset(subset):
    data = three_speaker_three_modality_data()
    names = parse_modalities(subset)
    model = build_sdt(data, subset, d_model=16, n_heads=2)
    batch = _batch(data, names)
    out = model(batch)
    B, L = batch.mask.shape
    assert out["logits"].shape == (B, L, 3)
    assert out["gate"].shape == (B, L, len(names))
    real = batch.mask
    assert torch.allclose(out["gate"].sum(-1)[real], torch.ones(int(real.sum())), atol=1e-5)
    for m in names:
        assert out[f"logits_{m}"].shape == (B, L, 3)
    terms = model.loss(out, batch)
    assert set(terms) == {"total", "ce_fused", *(f"ce_{m}" for m in names), *(f"kl_{m}" for m in names)}
    terms["total"].backward()
    assert len(model.transformers) == len(names) ** 2  # intra + every ordered inter pair


def test_padding_does_not_change_predictions():
    data = three_speaker_three_modality_data()
    model = build_sdt(data, "tav", d_model=16, n_heads=2).eval()
    lengths = [len(d) for d in data.splits["test"]]
    short = int(np.argmin(lengths))
    padded = _batch(data, ["text", "audio", "visual"], "test")  # padded to the longest dialogue
    alone = _batch(data, ["text", "audio", "visual"], "test", [short])
    assert padded.mask.shape[1] > alone.mask.shape[1]
    with torch.no_grad():
        a = model(padded)["logits"][short, : lengths[short]]
        b = model(alone)["logits"][0]
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("subset", ["t", "ta", "tav"])
def test_packed_and_padded_computations_agree(subset):
    """``pack_utterances`` changes how SDT computes, not what: at every real utterance the
    outputs, every loss term and every parameter's gradient equal the padded computation's
    (dropout off), also when the mask has a hole inside a dialogue."""
    data = three_speaker_three_modality_data()
    names = parse_modalities(subset)
    batch = _batch(data, names)
    batch.mask[0, 1] = False                               # an unlabelled utterance inside a dialogue
    batch.labels[0, 1] = -100
    assert (~batch.mask).any(1).sum() >= 2                 # several dialogues carry padding
    torch.manual_seed(0)
    model = build_sdt(data, subset, d_model=16, n_heads=2).eval()
    results = []
    for packed in (False, True):
        model.config.pack_utterances = packed
        model.zero_grad()
        out = model(batch)
        terms = model.loss(out, batch)
        terms["total"].backward()
        results.append((out, terms, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (out_a, terms_a, grads_a), (out_b, terms_b, grads_b) = results
    for key in out_a:
        assert torch.allclose(out_a[key][batch.mask], out_b[key][batch.mask], atol=1e-5), key
    for key in terms_a:
        assert torch.allclose(terms_a[key], terms_b[key], atol=1e-5), key
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-5), name


def test_self_distillation_switch_and_total():
    data = three_speaker_three_modality_data()
    batch = _batch(data, ["text", "audio"])
    torch.manual_seed(0)
    model = build_sdt(data, "ta", d_model=16, n_heads=2, gammas=(1.0, 0.5, 2.0)).eval()
    terms = model.loss(model(batch), batch)
    expected = terms["ce_fused"] + 0.5 * (terms["ce_text"] + terms["ce_audio"]) + 2.0 * (terms["kl_text"] + terms["kl_audio"])
    assert terms["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    model.config.self_distillation = False
    terms = model.loss(model(batch), batch)
    assert not any(k.startswith("kl_") for k in terms)


def test_speaker_index_out_of_range_is_an_error():
    data = three_speaker_three_modality_data()
    model = SDT(SDTConfig(input_dims={"text": 6}, n_classes=3, n_speakers=2, d_model=8, n_heads=2))
    with pytest.raises(ValueError, match="n_speakers"):
        model(_batch(data, ["text"]))


def test_same_seed_same_numbers():
    data = three_speaker_three_modality_data()
    cfg = TrainConfig(epochs=3, lr=1e-3, batch_size=2, seed=7, device="cpu", progress=False)
    spec = RunSpec("ta", lambda: build_sdt(data, "ta", d_model=16, n_heads=2), ["text", "audio"])
    runs = [run_experiment(data, [spec], [7], cfg, progress=False).fit("ta", seed=7) for _ in range(2)]
    assert [h["train_total"] for h in runs[0].history] == [h["train_total"] for h in runs[1].history]
    assert runs[0].test == runs[1].test
    # the selected epoch is the dev-best one
    assert runs[0].best_epoch == max(runs[0].history, key=lambda h: h["dev_weighted_f1"])["epoch"]


# ----------------------------------------------------------------------------- fidelity options


def test_iemocap_speaker_roles_are_the_fixed_m_f_index():
    """The authors index IEMOCAP's speaker embedding by the actor's role (M = 0, F = 1), whoever
    speaks first; the default indexes by order of first appearance."""
    data = iemocap_session_speakers_data()
    batch = _batch(data, ["text"])
    roles = build_sdt(data, "t", speaker_roles=True, d_model=8, n_heads=2)
    assert roles.config.n_speakers == 2
    got = roles.speaker_index(batch)
    for b, d in enumerate(data.splits["train"]):
        assert got[b, : len(d)].tolist() == [0 if s.endswith("_M") else 1 for s in d.speakers]
    first = build_sdt(data, "t", d_model=8, n_heads=2).speaker_index(batch)
    assert first[0, :3].tolist() == [0, 1, 0] and first[1, :2].tolist() == [0, 1]   # F first, then M first
    roles(batch)  # runs
    with pytest.raises(ValueError, match="M/F role"):
        build_sdt(three_speaker_three_modality_data(), "t", speaker_roles=True)


def test_meld_identity_unimodal_gate_and_defaults():
    from erc_lib.models.sdt import UnimodalGate
    from erc_lib.zoo import settings

    gate = UnimodalGate(4, learned=False)
    x = torch.randn(2, 3, 4)
    assert not list(gate.parameters()) and torch.allclose(gate(x), torch.sigmoid(x) * x)
    model = build_sdt(three_speaker_three_modality_data(), "ta", d_model=16, n_heads=2, unimodal_gate="identity", temperature=8.0)
    assert all(g.linear is None for g in model.unimodal_gates.values()) and model.config.temperature == 8.0
    with pytest.raises(ValueError, match="unimodal_gate"):
        build_sdt(three_speaker_three_modality_data(), "t", unimodal_gate="frozen")
    model_args, train_args = settings("sdt", "meld")   # the authors' MELD settings are the defaults
    assert (model_args["temperature"], model_args["unimodal_gate"]) == (8.0, "identity")
    assert (train_args["lr"], train_args["batch_size"], train_args["epochs"]) == (5e-6, 8, 50)
    model_args, _ = settings("sdt", "iemocap")
    assert model_args["speaker_roles"] is True and model_args["class_weighted"] is True and model_args["temperature"] == 1.0
