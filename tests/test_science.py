"""Tests that pin down the science from first principles: the wiring of SDT's
self-distillation term (teacher, student, and where its gradient goes), SDT's transformer layer and
input by their equations (padded and packed), the label mappings of the
text datasets (known rows of the raw files, with the label name as written there), and the
resampling unit of the paired bootstrap (whole test dialogues, not single utterances).

Every expected value is derived by hand, from a formula, or from the raw source files; none is
today's output of the code under test.
"""
from __future__ import annotations

import csv
import math
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from by_hand import softmax
from conftest import require_dataset
from erc_lib.data import load_dataset
from erc_lib.metrics import paired_bootstrap
from erc_lib.models.sdt import SDT, SDTConfig
from erc_lib.paths import data_dir
from toy_data import two_modality_batch


# ============================================================================ self-distillation
T = 2.0
# One dialogue of three slots, the third one padding. The fused (teacher) logits and the two
# students' logits differ, and KL(q || p) differs from KL(p || q) on this case (checked below),
# so swapping teacher and student changes the value.
FUSED = [[2.0, 0.0, -1.0], [0.5, 1.5, -0.5], [9.0, -9.0, 9.0]]
STUDENT = {"text": [[0.0, 1.0, 0.0], [1.0, -1.0, 2.0], [-9.0, 9.0, 0.0]],
           "audio": [[-1.0, 0.5, 3.0], [0.0, 0.0, 0.0], [5.0, 5.0, -5.0]]}
LABELS = [[0, 1, 2]]
MASK = [[True, True, False]]


def _kl(q: list[float], p: list[float]) -> float:
    """KL(q || p) = sum_c q_c log(q_c / p_c)."""
    return sum(qc * math.log(qc / pc) for qc, pc in zip(q, p))


def _real_rows():
    return [i for i, m in enumerate(MASK[0]) if m]


def _sdt_and_outputs(detach_teacher: bool, scale_kl_by_t2: bool = False, gammas=(1.0, 1.0, 1.0)):
    """An SDT (text + audio, 3 classes, T = 2) and hand-built outputs that require grad."""
    model = SDT(SDTConfig(input_dims={"text": 4, "audio": 3}, n_classes=3, n_speakers=2, d_model=8, n_heads=2,
                          temperature=T, gammas=gammas, detach_teacher=detach_teacher,
                          scale_kl_by_t2=scale_kl_by_t2))
    out = {"logits": torch.tensor([FUSED], dtype=torch.float64, requires_grad=True),
           **{f"logits_{m}": torch.tensor([v], dtype=torch.float64, requires_grad=True) for m, v in STUDENT.items()}}
    batch = SimpleNamespace(labels=torch.tensor(LABELS), mask=torch.tensor(MASK))
    return model, out, batch


def test_sdt_defaults_are_the_authors_setting_teacher_not_detached_no_t2():
    """The authors' train.py neither detaches the teacher nor multiplies the KL by T^2
    (reference-implementations.md, SDT 'Loss'); the model's defaults must say the same."""
    config = SDTConfig(input_dims={"text": 4}, n_classes=3)
    assert config.detach_teacher is False and config.scale_kl_by_t2 is False
    assert config.gammas == (1.0, 1.0, 1.0) and config.self_distillation is True


@pytest.mark.parametrize("scale_kl_by_t2", [False, True])
def test_sdt_kl_term_has_the_softened_fused_prediction_as_target(scale_kl_by_t2):
    """``kl_<m>`` is ``(1/n) sum_i KL(q_i || p_i)`` over real utterances with the fused (teacher)
    distribution ``q = softmax(z_fused / T)`` as the target and the student's ``p = softmax(z_m / T)``
    (seed Eq. 2), times T^2 only with ``scale_kl_by_t2``. The reversed divergence KL(p || q),
    i.e. teacher and student swapped at the call site, is a different number on this case."""
    model, out, batch = _sdt_and_outputs(detach_teacher=False, scale_kl_by_t2=scale_kl_by_t2)
    terms = model.loss(out, batch)
    factor = T**2 if scale_kl_by_t2 else 1.0
    for m, student in STUDENT.items():
        forward = [_kl(softmax(FUSED[i], T), softmax(student[i], T)) for i in _real_rows()]
        reverse = [_kl(softmax(student[i], T), softmax(FUSED[i], T)) for i in _real_rows()]
        expected, swapped = factor * sum(forward) / len(forward), factor * sum(reverse) / len(reverse)
        assert abs(expected - swapped) > 0.01, "the case must tell KL(q||p) from KL(p||q)"
        assert terms[f"kl_{m}"].item() == pytest.approx(expected, rel=1e-9)


