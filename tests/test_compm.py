"""CoMPM / EmoNet (erc_lib.models.compm): speaker-behaviour history, global speaker ids,
EmoNet's weighted CE, padding masks in both encoder modes, and a fine-tuning step."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from erc_lib.data import Dialogue, ERCData
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.features.text import load_tokenizer
from erc_lib.losses import class_weights_for, weighted_cross_entropy
from erc_lib.models.compm import EMONET_ABLATION, CoMPMDataset, build_compm, collate_compm, compm_splits
from erc_lib.runtime import seed_everything
from erc_lib.data.speakers import speaker_history, speaker_tags, utterance_offsets
from erc_lib.training import TrainConfig

from conftest import require_dataset

NAMES = ["Monica", "Rachel", "Ross", "Joey", "Gunther"]
WORDS = "oh my god we had a deal you promised who was that she bailed I have no waitress".split()


def synthetic(n_dialogues=(6, 3, 3), seed=0, dim=16, n_classes=3) -> ERCData:
    """A small ERCData whose speakers recur across dialogues and splits; random texts,
    labels and ``text`` features (label-dependent, so a model can learn them)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)
    splits = {}
    for split, n in zip(("train", "dev", "test"), n_dialogues):
        dialogues = []
        for i in range(n):
            length = int(rng.integers(3, 9))
            speakers = [NAMES[k] for k in rng.integers(0, len(NAMES), size=length)]
            labels = rng.integers(0, n_classes, size=length).astype(np.int64)
            labels[: n_classes] = np.arange(min(n_classes, length))  # every class occurs in train
            texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))) for _ in range(length)]
            feats = centres[labels] + 0.5 * rng.normal(size=(length, dim)).astype(np.float32)
            dialogues.append(Dialogue(f"{split}_{i}", speakers, texts, labels, {"text": feats}))
        splits[split] = dialogues
    return ERCData("synthetic", [f"c{k}" for k in range(n_classes)], splits).validate()


def flat_records(data):
    """Per flat index: (split, dialogue id, speaker)."""
    return [(split, d.dialogue_id, s) for split in ("train", "dev", "test") for d in data.splits[split] for s in d.speakers]


# ----------------------------------------------------------------------------- history
@pytest.mark.parametrize("window", [1, 3, 11, None])
def test_dataset_history_is_past_same_speaker_only(window):
    data = synthetic()
    records = flat_records(data)
    offsets = utterance_offsets(data)
    history = speaker_history(data, "dataset", window)
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for j, speaker in enumerate(d.speakers):
                current = offsets[d.dialogue_id] + j
                h = history[d.dialogue_id][j]
                assert all(i < current for i in h), "history holds the current or a future utterance"
                assert h == sorted(h), "history must be oldest first"
                assert all(records[i][2] == speaker for i in h), "history holds another speaker's utterance"
                if window is not None:
                    assert len(h) <= window
                other = {"dev": "test", "test": "dev"}.get(split)
                assert all(records[i][0] != other for i in h), "dev and test must not see each other"
                # the window is the speaker's latest utterances visible from here
                visible = [i for i in range(current) if records[i][2] == speaker and records[i][0] in ("train", split)]
                assert h == (visible[-window:] if window else visible)


def test_history_carried_from_train_and_dialogue_scope_stays_in_dialogue():
    data = synthetic()
    offsets = utterance_offsets(data)
    first_test = data.splits["test"][0]
    train_speakers = {s for d in data.splits["train"] for s in d.speakers}
    h = speaker_history(data, "dataset", 11)[first_test.dialogue_id][0]
    assert (len(h) > 0) == (first_test.speakers[0] in train_speakers)
    within = speaker_history(data, "dialogue", None)
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            lo, hi = offsets[d.dialogue_id], offsets[d.dialogue_id] + len(d)
            for j, row in enumerate(within[d.dialogue_id]):
                assert all(lo <= i < lo + j for i in row)
                assert len(row) == d.speakers[:j].count(d.speakers[j])
            assert hi - lo == len(d)


