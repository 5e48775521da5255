"""Tests written to close mutants that survived the mutation runs of docs/mutation.md:
documented defaults, validation and error messages, and the cases the other tests happened to
leave symmetric (T = 2, where T * 2 == T ** 2; two views, where every anchor has a positive).
Every expected value comes from the docstring's formula, computed here by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from erc_lib.data import Dialogue, ERCData
from erc_lib.losses import (class_weights_for, focal_loss, inverse_frequency_weights, masked_kl_distillation,
                            supervised_contrastive_loss)
from by_hand import supcon_by_hand


def _softmax(row, t=1.0):
    e = [math.exp(v / t) for v in row]
    return [v / sum(e) for v in e]


# ============================================================================ losses.py
STUDENT = torch.tensor([[[1.0, 0.0, -2.0], [0.0, 2.0, 1.0]]], dtype=torch.float64)
TEACHER = torch.tensor([[[0.0, 1.5, 0.5], [1.0, 1.0, -1.0]]], dtype=torch.float64)
MASK = torch.tensor([[True, True]])


def _kl_by_hand(t: float) -> float:
    """(1/n) sum_i KL(softmax(teacher_i / T) || softmax(student_i / T))."""
    total = 0.0
    for s, q_logits in zip(STUDENT[0].tolist(), TEACHER[0].tolist()):
        p, q = _softmax(s, t), _softmax(q_logits, t)
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
        p = _softmax(row)[y]
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


# ======================================================================= data/speakers.py
def _one_speaker_data(n_train: int) -> ERCData:
    def dia(name, speakers, dim=2):
        n = len(speakers)
        return Dialogue(name, speakers, ["u"] * n, np.zeros(n, dtype=np.int64),
                        {"text": np.arange(n * dim, dtype=np.float64).reshape(n, dim)})
    train = [dia(f"train_{i}", ["Ann", "Bob"] * 4) for i in range(n_train)]
    return ERCData("toy", ["x"], {"train": train, "dev": [dia("dev_0", ["Ann"])], "test": [dia("test_0", ["Ann"])]})


def test_speaker_history_defaults_are_emonets_dataset_window_of_eleven():
    """Called without arguments the history is EmoNet's (thesis 3.2.2.2-3.2.2.3): the speaker's
    last N = 11 utterances across dialogues. Ann speaks 4 times in each of 4 train dialogues
    (16 turns), so her first test utterance reads exactly her last 11 train turns."""
    from erc_lib.data.speakers import speaker_history, utterance_offsets

    data = _one_speaker_data(4)
    history = speaker_history(data)
    offsets = utterance_offsets(data)
    ann_train = [offsets[d.dialogue_id] + j for d in data.splits["train"] for j, s in enumerate(d.speakers) if s == "Ann"]
    assert len(ann_train) == 16
    assert history["test_0"][0] == ann_train[-11:]
    assert history == speaker_history(data, scope="dataset", window=11)


def test_speaker_tags_and_utterance_table_dtypes():
    """Speaker tags index an embedding (int64) and the utterance table is the float32 matrix
    the models read, whatever the dtype of the stored features."""
    from erc_lib.data.speakers import speaker_tags, utterance_table

    data = _one_speaker_data(2)
    for global_ids in (True, False):
        tags, _ = speaker_tags(data, global_ids)
        assert all(t.dtype == np.int64 for t in tags.values())
    table = utterance_table(data, "text")
    assert table.dtype == np.float32 and table.shape == (2 * 8 + 2, 2)


# ============================================================================ metrics.py
def test_majority_baseline_predicts_the_most_frequent_train_class_on_test():
    """The floor: always the most frequent TRAIN class (here "c", 3 of 5 train labels), even
    where another class dominates test. Test labels [0, 0, 1, 2]: accuracy 1/4; F1 of "c" is
    2 TP / (2 TP + FP + FN) = 2 / (2 + 3 + 0) = 0.4, the others 0; weighted by support (1/4)."""
    from erc_lib.metrics import majority_baseline

    m = majority_baseline([2, 2, 1, 0, 2], np.array([0, 0, 1, 2]), ["a", "b", "c"])
    assert m["label"] == "c" and m["n"] == 4
    assert m["accuracy"] == pytest.approx(25.0)
    assert m["per_class_f1"] == pytest.approx({"a": 0.0, "b": 0.0, "c": 40.0})
    assert m["weighted_f1"] == pytest.approx(40.0 / 4) and m["macro_f1"] == pytest.approx(40.0 / 3)
    assert m["confusion"] == [[0, 0, 2], [0, 0, 1], [0, 0, 1]]


def test_bootstrap_defaults_and_confidence_validation():
    """1000 resamples and 95% by default; the confidence must lie strictly inside (0, 1)."""
    from erc_lib.metrics import paired_bootstrap

    y, lengths = np.array([0, 1, 1, 0, 1]), [2, 3]
    r = paired_bootstrap(y, y, 1 - y, lengths, 2)
    assert (r["n_resamples"], r["confidence"], r["metric"]) == (1000, 0.95, "weighted_f1")
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"^confidence must be in \(0, 1\), got {bad}$"):
            paired_bootstrap(y, y, 1 - y, lengths, 2, confidence=bad)


def test_bootstrap_of_a_single_one_utterance_dialogue():
    """One test dialogue of one utterance, A right and B wrong: every resample is that utterance,
    so the accuracy difference is exactly 100 points with a point interval."""
    from erc_lib.metrics import paired_bootstrap

    r = paired_bootstrap([1], [1], [0], [1], 2, metric="accuracy", n_resamples=50)
    assert (r["difference"], r["ci_low"], r["ci_high"]) == (100.0, 100.0, 100.0)


def test_classification_metrics_rejects_predictions_out_of_range_and_scores_absent_classes_zero():
    """Predictions must be class ids too (a padding -100 or an id = n_classes is an error), and a
    class absent from both truth and prediction gets F1 0 (docstring), so with classes a, b, c
    and only a, b present and all right the macro F1 is (100 + 100 + 0) / 3."""
    from erc_lib.metrics import classification_metrics

    for bad in ([0, 2], [0, -100]):
        with pytest.raises(ValueError, match="labels outside 0..1"):
            classification_metrics([0, 1], bad, ["a", "b"])
    m = classification_metrics([0, 1], [0, 1], ["a", "b", "c"])
    assert m["macro_f1"] == pytest.approx(200 / 3) and m["per_class_f1"]["c"] == 0.0


def test_bootstrap_with_different_seed_counts_and_a_small_positive_interval():
    """A with 2 seeds against B with 1 seed draws B's only seed every time; and an interval
    lying just above zero (here exactly [0.5, 0.5]: A right on one more utterance than B in every
    200-utterance dialogue) excludes zero."""
    from erc_lib.metrics import paired_bootstrap

    lengths = [200] * 5
    y = np.zeros(1000, dtype=np.int64)
    b = np.ones(1000, dtype=np.int64)
    a = b.copy()
    a[::200] = 0                                            # one more right in every dialogue
    r = paired_bootstrap(y, np.stack([a, a]), b, lengths, 2, metric="accuracy", n_resamples=100)
    assert (r["n_seeds_a"], r["n_seeds_b"]) == (2, 1)
    assert r["ci_low"] == pytest.approx(0.5) and r["ci_high"] == pytest.approx(0.5) and r["excludes_zero"]


def test_base_dataset_strips_sdt_and_clean_suffixes():
    """Published sizes compare within one base dataset: ``iemocap-sdt`` -> ``iemocap``,
    ``mosi-clean`` -> ``mosi`` (docstring)."""
    from erc_lib.claims import base_dataset

    assert [base_dataset(n) for n in ("iemocap-sdt", "meld-sdt", "mosi-clean", "emorynlp")] == \
        ["iemocap", "meld", "mosi", "emorynlp"]


def test_sdt_cross_entropy_terms_use_the_class_weights():
    """With class weights w (SDT's IEMOCAP setting) every CE term of SDT's loss, the fused one and
    each student's, is the weighted mean sum_i w_{y_i} CE_i / sum_i w_{y_i}, by hand."""
    from types import SimpleNamespace

    from erc_lib.models.sdt import SDT, SDTConfig

    w = [0.2, 0.5, 0.3]
    model = SDT(SDTConfig(input_dims={"text": 4}, n_classes=3, n_speakers=2, d_model=8, n_heads=2, class_weights=w))
    fused, student = [[2.0, 0.0, -1.0], [0.5, 1.5, -0.5]], [[0.0, 1.0, 0.0], [1.0, -1.0, 2.0]]
    labels = [0, 2]
    out = {"logits": torch.tensor([fused], dtype=torch.float64),
           "logits_text": torch.tensor([student], dtype=torch.float64)}
    batch = SimpleNamespace(labels=torch.tensor([labels]), mask=torch.tensor([[True, True]]))
    model.class_weights = model.class_weights.double()
    terms = model.loss(out, batch)

    def weighted_ce(rows):
        num = sum(w[y] * -math.log(_softmax(r)[y]) for r, y in zip(rows, labels))
        return num / sum(w[y] for y in labels)

    assert terms["ce_fused"].item() == pytest.approx(weighted_ce(fused), rel=1e-6)   # weights stored as float32
    assert terms["ce_text"].item() == pytest.approx(weighted_ce(student), rel=1e-6)


def test_underpowered_reason_says_what_the_test_detects():
    """Interval [-1, 3] with published +2: "underpowered". Without a detectable effect the reason
    is just the interval sentence; when the test detects exactly the published size, the reason
    says so and asks for no more dialogues (needing more starts only above the target)."""
    from erc_lib.claims import verdict

    base = "the 95% interval [-1.00, +3.00] includes both zero and the published +2.00"
    assert verdict(-1.0, 3.0, 1, 2.0, None, 30) == ("underpowered", base)
    assert verdict(-1.0, 3.0, 1, 2.0, 2.0, 30) == ("underpowered", base + "; this test detects 2.00 points")
    word, reason = verdict(-1.0, 3.0, 1, 2.0, 4.0, 30)      # detects 4: needs (4 / 2)^2 x 30 = 120
    assert word == "underpowered" and "needs about 120 test dialogues instead of 30" in reason


# ============================================================================ models/sdt.py
def _three_class_data() -> ERCData:
    """Train labels 0 x 4, 1 x 2, 2 x 1 (known counts); text and audio features only."""
    rng = np.random.default_rng(0)

    def dialogue(name, labels):
        n = len(labels)
        return Dialogue(name, [["A", "B"][i % 2] for i in range(n)], ["u"] * n, np.array(labels),
                        {"text": rng.normal(size=(n, 4)).astype(np.float32),
                         "audio": rng.normal(size=(n, 3)).astype(np.float32)})

    splits = {"train": [dialogue("tr0", [0, 0, 1, 2]), dialogue("tr1", [0, 0, 1])],
              "dev": [dialogue("dv0", [0, 1, 2])], "test": [dialogue("te0", [2, 1, 0])]}
    return ERCData("toy", ["x", "y", "z"], splits).validate()


def test_build_sdt_weights_classes_by_inverse_train_frequency_summing_to_one():
    """SDT's IEMOCAP constants: ``w_c = (1 / n_c) / sum_k (1 / n_k)`` over the train labels
    (counts 4, 2, 1 -> (1/4, 1/2, 1) / 1.75), float32; unweighted (None) by default."""
    from erc_lib.models.sdt import build_sdt

    data = _three_class_data()
    model = build_sdt(data, "ta", class_weighted=True, d_model=8, n_heads=2)
    expected = torch.tensor([0.25, 0.5, 1.0]) / 1.75
    assert model.class_weights.dtype == torch.float32
    assert torch.allclose(model.class_weights, expected) and model.config.class_weights == pytest.approx(expected.tolist())
    assert build_sdt(data, "ta", d_model=8, n_heads=2).class_weights is None
    assert "class_weights" not in model.state_dict()        # derived from the data, not a weight
    with pytest.raises(ValueError, match=r"toy has no \['visual'\] features \(available: \['text', 'audio'\]\)"):
        build_sdt(data, "tv")


def test_sdt_modules_follow_the_paper():
    """Speaker embedding: one slot per speaker plus the padding slot (index n, zero, never
    trained); unimodal gates learned by default; the students' heads ReLU -> Dropout -> Linear
    (Sec. 3.3 / the module docstring)."""
    from torch import nn

    from erc_lib.models.sdt import build_sdt

    model = build_sdt(_three_class_data(), "ta", d_model=8, n_heads=2, dropout=0.3)
    n = model.config.n_speakers
    assert model.speaker_embedding.num_embeddings == n + 1 and model.speaker_embedding.padding_idx == n
    assert torch.equal(model.speaker_embedding.weight[n], torch.zeros(8))
    assert all(g.linear is not None for g in model.unimodal_gates.values())
    for head in model.unimodal_heads.values():
        assert [type(layer) for layer in head] == [nn.ReLU, nn.Dropout, nn.Linear] and head[1].p == 0.3


def test_parse_modalities_and_speaker_roles_by_hand():
    from types import SimpleNamespace

    from erc_lib.models.sdt import parse_modalities, speaker_roles_of

    assert parse_modalities("va") == ["audio", "visual"] and parse_modalities(["text", "a"]) == ["text", "audio"]
    for bad in ("tx", "tt", ""):
        with pytest.raises(ValueError, match=f"bad modality selection {bad!r}: use a non-empty subset"):
            parse_modalities(bad)
    data = SimpleNamespace(name="iemocap", speaker_vocab=lambda: ["Ses01_M", "Ses01_impro_F", "Ses02_F"])
    assert speaker_roles_of(data) == [0, 1, 1]          # the role is the last "_" field
    with pytest.raises(ValueError, match="speaker 'Chandler' has no M/F role"):
        speaker_roles_of(SimpleNamespace(name="meld", speaker_vocab=lambda: ["Chandler"]))