def test_sdt_total_loss_is_the_weighted_sum_of_hand_computed_terms():
    """``L = g1 CE(fused) + g2 sum_m CE(m) + g3 sum_m KL(fused^T || m^T)`` (seed Eq. 3-4), each
    term a mean over the real utterances, computed here from the softmax by hand."""
    g1, g2, g3 = 0.7, 0.3, 1.9
    model, out, batch = _sdt_and_outputs(detach_teacher=False, gammas=(g1, g2, g3))
    ce = lambda logits: sum(-math.log(softmax(logits[i])[LABELS[0][i]]) for i in _real_rows()) / len(_real_rows())
    kl = lambda s: sum(_kl(softmax(FUSED[i], T), softmax(s[i], T)) for i in _real_rows()) / len(_real_rows())
    expected = g1 * ce(FUSED) + g2 * sum(ce(s) for s in STUDENT.values()) + g3 * sum(kl(s) for s in STUDENT.values())
    assert model.loss(out, batch)["total"].item() == pytest.approx(expected, rel=1e-9)


def _expected_kl_gradients(student: list[list[float]]):
    """Analytic gradients of ``(1/n) sum_i KL(q_i || p_i)`` with q = softmax(z_t/T),
    p = softmax(z_s/T):  d/dz_s = (p - q) / (T n);  d/dz_t = q * (log q - log p - KL_i) / (T n);
    zero at padding."""
    n = len(_real_rows())
    g_student, g_teacher = np.zeros((3, 3)), np.zeros((3, 3))
    for i in _real_rows():
        q, p = np.array(softmax(FUSED[i], T)), np.array(softmax(student[i], T))
        r = np.log(q) - np.log(p)
        g_student[i] = (p - q) / (T * n)
        g_teacher[i] = q * (r - float((q * r).sum())) / (T * n)
    return g_student, g_teacher


def _grads(term, *tensors):
    got = torch.autograd.grad(term, tensors, allow_unused=True)
    return [np.zeros((3, 3)) if g is None else g[0].numpy() for g in got]