def test_history_never_reads_labels():
    """Relabelling every utterance changes neither the history nor what the PM is fed."""
    data, relabelled = synthetic(), synthetic()
    for split in relabelled.splits.values():
        for d in split:
            d.labels = (d.labels + 1) % relabelled.n_classes
    assert speaker_history(data, "dataset", 5) == speaker_history(relabelled, "dataset", 5)
    variant = EMONET_ABLATION["+ speaker behaviour"]
    a = compm_splits(data, variant, "frozen", window=5)[:3]
    b = compm_splits(relabelled, variant, "frozen", window=5)[:3]
    for ds_a, ds_b in zip(a, b):
        for i in range(len(ds_a)):
            assert torch.equal(ds_a[i]["history"], ds_b[i]["history"])
            assert torch.equal(ds_a[i]["features"], ds_b[i]["features"])
            assert not torch.equal(ds_a[i]["labels"], ds_b[i]["labels"])


def test_history_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scope"):
        speaker_history(synthetic(), "episode")
    with pytest.raises(ValueError, match="window"):
        speaker_history(synthetic(), "dataset", 0)


# ----------------------------------------------------------------------------- speaker ids
def test_global_ids_stable_across_splits():
    data = synthetic()
    tags, n = speaker_tags(data, global_ids=True)
    seen: dict[str, int] = {}
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for name, tag in zip(d.speakers, tags[d.dialogue_id]):
                assert seen.setdefault(name, int(tag)) == int(tag), f"{name} changes id in {split}"
    assert n == len(seen) and sorted(seen.values()) == list(range(n))
    # a dev/test-only reshuffle does not move train speakers' ids
    data.splits["dev"], data.splits["test"] = data.splits["test"], data.splits["dev"]
    tags2, _ = speaker_tags(data, global_ids=True)
    for d in data.splits["train"]:
        assert np.array_equal(tags[d.dialogue_id], tags2[d.dialogue_id])
    local, n_local = speaker_tags(data, global_ids=False)
    for d in data.splits["train"]:
        assert np.array_equal(local[d.dialogue_id], d.speaker_index) and local[d.dialogue_id].max() < n_local


def test_global_ids_on_emorynlp():
    require_dataset("emorynlp")
    from erc_lib.data import load_dataset

    data = load_dataset("emorynlp")
    tags, _ = speaker_tags(data, global_ids=True)
    ids = {}
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for name, tag in zip(d.speakers, tags[d.dialogue_id]):
                ids.setdefault(name, set()).add(int(tag))
    assert all(len(v) == 1 for v in ids.values())
    test_names = {s for d in data.splits["test"] for s in d.speakers}
    train_names = {s for d in data.splits["train"] for s in d.speakers}
    assert "Monica Geller" in test_names & train_names  # followed across splits


# ----------------------------------------------------------------------------- loss
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
    data = synthetic()
    counts = np.bincount(data.train_labels(), minlength=data.n_classes)
    norm = class_weights_for(data.train_labels(), data.n_classes, "normalised").numpy()
    unnorm = class_weights_for(data.train_labels(), data.n_classes, "unnormalised").numpy()
    assert np.allclose(norm, counts.min() / counts) and norm.max() == pytest.approx(1.0)
    assert np.allclose(unnorm, counts.sum() / counts)
    assert class_weights_for(data.train_labels(), data.n_classes, None) is None
    with pytest.raises(ValueError):
        class_weights_for(data.train_labels(), data.n_classes, "sqrt")


# ----------------------------------------------------------------------------- masks
def _predict_logits(model, dataset, indices, pad_id=0):
    batch = collate_compm([dataset[i] for i in indices], pad_id=pad_id)
    with torch.no_grad():
        logits = model(batch)["logits"]
    return [logits[k, : len(dataset.dialogues[i])] for k, i in enumerate(indices)]


@pytest.mark.parametrize("variant", ["CoMPM", "+ normalised weighted CE"])
def test_frozen_batched_equals_one_by_one(variant):
    data = synthetic()
    train = compm_splits(data, variant, "frozen", window=3)[0]
    seed_everything(0)
    model = build_compm(data, variant, "frozen", d_model=32, n_heads=2).eval()
    indices = list(range(len(train)))
    together = _predict_logits(model, train, indices)
    assert len({len(train.dialogues[i]) for i in indices}) > 1, "the test needs padding"
    for i, batched in zip(indices, together):
        alone = _predict_logits(model, train, [i])[0]
        torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("all-MiniLM-L6-v2")


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_finetune_batched_equals_one_by_one(tokenizer, finetune):
    data = synthetic((3, 1, 1))
    train = compm_splits(data, "+ speaker behaviour", "finetune", window=3, max_context_tokens=24,
                         max_utterance_tokens=8)[0]
    seed_everything(0)
    model = build_compm(data, "+ speaker behaviour", "finetune", finetune=finetune).eval()
    pad = tokenizer.pad_token_id
    together = _predict_logits(model, train, [0, 1, 2], pad)
    for i, batched in enumerate(together):
        torch.testing.assert_close(batched, _predict_logits(model, train, [i], pad)[0], atol=1e-4, rtol=1e-4)


