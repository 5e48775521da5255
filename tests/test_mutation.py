"""Tests written to close mutants that survived the mutation runs of docs/mutation.md:
documented defaults, validation and error messages, and the cases the other tests happened to
leave symmetric (T = 2, where T * 2 == T ** 2; two views, where every anchor has a positive).
Every expected value comes from the docstring's formula, computed here by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from by_hand import softmax
from toy_data import ann_and_bob_data, known_class_counts_data


# ======================================================================= data/speakers.py


def test_speaker_history_defaults_are_emonets_dataset_window_of_eleven():
    """Called without arguments the history is EmoNet's (thesis 3.2.2.2-3.2.2.3): the speaker's
    last N = 11 utterances across dialogues. Ann speaks 4 times in each of 4 train dialogues
    (16 turns), so her first test utterance reads exactly her last 11 train turns."""
    from erc_lib.data.speakers import speaker_history, utterance_offsets

    data = ann_and_bob_data(4)
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

    data = ann_and_bob_data(2)
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
        num = sum(w[y] * -math.log(softmax(r)[y]) for r, y in zip(rows, labels))
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


def test_build_sdt_weights_classes_by_inverse_train_frequency_summing_to_one():
    """SDT's IEMOCAP constants: ``w_c = (1 / n_c) / sum_k (1 / n_k)`` over the train labels
    (counts 4, 2, 1 -> (1/4, 1/2, 1) / 1.75), float32; unweighted (None) by default."""
    from erc_lib.models.sdt import build_sdt

    data = known_class_counts_data()
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

    model = build_sdt(known_class_counts_data(), "ta", d_model=8, n_heads=2, dropout=0.3)
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