@pytest.mark.parametrize("m", list(STUDENT))
def test_detached_teacher_gets_no_gradient_from_the_kl_term(m):
    """With ``detach_teacher=True`` the KL term is a loss on the student only: it sends exactly
    zero gradient into the fused (teacher) logits and the analytic (p - q) / (T n) into the
    student's. Swapping the two arguments at the call site, or dropping the detach, breaks this."""
    model, out, batch = _sdt_and_outputs(detach_teacher=True)
    term = model.loss(out, batch)[f"kl_{m}"]
    g_fused, g_student = _grads(term, out["logits"], out[f"logits_{m}"])
    expected_student, _ = _expected_kl_gradients(STUDENT[m])
    assert np.array_equal(g_fused, np.zeros((3, 3)))
    np.testing.assert_allclose(g_student, expected_student, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("m", list(STUDENT))
def test_authors_setting_sends_kl_gradient_into_the_teacher(m):
    """In the authors' setting (teacher not detached) the KL term also moves the fused logits,
    by the analytic gradient of KL(q || p) in the teacher's logits: q (log q - log p - KL) / (T n);
    the student's gradient is still (p - q) / (T n)."""
    model, out, batch = _sdt_and_outputs(detach_teacher=False)
    term = model.loss(out, batch)[f"kl_{m}"]
    g_fused, g_student = _grads(term, out["logits"], out[f"logits_{m}"])
    expected_student, expected_teacher = _expected_kl_gradients(STUDENT[m])
    assert np.abs(expected_teacher).max() > 1e-3          # a real gradient to find
    np.testing.assert_allclose(g_fused, expected_teacher, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_student, expected_student, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("detach_teacher", [True, False])
def test_kl_gradient_reaches_the_fused_head_only_without_detach(detach_teacher):
    """End to end through a real SDT: the gradient of the KL terms alone reaches the fused
    classifier (the teacher's own parameters) only when the teacher is not detached, and always
    reaches the students' classifiers."""
    batch, dims = two_modality_batch()
    torch.manual_seed(0)
    model = SDT(SDTConfig(input_dims=dims, n_classes=3, n_speakers=2, d_model=8, n_heads=2, dropout=0.0,
                          temperature=T, detach_teacher=detach_teacher)).double()
    batch.features = {m: x.double() for m, x in batch.features.items()}
    terms = model.loss(model(batch), batch)
    kl = sum(v for k, v in terms.items() if k.startswith("kl_"))
    params = [model.fused_head.weight] + [model.unimodal_heads[m][-1].weight for m in dims]
    grads = [torch.zeros_like(p) if g is None else g for p, g in
             zip(params, torch.autograd.grad(kl, params, allow_unused=True))]
    fused_norm = grads[0].abs().sum().item()
    assert (fused_norm == 0.0) if detach_teacher else (fused_norm > 1e-6)
    assert all(g.abs().sum().item() > 1e-6 for g in grads[1:])


# ============================================================================ SDT's layers, by their equations
def _layer_by_hand(layer, query, source, pad):
    """``x = q + MHA(q, kv, kv)`` with padded keys masked, then ``x + W2 GELU(W1 LN(x) + b1) + b2``,
    from the layer's weights and the textbook formulas (scaled dot-product attention per head)."""
    mha, (B, L, d) = layer.attention, query.shape
    heads = mha.num_heads
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    split = lambda x: x.reshape(B, L, heads, d // heads).transpose(1, 2)          # (B, heads, L, d_k)
    q, k, v = split(query @ wq.T + bq), split(source @ wk.T + bk), split(source @ wv.T + bv)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d // heads)
    scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
    attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, d)
    x = query + attended @ mha.out_proj.weight.T + mha.out_proj.bias
    norm = layer.norm
    h = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + norm.eps)
    h = h * norm.weight + norm.bias
    first, last = layer.feed_forward[0], layer.feed_forward[-1]
    inner = h @ first.weight.T + first.bias
    inner = 0.5 * inner * (1 + torch.erf(inner / math.sqrt(2)))                     # exact GELU
    return x + inner @ last.weight.T + last.bias


def _layer_inputs(d_model=8):
    torch.manual_seed(0)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    query, source = torch.randn(2, 4, d_model), torch.randn(2, 4, d_model)
    return query, source, mask


@pytest.mark.parametrize("packed", [False, True])
def test_cross_modal_layer_is_residual_attention_then_residual_feed_forward(packed):
    from erc_lib.models.layers import PackedUtterances
    from erc_lib.models.sdt import CrossModalTransformerLayer

    query, source, mask = _layer_inputs()
    torch.manual_seed(1)
    layer = CrossModalTransformerLayer(8, 2, 12, dropout=0.3).eval()
    with torch.no_grad():
        layer.norm.weight.normal_(), layer.norm.bias.normal_()                   # not the identity
        expected = _layer_by_hand(layer, query, source, ~mask)
        if packed:
            rows = PackedUtterances(mask)
            got = rows.unpack(layer(rows.pack(query), rows.pack(source), ~mask, rows))
        else:
            got = layer(query, source, ~mask)
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("where", ["attention weights", "feed-forward", "residual branches"])
def test_every_dropout_of_the_layer_is_there_and_active_in_training(where, packed):
    """The layer's dropout rate reaches all three places (attention weights, inside the feed-forward
    network, on both residual branches), and each alone changes a training step's output."""
    from erc_lib.models.layers import PackedUtterances
    from erc_lib.models.sdt import CrossModalTransformerLayer

    query, source, mask = _layer_inputs()
    layer = CrossModalTransformerLayer(8, 2, 12, dropout=0.3)
    assert (layer.attention.dropout, layer.feed_forward[2].p, layer.dropout.p) == (0.3, 0.3, 0.3)
    layer.attention.dropout = 0.5 if where == "attention weights" else 0.0
    layer.feed_forward[2].p = 0.5 if where == "feed-forward" else 0.0
    layer.dropout.p = 0.5 if where == "residual branches" else 0.0
    rows = PackedUtterances(mask) if packed else None
    args = (rows.pack(query), rows.pack(source), ~mask, rows) if packed else (query, source, ~mask)
    torch.manual_seed(0)
    with torch.no_grad():
        train = layer.train()(*args)
        evaluation = layer.eval()(*args)
    assert not torch.allclose(train, evaluation)


@pytest.mark.parametrize("bios", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_sdt_input_is_projection_plus_position_plus_speaker(packed, bios):
    """Seed Eq. 5: ``H_m = Conv1d(U_m) + PE + SE`` is what enters the transformers (the input
    dropout's input), at every real utterance, with ``SE = V_s(s) + W h_desc`` when the model has
    speaker descriptions (seed Eq. 6-7); and the multimodal gate's map has no bias
    (``g_m = softmax_m(W_g H'_m)``)."""
    batch, dims = two_modality_batch()
    torch.manual_seed(0)
    model = SDT(SDTConfig(input_dims=dims, n_classes=3, n_speakers=2, d_model=8, n_heads=2,
                          pack_utterances=packed, bios_dim=3 if bios else None)).eval()
    if bios:
        batch.extra["bios"] = torch.randn(*batch.mask.shape, 3)
    with torch.no_grad():
        model.speaker_embedding.weight.normal_()
    seen = []
    model.input_dropout.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        out = model(batch)
        assert all(torch.isfinite(v[batch.mask]).all() for v in out.values())
        L, n = batch.mask.shape[1], model.config.n_speakers
        speakers = batch.speakers.masked_fill(~batch.mask, n)
        description = batch.extra["bios"] @ model.bios_projection.weight.T if bios else 0.0
        for m, got in zip(model.modalities, seen):
            projection = batch.features[m] @ model.projections[m].weight.squeeze(-1).T
            expected = projection + model.position.pe[:L] + model.speaker_embedding.weight[speakers] + description
            got = got if not packed else torch.zeros_like(expected).masked_scatter(batch.mask[..., None], got)
            assert torch.allclose(got[batch.mask], expected[batch.mask], atol=1e-5), m
            assert torch.allclose(model.position.pe[:L, 0], torch.sin(torch.arange(L, dtype=torch.float)))  # sin(p)
    assert model.multimodal_gate.linear.bias is None
    bad = SimpleNamespace(**{**batch.__dict__, "features": {**batch.features, "text": batch.features["text"][..., :4]}})
    with pytest.raises(ValueError, match="text features are 4-d, model expects 6-d"):  # 4 != L = 5
        model(bad)
    if bios:
        batch.extra.pop("bios")
        with pytest.raises(ValueError, match=r"^SDT was built with bios_dim but the batch has no extra\['bios'\]$"):
            model(batch)


def test_unimodal_gate_is_sigmoid_of_a_bias_free_map_times_its_input():
    """SDT Sec. 3.3: ``H' = sigmoid(W H) * H`` (learned, no bias, the default); the authors' MELD
    setting fixes W = I: ``sigmoid(H) * H``."""
    from erc_lib.models.sdt import UnimodalGate

    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    gate = UnimodalGate(4)
    assert gate.linear is not None and gate.linear.bias is None
    assert torch.allclose(gate(x), torch.sigmoid(x @ gate.linear.weight.T) * x)
    assert torch.allclose(UnimodalGate(4, learned=False)(x), torch.sigmoid(x) * x)


def test_speaker_roles_and_temperature_are_checked_before_work():
    """A dataset-wide speaker id past the known roles, and a temperature of 0, are errors that name
    the value (checked on CPU, where reading the id is free)."""
    batch, dims = two_modality_batch()
    model = SDT(SDTConfig(input_dims=dims, n_classes=3, n_speakers=2, d_model=8, n_heads=2, speaker_roles=[0, 1]))
    batch.global_speakers = batch.global_speakers.clamp(max=1)
    model(batch)                                                                  # ids 0 and 1: known
    assert "speaker_roles" not in model.state_dict()                              # derived from the data
    batch.global_speakers[0, 0] = 2                                               # = len(roles): unknown
    with pytest.raises(ValueError, match=r"speaker id 2 has no role \(2 known\); build the model with the same"):
        model(batch)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        SDTConfig(input_dims=dims, n_classes=3, temperature=0)


# ============================================================================ label mappings
# Rows read off the raw files under ERC_DATA_DIR (declare-lab/MELD @2d2011b4 CSVs;
# rungjoo/CoMPM @89263d8f EMORY_*.txt), with the label exactly as the file writes it.
# (split, Dialogue_ID, Utterance_ID, speaker, a fragment of the utterance, Emotion)
MELD_ROWS = [
    ("train", 0, 0, "Chandler", "point person on my company", "neutral"),    # first utterance of train
    ("dev", 0, 0, "Phoebe", "Oh my God, he", "sadness"),                     # first utterance of dev
    ("test", 0, 0, "Mark", "coffee mugs have numbers on the bottom", "surprise"),  # first utterance of test
    ("train", 0, 4, "Chandler", "My duties?", "surprise"),
    ("train", 0, 10, "Chandler", "I beg of you!", "fear"),
    ("train", 1, 1, "Rachel", "You know? Forget it!", "sadness"),
    ("train", 2, 6, "Chandler", "Just coffee! Where are we gonna hang out now?", "disgust"),
    ("train", 2, 12, "Chandler", "Um-mm, yeah right!", "joy"),
    ("train", 6, 5, "Joey", "Oh no-no-no, give me some specifics.", "anger"),
    ("test", 0, 1, "Rachel", "she can be like", "anger"),
    ("dev", 1, 1, "Chandler", "a genius!", "joy"),
]

# (split, scene index in file order, position, speaker, utterance, Emotion)
EMORY_ROWS = [
    ("train", 0, 0, "Monica Geller", "What you guys don't understand is, for us, kissing is as important as any "
     "part of it.", "Joyful"),                                               # first utterance of train
    ("train", 0, 8, "Rachel Green", "Yeah, well, word of advice: Bring back the comedian. Otherwise next time "
     "you're gonna find yourself sitting at home, listening to that album alone.", "Sad"),
    ("dev", 0, 5, "Monica Geller", "Aww, thank you. Uh Rach?", "Scared"),
    ("test", 0, 0, "Ross Geller", None, "Mad"),                              # first utterance of test
    ("test", 0, 2, "Chandler Bing", "It's a beautiful thing.", "Joyful"),
    # train scene 406 holds every one of the 7 emotions
    ("train", 406, 0, "Chandler Bing", "I can't believe you came back.", "Joyful"),
    ("train", 406, 1, "Rachel Green", None, "Powerful"),
    ("train", 406, 2, "Friend No. 2", "Rachel! Rachel!", "Scared"),
    ("train", 406, 3, "Rachel Green", "What?", "Neutral"),
    ("train", 406, 4, "Friend No. 2", "You missed the exit!", "Mad"),
    ("train", 406, 5, "Rachel Green", "Oh, sorry.", "Sad"),
    ("train", 406, 8, "Her Friends", "Awwww!!", "Peaceful"),
]


def test_meld_known_rows_keep_the_emotion_written_in_the_csv():
    """A few utterances of the official MELD CSVs (the first one of each split, and one row of
    every emotion) come out of the loader with the emotion the CSV gives them. An off-by-one or
    permuted label index makes at least one of these rows name another emotion."""
    require_dataset("meld")
    data = load_dataset("meld")
    assert {e for *_, e in MELD_ROWS} == set(data.label_names)          # every class is pinned
    dialogues = {d.dialogue_id: d for s in ("train", "dev", "test") for d in data.splits[s]}
    for split, dia, utt, speaker, fragment, emotion in MELD_ROWS:
        d = dialogues[f"{split}_{dia}"]
        assert d.speakers[utt] == speaker and fragment in d.texts[utt], (split, dia, utt, d.texts[utt])
        assert data.label_names[int(d.labels[utt])] == emotion, (split, dia, utt)


def test_emorynlp_known_rows_keep_the_emotion_written_in_the_file():
    """Known rows of CoMPM's EmoryNLP files (first utterance of train and test, a scene holding
    all 7 emotions) come out of the loader with the emotion written in the file."""
    require_dataset("emorynlp")
    data = load_dataset("emorynlp")
    assert {e for *_, e in EMORY_ROWS} == set(data.label_names)
    for split, scene, pos, speaker, text, emotion in EMORY_ROWS:
        d = data.splits[split][scene]
        assert d.dialogue_id == f"{split}_{scene}" and d.speakers[pos] == speaker
        assert text is None or d.texts[pos] == text, (split, scene, pos, d.texts[pos])
        assert data.label_names[int(d.labels[pos])] == emotion, (split, scene, pos)


def _raw_meld_emotions(split: str) -> Counter:
    with open(data_dir() / "meld" / "official" / f"{split}_sent_emo.csv", encoding="utf-8", newline="") as f:
        return Counter(row["Emotion"].strip() for row in csv.DictReader(f))


def _raw_emory_emotions(split: str) -> Counter:
    lines = (data_dir() / "emorynlp" / "compm" / f"EMORY_{split}.txt").read_text(encoding="utf-8").splitlines()
    return Counter(line.split("\t")[2].strip() for line in lines if line.strip())


@pytest.mark.parametrize("dataset, raw", [("meld", _raw_meld_emotions), ("emorynlp", _raw_emory_emotions)])
def test_every_utterance_keeps_its_emotion_name_per_split(dataset, raw):
    """The loaded labels, read back through ``label_names``, have per split exactly the emotion
    counts of an independent plain read of the raw file (no class gains or loses an utterance)."""
    require_dataset(dataset)
    data = load_dataset(dataset)
    for split in ("train", "dev", "test"):
        loaded = Counter(data.label_names[int(y)] for d in data.splits[split] for y in d.labels)
        expected = raw(split)
        if dataset == "meld":
            expected = Counter({k.lower(): v for k, v in expected.items()})
        assert loaded == expected, split


# ============================================================================ bootstrap unit
def _fixed_dialogues(n_dialogues: int, length: int, n_classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.full(n_dialogues, length)
    return rng.integers(0, n_classes, n_dialogues * length), lengths


def test_bootstrap_interval_is_a_point_when_every_dialogue_has_the_same_accuracy():
    """A gets exactly half of the utterances of EVERY dialogue right (which half varies), B gets
    everything wrong; all dialogues have the same length. Resampling whole dialogues, every
    resample has accuracy exactly 50% for A and 0% for B, so the interval is [50, 50]. Resampling
    single utterances would give a spread of about +-5.7 points (2 x 1.96 x sqrt(.25 / 300))."""
    y, lengths = _fixed_dialogues(30, 10)
    rng = np.random.default_rng(1)
    right = np.concatenate([rng.permutation([True] * 5 + [False] * 5) for _ in lengths])
    a = np.where(right, y, (y + 1) % 4)
    b = (y + 1) % 4
    r = paired_bootstrap(y, a, b, lengths, 4, metric="accuracy")
    assert r["difference"] == pytest.approx(50.0)
    assert r["ci_low"] == pytest.approx(50.0, abs=1e-9) and r["ci_high"] == pytest.approx(50.0, abs=1e-9)


def test_bootstrap_width_follows_the_number_of_dialogues_when_errors_cluster():
    """A gets every utterance of 20 dialogues right and every utterance of the other 20 wrong
    (10 utterances each), B gets everything wrong. Resampling whole dialogues, A's accuracy is
    100 * K / 40 with K ~ Binomial(40, 1/2), whose central 95% runs from 35 to 65 (width 30);
    resampling the 400 utterances would give a width near 2 x 1.96 x 100 sqrt(.25 / 400) = 9.8."""
    from scipy.stats import binom

    n_dialogues, length = 40, 10
    y, lengths = _fixed_dialogues(n_dialogues, length, seed=2)
    right = np.repeat(np.arange(n_dialogues) % 2 == 0, length)
    a, b = np.where(right, y, (y + 1) % 4), (y + 1) % 4
    expected_width = 100 * (binom.ppf(0.975, n_dialogues, 0.5) - binom.ppf(0.025, n_dialogues, 0.5)) / n_dialogues
    for seed in range(3):
        r = paired_bootstrap(y, a, b, lengths, 4, metric="accuracy", n_resamples=2000, seed=seed)
        assert r["difference"] == pytest.approx(50.0)
        assert 0.8 * expected_width <= r["ci_high"] - r["ci_low"] <= 1.2 * expected_width, (seed, r)


def test_paired_difference_resamples_the_experiments_test_dialogues():
    """:func:`erc_lib.experiment.paired_difference` hands the bootstrap the experiment's own test
    dialogues: with equal-length dialogues and the same accuracy in every dialogue the interval
    is a point (it would not be if utterances were the unit)."""
    from erc_lib.experiment import Experiment, paired_difference
    from erc_lib.metrics import classification_metrics
    from erc_lib.training import FitResult

    y, lengths = _fixed_dialogues(20, 8, n_classes=3, seed=3)
    rng = np.random.default_rng(4)
    exp = Experiment(test_truth={"toy": {"labels": y.tolist(), "dialogue_lengths": lengths.tolist()}})
    for variant, k in (("A", 6), ("B", 2)):       # k of 8 right in every dialogue
        for seed in range(2):
            right = np.concatenate([rng.permutation([True] * k + [False] * (8 - k)) for _ in lengths])
            pred = np.where(right, y, (y + 1) % 3)
            m = classification_metrics(y, pred, ["a", "b", "c"])
            exp.fits[("toy", variant, seed)] = FitResult([], 1, m, m, {"y_true": y, "y_pred": pred}, 1.0, 1.0)
    c = paired_difference(exp, "A", exp, "B", "toy", metric="accuracy")
    assert c["difference"] == pytest.approx(100 * (6 - 2) / 8)
    assert c["ci_low"] == pytest.approx(50.0, abs=1e-9) and c["ci_high"] == pytest.approx(50.0, abs=1e-9)
    assert c["n_dialogues"] == 20
