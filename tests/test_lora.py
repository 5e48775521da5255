"""LoRA and frozen text encoders (erc_lib/features/lora.py): frozen base weights, adapter-only training, cached
embeddings equal fresh ones, frozen mean pooling equals sentence-transformers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from erc_lib.data import DataError
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.features.lora import (add_frozen_text_features, add_tuned_text_features, build_utterance_classifier,
                                  embed_utterances, trainable_parameters, utterance_splits)
from erc_lib.features.text import encode_texts, load_text_encoder, load_tokenizer, utterance_texts
from erc_lib.training import TrainConfig
from toy_data import emotion_text_data


def _tune(lora: bool, epochs: int):
    data = emotion_text_data()
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    spec = RunSpec("LoRA" if lora else "frozen",
                   lambda: build_utterance_classifier("all-MiniLM-L6-v2", data.n_classes, lora=lora, hidden=32),
                   lambda: utterance_splits(data, tokenizer, max_length=16), model="utterance classifier")
    config = TrainConfig(epochs=epochs, lr=5e-3, batch_size=8, optimizer="adamw", weight_decay=0.0, patience=None,
                         device="cpu", progress=False)
    exp = run_experiment(data, [spec], 1, config, keep_models=True, progress=False)
    key = next(iter(exp.models))
    return exp.models[key], exp.fits[key], tokenizer


@pytest.fixture(scope="module")
def tuned():
    return _tune(lora=True, epochs=2)


@pytest.mark.slow  # trains or runs all-MiniLM-L6-v2, a language model
def test_lora_trains_only_adapters_and_leaves_base_untouched(tuned):
    model, fitted, _ = tuned
    _, fresh = load_text_encoder("all-MiniLM-L6-v2")
    fresh_state = fresh.state_dict()
    names = dict(model.named_parameters())
    trainable = {n for n, p in names.items() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith(("fc1.", "fc2.")) for n in trainable)
    assert any("lora_A" in n for n in trainable) and any("lora_B" in n for n in trainable)
    n_trainable, n_total = trainable_parameters(model)
    assert n_trainable == sum(names[n].numel() for n in trainable) < 0.02 * n_total
    # every base weight equals the pretrained one
    base = model.encoder.get_base_model().state_dict()
    checked = 0
    for key, value in base.items():
        if "lora_" in key:
            continue
        ref = fresh_state[key.replace(".base_layer", "")]
        torch.testing.assert_close(value.cpu(), ref, rtol=0, atol=0)
        checked += 1
    assert checked >= len(fresh_state) - 1
    # ... and the adapters did learn (lora_B starts at zero)
    assert any(float(p.detach().abs().sum()) > 0 for n, p in names.items() if "lora_B" in n)
    assert fitted.best_epoch in (1, 2) and len(fitted.history) == 2
    assert fitted.best_epoch == max(fitted.history, key=lambda h: h["dev_weighted_f1"])["epoch"]


@pytest.mark.slow  # trains or runs all-MiniLM-L6-v2, a language model
def test_frozen_mode_trains_head_only():
    model, _, _ = _tune(lora=False, epochs=1)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]


@pytest.mark.slow  # trains or runs all-MiniLM-L6-v2, a language model
def test_tuned_embeddings_cache_equals_fresh(tuned, tmp_path):
    model, _, tokenizer = tuned
    data = emotion_text_data()
    label = add_tuned_text_features(data, model, tokenizer, "all-MiniLM-L6-v2", layer="fc1", max_length=16,
                                    device="cpu", cache_dir=tmp_path, progress=False)
    assert label.startswith("lora-") and len(list(tmp_path.glob("text_tiny_*.npz"))) == 2  # both layers cached
    assert data.feature_dims() == {"text": 32}
    fresh = embed_utterances(model, tokenizer, utterance_texts(data), max_length=16, progress=False)
    cached = np.concatenate([d.features["text"] for s in ("train", "dev", "test") for d in data.splits[s]])
    np.testing.assert_allclose(cached, fresh["fc1"], rtol=1e-5, atol=1e-6)
    again = emotion_text_data()   # read back from the cache
    add_tuned_text_features(again, model, tokenizer, "all-MiniLM-L6-v2", layer="fc1", max_length=16, device="cpu",
                            cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.splits["dev"][0].features["text"], data.splits["dev"][0].features["text"])
    pooled = emotion_text_data()
    add_tuned_text_features(pooled, model, tokenizer, "all-MiniLM-L6-v2", layer="pooled", max_length=16,
                            device="cpu", cache_dir=tmp_path, progress=False)
    assert pooled.feature_dims() == {"text": 384}
    with pytest.raises(ValueError, match="layer"):
        add_tuned_text_features(emotion_text_data(), model, tokenizer, "all-MiniLM-L6-v2", layer="fc2", cache_dir=tmp_path)


@pytest.mark.slow  # trains or runs all-MiniLM-L6-v2, a language model
def test_frozen_pooled_matches_sentence_transformers(tmp_path):
    """Frozen MiniLM mean pooling = the sentence-transformers embedding before its L2 norm."""
    data = emotion_text_data()
    add_frozen_text_features(data, "all-MiniLM-L6-v2", max_length=64, device="cpu", cache_dir=tmp_path, progress=False)
    texts = data.splits["train"][0].texts
    ours = data.splits["train"][0].features["text"]
    ref = encode_texts(texts, "all-MiniLM-L6-v2", device="cpu", progress=False)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999
    cached = emotion_text_data()
    add_frozen_text_features(cached, "all-MiniLM-L6-v2", max_length=64, device="cpu", cache_dir=tmp_path)
    np.testing.assert_array_equal(cached.splits["train"][0].features["text"], ours)


def test_finetune_rejects_data_without_texts():
    data = emotion_text_data()
    data.splits["test"][0].texts = [""] * 6
    with pytest.raises(DataError, match="transcripts"):
        utterance_splits(data, load_tokenizer("all-MiniLM-L6-v2"))
