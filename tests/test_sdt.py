"""SDT: losses against hand computations, output shapes for every modality subset,
padding invariance, self-distillation switch, determinism, metrics."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from erc_lib.data import Dialogue, DialogueDataset, ERCData, collate_dialogues
from erc_lib.losses import inverse_frequency_weights, masked_cross_entropy, masked_kl_distillation
from erc_lib.metrics import classification_metrics
from erc_lib.models.sdt import SDT, SDTConfig, build_sdt, parse_modalities
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.training import TrainConfig

DIMS = {"text": 6, "audio": 5, "visual": 4}


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_masked_cross_entropy_matches_hand_computation():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [9.0, 9.0, 9.0]]])
    labels = torch.tensor([[0, 2, 1]])
    mask = torch.tensor([[True, True, False]])  # the third utterance is padding
    expected = (-math.log(_softmax([2.0, 0.0, -1.0])[0]) - math.log(_softmax([0.5, 0.5, 0.0])[2])) / 2
    assert masked_cross_entropy(logits, labels, mask).item() == pytest.approx(expected, rel=1e-6)
    w = torch.tensor([1.0, 2.0, 3.0])
    weighted = (1 * -math.log(_softmax([2.0, 0.0, -1.0])[0]) + 3 * -math.log(_softmax([0.5, 0.5, 0.0])[2])) / (1 + 3)
    assert masked_cross_entropy(logits, labels, mask, w).item() == pytest.approx(weighted, rel=1e-6)


def test_masked_kl_matches_hand_computation():
    student = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, -5.0]]])
    teacher = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [-5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    T = 2.0

    def kl(s, t):
        p, q = _softmax([v / T for v in s]), _softmax([v / T for v in t])
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


def test_metrics_weighted_f1_and_errors():
    m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
    # class a: P=1 R=.5 F1=2/3; class b: P=2/3 R=1 F1=.8; weighted by support 2/2
    assert m["weighted_f1"] == pytest.approx(100 * (2 / 3 + 0.8) / 2)
    assert m["accuracy"] == 75.0 and m["confusion"] == [[1, 1], [0, 2]]
    with pytest.raises(ValueError, match="padding"):
        classification_metrics([0, -100], [0, 1], ["a", "b"])


def _toy_data(n_dialogues=6, seed=0) -> ERCData:
    rng = np.random.default_rng(seed)
    def dia(name, n):
        labels = rng.integers(0, 3, n)
        feats = {m: (rng.normal(size=(n, k)) + labels[:, None] * 0.5).astype(np.float32) for m, k in DIMS.items()}
        return Dialogue(name, [["A", "B", "C"][i % 3] for i in range(n)], ["u"] * n, labels, feats)
    splits = {s: [dia(f"{s}{i}", 3 + (i * 5) % 7) for i in range(n_dialogues)] for s in ("train", "dev", "test")}
    return ERCData("toy", ["x", "y", "z"], splits).validate()


def _batch(data, modalities, split="train", idx=None):
    ds = DialogueDataset(data.splits[split], modalities, data.speaker_vocab())
    return collate_dialogues([ds[i] for i in (idx if idx is not None else range(len(ds)))])


SUBSETS = ["".join(c) for r in (1, 2, 3) for c in itertools.combinations("tav", r)]


@pytest.mark.parametrize("subset", SUBSETS)
def test_sdt_shapes_for_every_modality_subset(subset):
    data = _toy_data()
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
    data = _toy_data()
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
    data = _toy_data()
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


def test_packed_utterances_round_trip_and_errors():
    from erc_lib.models.layers import PackedUtterances

    mask = torch.tensor([[True, True, False], [True, False, True]])
    utterances = PackedUtterances(mask)
    x = torch.arange(6.0).reshape(2, 3, 1)
    rows = utterances.pack(x)
    assert len(utterances) == 4 and rows.flatten().tolist() == [0.0, 1.0, 3.0, 5.0]
    assert torch.equal(utterances.unpack(rows), x * mask.unsqueeze(-1))
    with pytest.raises(ValueError, match="does not match"):
        utterances.pack(torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="3 rows for 4 real utterances"):
        utterances.unpack(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="bool"):
        PackedUtterances(mask.long())


@pytest.mark.parametrize("d_model", [6, 5])
def test_sinusoidal_positions_match_the_formula(d_model):
    """Vaswani et al. Sec. 3.5, by hand: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same),
    for even and odd d; the first n rows for n utterances, at most max_len (1024 by default)."""
    from erc_lib.models.layers import SinusoidalPositionalEncoding

    pe = SinusoidalPositionalEncoding(d_model, max_len=8)
    table = pe(8)
    assert table.shape == (8, d_model)
    for p in range(8):
        for j in range(d_model):
            angle = p / 10000 ** ((j - j % 2) / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[p, j].item() == pytest.approx(expected, abs=1e-6), (p, j)
    assert torch.equal(pe(3), table[:3])
    with pytest.raises(ValueError, match="sequence of 9 utterances exceeds max_len 8"):
        pe(9)
    default = SinusoidalPositionalEncoding(d_model)
    assert default(1024).shape == (1024, d_model)
    with pytest.raises(ValueError, match="exceeds max_len 1024"):
        default(1025)
    assert "pe" not in default.state_dict()  # fixed, not learned: never saved with the weights


def test_self_distillation_switch_and_total():
    data = _toy_data()
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
    data = _toy_data()
    model = SDT(SDTConfig(input_dims={"text": 6}, n_classes=3, n_speakers=2, d_model=8, n_heads=2))
    with pytest.raises(ValueError, match="n_speakers"):
        model(_batch(data, ["text"]))


def test_same_seed_same_numbers():
    data = _toy_data()
    cfg = TrainConfig(epochs=3, lr=1e-3, batch_size=2, seed=7, device="cpu", progress=False)
    spec = RunSpec("ta", lambda: build_sdt(data, "ta", d_model=16, n_heads=2), ["text", "audio"])
    runs = [run_experiment(data, [spec], [7], cfg, progress=False).fit("ta", seed=7) for _ in range(2)]
    assert [h["train_total"] for h in runs[0].history] == [h["train_total"] for h in runs[1].history]
    assert runs[0].test == runs[1].test
    # the selected epoch is the dev-best one
    assert runs[0].best_epoch == max(runs[0].history, key=lambda h: h["dev_weighted_f1"])["epoch"]


# ----------------------------------------------------------------------------- fidelity options
def _iemocap_like() -> ERCData:
    rng = np.random.default_rng(0)
    def dia(name, speakers):
        n = len(speakers)
        return Dialogue(name, speakers, ["u"] * n, rng.integers(0, 3, n),
                        {"text": rng.normal(size=(n, DIMS["text"])).astype(np.float32)})
    splits = {"train": [dia("Ses01F_a", ["Ses01_F", "Ses01_M", "Ses01_F"]), dia("Ses01M_b", ["Ses01_M", "Ses01_F"])],
              "dev": [dia("Ses02F_c", ["Ses02_F", "Ses02_M"])], "test": [dia("Ses05M_d", ["Ses05_M", "Ses05_F", "Ses05_M"])]}
    return ERCData("iemocap", ["x", "y", "z"], splits).validate()


def test_iemocap_speaker_roles_are_the_fixed_m_f_index():
    """The authors index IEMOCAP's speaker embedding by the actor's role (M = 0, F = 1), whoever
    speaks first; the default indexes by order of first appearance."""
    data = _iemocap_like()
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
        build_sdt(_toy_data(), "t", speaker_roles=True)


def test_meld_identity_unimodal_gate_and_defaults():
    from erc_lib.models.sdt import UnimodalGate
    from erc_lib.zoo import settings

    gate = UnimodalGate(4, learned=False)
    x = torch.randn(2, 3, 4)
    assert not list(gate.parameters()) and torch.allclose(gate(x), torch.sigmoid(x) * x)
    model = build_sdt(_toy_data(), "ta", d_model=16, n_heads=2, unimodal_gate="identity", temperature=8.0)
    assert all(g.linear is None for g in model.unimodal_gates.values()) and model.config.temperature == 8.0
    with pytest.raises(ValueError, match="unimodal_gate"):
        build_sdt(_toy_data(), "t", unimodal_gate="frozen")
    model_args, train_args = settings("sdt", "meld")   # the authors' MELD settings are the defaults
    assert (model_args["temperature"], model_args["unimodal_gate"]) == (8.0, "identity")
    assert (train_args["lr"], train_args["batch_size"], train_args["epochs"]) == (5e-6, 8, 50)
    model_args, _ = settings("sdt", "iemocap")
    assert model_args["speaker_roles"] is True and model_args["class_weighted"] is True and model_args["temperature"] == 1.0