def test_finetune_context_is_speaker_tagged_and_left_truncated(tokenizer):
    data = synthetic((2, 1, 1))
    train = compm_splits(data, "+ global speaker ID", "finetune", max_context_tokens=12, max_utterance_tokens=8)[0]
    d = train.dialogues[0]
    item = train[0]
    vocab = data.speaker_vocab()
    last = item["contexts"][-1]
    assert len(last) <= 12 and last[0] == tokenizer.cls_token_id and last[-1] == tokenizer.sep_token_id
    text = tokenizer.decode(last[1:-1])
    assert text.endswith(tokenizer.decode(tokenizer(d.texts[-1], add_special_tokens=False)["input_ids"]))
    first = tokenizer.decode(item["contexts"][0][1:-1]).replace(" ", "")
    assert first.startswith(f"<s{vocab[d.speakers[0]] + 1}>")


# ----------------------------------------------------------------------------- training
def test_finetune_forward_backward(tokenizer):
    data = synthetic((2, 1, 1))
    for finetune in ("full", "lora"):
        train = compm_splits(data, "+ normalised weighted CE", "finetune", window=3, max_context_tokens=24,
                             max_utterance_tokens=8)[0]
        model = build_compm(data, "+ normalised weighted CE", "finetune", finetune=finetune)
        batch = collate_compm([train[0], train[1]], pad_id=tokenizer.pad_token_id)
        out = model(batch)
        assert out["logits"].shape == (2, batch.mask.shape[1], data.n_classes)
        terms = model.loss(out, batch)
        assert torch.isfinite(terms["total"])
        terms["total"].backward()
        trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        assert all(p.grad is not None for n, p in trained if n.startswith("classifier"))
        enc_grads = [p.grad.abs().sum().item() for n, p in trained if n.startswith("context_model") and p.grad is not None]
        assert enc_grads and max(enc_grads) > 0, "the context encoder gets no gradient"
        if finetune == "lora":
            assert all("lora_" in n for n, _ in trained if n.startswith(("context_model", "memory_encoder")))


def test_frozen_training_learns_synthetic_labels():
    """Features carry the label: a few epochs must beat the majority class on test."""
    data = synthetic((24, 8, 8), dim=16)
    config = TrainConfig(epochs=5, lr=5e-3, batch_size=8, device="cpu", progress=False, seed=0)
    row = "+ normalised weighted CE"
    spec = RunSpec(row, lambda: build_compm(data, row, d_model=32, n_heads=2, pm_hidden=16),
                   lambda: compm_splits(data, row, window=3))
    result = run_experiment(data, [spec], 1, config, progress=False).fit(row)
    y = np.concatenate([d.labels for d in data.splits["test"]])
    majority = 100 * np.bincount(y).max() / len(y)
    assert result.test["accuracy"] > majority + 10
    assert len(result.history) >= 1 and all(np.isfinite(h["train_total"]) for h in result.history)


def test_narrow_memory_gets_the_thesis_projection():
    data = synthetic()
    assert isinstance(build_compm(data, "CoMPM", d_model=32, n_heads=2).pm_projection, torch.nn.Identity)
    wide = build_compm(data, "CoMPM", d_model=32, n_heads=2, pm_hidden=16).pm_projection
    assert isinstance(wide, torch.nn.Linear) and (wide.in_features, wide.out_features) == (16, 32)


def test_bad_inputs_raise():
    data = synthetic()
    with pytest.raises(ValueError, match="encoder_mode"):
        compm_splits(data, "CoMPM", "half-frozen")
    with pytest.raises(ValueError, match="ablation row"):
        compm_splits(data, "CoMPM + magic", "frozen")
    del data.splits["dev"][0].features["text"]
    with pytest.raises(KeyError, match="add_text_features"):
        compm_splits(data, "CoMPM", "frozen")
    with pytest.raises(ValueError, match="exactly one"):
        CoMPMDataset([], {}, {})


