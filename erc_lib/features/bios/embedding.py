"""``h_desc``: the sentence-encoder embedding of each speaker description (:func:`encode_descriptions`),
and :func:`bios_extra`, the per-utterance ``extra={"bios": fn}`` input SDT's speaker embedding reads."""
from __future__ import annotations

import numpy as np

from ...data import DataError, Dialogue
from ..text import encode_texts

# ----------------------------------------------------------------------------- h_desc
def encode_descriptions(descriptions: dict[tuple[str, str], str], encoder: str = "all-MiniLM-L6-v2",
                        device: str = "auto", unusable: list | None = None, standardize_on: set | None = None,
                        progress: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """``h_desc`` per (dialogue, speaker): sentence-encoder embedding of its description,
    ``(dim,)`` float32 (384 for MiniLM).

    Args:
        descriptions: ``{(dialogue_id, speaker): text}``.
        encoder: sentence encoder (the seed uses RoBERTa; MiniLM is the offline default).
        unusable: the report's ``problems``; those pairs get a zero vector (set after
            standardising), so SDT's speaker embedding is just ``V_s(s)`` there.
        standardize_on: pairs (e.g. the training split's) whose per-dimension mean and std
            z-score every vector (MiniLM vectors have unit norm, i.e. tiny components next to
            a speaker embedding); None keeps the raw embeddings.
    """
    keys = list(descriptions)
    emb = encode_texts([descriptions[k] or "." for k in keys], encoder, device=device, progress=progress)
    if standardize_on is not None:
        ref = emb[[i for i, k in enumerate(keys) if k in standardize_on]]
        if len(ref) < 2:
            raise ValueError("standardize_on must name at least two described pairs")
        std = ref.std(0)
        emb = ((emb - ref.mean(0)) / np.where(std < 1e-8, 1.0, std)).astype(np.float32)
    table = {k: e for k, e in zip(keys, emb)}
    for p in unusable or []:
        table[(p["dialogue_id"], p["speaker"])] = np.zeros(emb.shape[1], dtype=np.float32)
    return table


def bios_extra(table: dict[tuple[str, str], np.ndarray]):
    """``fn(dialogue) -> (n_utterances, bios_dim)``: each utterance gets the ``h_desc`` of
    its speaker in that dialogue; use as ``extra={"bios": fn}`` with SDT(``bios_dim``).

    Raises :class:`erc_lib.data.DataError` for a (dialogue, speaker) pair without a description."""
    def fn(dialogue: Dialogue) -> np.ndarray:
        try:
            return np.stack([table[(dialogue.dialogue_id, s)] for s in dialogue.speakers])
        except KeyError as e:
            raise DataError(f"no speaker description for {e.args[0]}; run generate_descriptions on this data") from None
    return fn
