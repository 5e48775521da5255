"""The benchmark's data: IEMOCAP-shaped dialogues with random features, length-spread subsets,
fixed-length dialogues and random speaker bios."""
from __future__ import annotations

import zlib

import numpy as np

from ..data import DataError, Dialogue, ERCData, load_dataset

#: Random feature widths: all-MiniLM-L6-v2 text vectors, openSMILE IS10 audio (the SDT authors' IEMOCAP audio).
FEATURE_DIMS = {"text": 384, "audio": 1582}
BIOS_DIM = 384


def with_random_features(data: ERCData, dims: dict[str, int] | None = None, seed: int = 0) -> ERCData:
    """A copy of ``data`` whose dialogues carry standard-normal float32 features of ``dims``
    (default :data:`FEATURE_DIMS`); ids, speakers, texts and labels are kept."""
    rng = np.random.default_rng(seed)
    dims = dims or FEATURE_DIMS
    splits = {s: [Dialogue(d.dialogue_id, d.speakers, d.texts, d.labels,
                           {m: rng.standard_normal((len(d), k), dtype=np.float32) for m, k in dims.items()})
                  for d in ds] for s, ds in data.splits.items()}
    return ERCData(data.name, data.label_names, splits, data.notes)


def iemocap_shaped(dims: dict[str, int] | None = None, seed: int = 0) -> tuple[ERCData, str]:
    """IEMOCAP's dialogues with random features (:func:`with_random_features`) and a note
    saying where the lengths came from.

    Without the IEMOCAP file, synthetic dialogues of IEMOCAP's split sizes with lengths drawn
    uniformly from IEMOCAP's range (8-110) and M/F speakers stand in (the note says so).
    """
    try:
        return with_random_features(load_dataset("iemocap"), dims, seed), "real IEMOCAP dialogues (lengths, speakers, labels)"
    except DataError:
        rng = np.random.default_rng(seed)
        counts = {"train": 108, "dev": 12, "test": 31}
        splits = {s: [_synthetic_dialogue(f"{s}{i}", int(rng.integers(8, 111)), 6, session=i % 5 + 1)
                      for i in range(n)] for s, n in counts.items()}
        data = ERCData("iemocap", ["happy", "sad", "neutral", "angry", "excited", "frustrated"], splits)
        return with_random_features(data, dims, seed), "synthetic lengths 8-110 (IEMOCAP file not found)"


def _synthetic_dialogue(dialogue_id: str, length: int, n_classes: int, session: int = 1) -> Dialogue:
    """A dialogue of ``length`` utterances: alternating IEMOCAP-style speakers (``Ses0k_M`` /
    ``Ses0k_F``), every class in turn as labels, a placeholder text."""
    speakers = [f"Ses0{session}_{'MF'[i % 2]}" for i in range(length)]
    return Dialogue(dialogue_id, speakers, ["hello"] * length, np.arange(length, dtype=np.int64) % n_classes)


def sample_dialogues(data: ERCData, n_train: int | None, n_eval: int = 2) -> ERCData:
    """``data`` with ``n_train`` training dialogues spread evenly over the sorted training
    lengths (so a subset keeps the length distribution; None: all) and the first ``n_eval``
    dev and test dialogues (evaluation is not what is timed)."""
    train = data.splits["train"]
    if n_train and n_train < len(train):
        by_length = np.argsort([len(d) for d in train], kind="stable")
        picked = sorted(by_length[np.linspace(0, len(train) - 1, n_train).round().astype(int)].tolist())
        train = [train[i] for i in picked]
    splits = {"train": list(train), "dev": data.splits["dev"][:n_eval], "test": data.splits["test"][:n_eval]}
    return ERCData(data.name, data.label_names, splits, data.notes)


def fixed_length_data(base: ERCData, length: int, n_train: int) -> ERCData:
    """``n_train`` training dialogues (and one dev, one test) of exactly ``length`` utterances
    with ``base``'s name, classes and random features of ``base``'s widths."""
    C = len(base.label_names)
    splits = {"train": [_synthetic_dialogue(f"train{i}", length, C, i % 5 + 1) for i in range(n_train)],
              "dev": [_synthetic_dialogue("dev0", length, C)], "test": [_synthetic_dialogue("test0", length, C)]}
    return with_random_features(ERCData(base.name, base.label_names, splits), base.feature_dims())


def random_bios(dim: int = BIOS_DIM) -> dict:
    """``RunSpec.extra`` for SDT + bios: a fixed random ``(n, dim)`` vector per dialogue
    (seeded by its id), standing in for the speaker-description embeddings."""
    def bios(dialogue: Dialogue) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(dialogue.dialogue_id.encode()))
        return rng.standard_normal((len(dialogue), dim), dtype=np.float32)
    return {"bios": bios}