# ----------------------------------------------------------------------------- bounded memory
@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, tokenizer):
    """A folder holding a 2-layer, 16-wide BERT (random weights, no dropout) with MiniLM's
    tokenizer: fine-tuning maths at unit-test cost."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny_bert")
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def _reference_loss(model, batch):
    """The paper's maths written out, one utterance at a time, in one autograd graph: ``c_t``
    the CoM encoder's [CLS] state over the utterance's own context; each history utterance
    encoded by the PM encoder for this reader; the GRU's last output ``kt_t`` (zero without
    history); ``W_o (c_t + W_p kt_t)``; the (weighted) mean CE over the batch's utterances."""
    def cls(encoder, ids, attention):
        n = int(attention.sum())
        return encoder(input_ids=ids[None, :n], attention_mask=attention[None, :n]).last_hidden_state[0, 0]

    logits, labels = [], []
    for b, t in batch.mask.nonzero().tolist():
        c = cls(model.context_model, batch.context_ids[b, t], batch.context_attention[b, t])
        n_hist = int(batch.history_len[b, t])
        if n_hist:
            k = torch.stack([cls(model.memory_encoder, batch.history_ids[b, t, j], batch.history_attention[b, t, j])
                             for j in range(n_hist)])
            kt = model.tracker(k[None])[0][0, -1]
        else:
            kt = c.new_zeros(model.pm_hidden)
        logits.append(model.classifier(c + model.pm_projection(kt)))
        labels.append(batch.labels[b, t])
    labels = torch.stack(labels)[None]
    return weighted_cross_entropy(torch.stack(logits)[None], labels, torch.ones_like(labels, dtype=torch.bool),
                                  model.class_weights)


@pytest.mark.parametrize("row", ["CoMPM", "+ normalised weighted CE"])
def test_chunked_finetuning_has_the_gradients_of_one_graph(tokenizer, tiny_encoder, row):
    """Chunked, checkpointed encoders with shared PM encodings (``chunk_tokens``) give the loss
    and every parameter's gradient (both encoders, GRU, classifier) of the unchunked one-graph
    computation; every encoder call stays within the token budget."""
    data = synthetic((3, 1, 1), seed=1)
    train = compm_splits(data, row, "finetune", window=3, encoder=tiny_encoder, max_context_tokens=48,
                         max_utterance_tokens=12)[0]
    batch = collate_compm([train[i] for i in range(len(train))], pad_id=tokenizer.pad_token_id)
    assert int(batch.history_len.max()) >= 2 and batch.context_attention.sum(-1).max() > 24, "the test needs long inputs"

    def gradients(chunk_tokens, reference=False):
        seed_everything(0)
        model = build_compm(data, row, "finetune", encoder=tiny_encoder, chunk_tokens=chunk_tokens,
                            gru_dropout=0.0).train()
        calls = []
        for encoder in (model.context_model, model.memory_encoder):
            encoder.register_forward_pre_hook(lambda _, args, kwargs: calls.append(kwargs["input_ids"].shape),
                                              with_kwargs=True)
        loss = _reference_loss(model, batch) if reference else model.loss(model(batch), batch)["total"]
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return loss.detach(), grads, calls

    ref_loss, ref, _ = gradients(None, reference=True)
    assert any(n.startswith("memory_encoder") and g.abs().sum() > 0 for n, g in ref.items())
    for chunk_tokens in (None, 24, 1):
        loss, grads, calls = gradients(chunk_tokens)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
        assert set(grads) == set(ref), f"chunk_tokens={chunk_tokens}: parameters lost their gradient"
        for name, g in grads.items():
            assert torch.allclose(g, ref[name], rtol=1e-4, atol=1e-6), f"chunk_tokens={chunk_tokens}: {name}"
        if chunk_tokens is not None:   # each chunk within the budget (one sequence may exceed it alone)
            assert len(calls) > 4 and all(s[0] == 1 or s[0] * s[1] <= chunk_tokens for s in calls)


def test_chunk_tokens_is_validated():
    with pytest.raises(ValueError, match="chunk_tokens"):
        build_compm(synthetic(), "CoMPM", d_model=32, n_heads=2, chunk_tokens=0)
