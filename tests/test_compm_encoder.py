"""CoMPM's batches and chunked encoder (erc_lib.models.compm_encoder): padding is masked in both
encoder modes (batched predictions equal one dialogue at a time), finetune contexts are speaker-tagged
and left-truncated, and the chunked, checkpointed encoders give the gradients of one graph."""
from __future__ import annotations

import pytest
import torch

from erc_lib.losses import weighted_cross_entropy
from erc_lib.models.compm import build_compm, compm_splits
from erc_lib.models.compm_encoder import collate_compm
from erc_lib.runtime import seed_everything

from toy_models import recurring_speaker_data


# ----------------------------------------------------------------------------- masks
def _predict_logits(model, dataset, indices, pad_id=0):
    batch = collate_compm([dataset[i] for i in indices], pad_id=pad_id)
    with torch.no_grad():
        logits = model(batch)["logits"]
    return [logits[k, : len(dataset.dialogues[i])] for k, i in enumerate(indices)]


@pytest.mark.parametrize("variant", ["CoMPM", "+ normalised weighted CE"])
def test_frozen_batched_equals_one_by_one(variant):
    data = recurring_speaker_data()
    train = compm_splits(data, variant, "frozen", window=3)[0]
    seed_everything(0)
    model = build_compm(data, variant, "frozen", d_model=32, n_heads=2).eval()
    indices = list(range(len(train)))
    together = _predict_logits(model, train, indices)
    assert len({len(train.dialogues[i]) for i in indices}) > 1, "the test needs padding"
    for i, batched in zip(indices, together):
        alone = _predict_logits(model, train, [i])[0]
        torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.slow  # runs all-MiniLM-L6-v2, a language model
@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_finetune_batched_equals_one_by_one(tokenizer, finetune):
    data = recurring_speaker_data((3, 1, 1))
    train = compm_splits(data, "+ speaker behaviour", "finetune", window=3, max_context_tokens=24,
                         max_utterance_tokens=8)[0]
    seed_everything(0)
    model = build_compm(data, "+ speaker behaviour", "finetune", finetune=finetune).eval()
    pad = tokenizer.pad_token_id
    together = _predict_logits(model, train, [0, 1, 2], pad)
    for i, batched in enumerate(together):
        torch.testing.assert_close(batched, _predict_logits(model, train, [i], pad)[0], atol=1e-4, rtol=1e-4)


def test_finetune_context_is_speaker_tagged_and_left_truncated(tokenizer):
    data = recurring_speaker_data((2, 1, 1))
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
    data = recurring_speaker_data((3, 1, 1), seed=1)
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
