"""IEMOCAP (6 classes) from COSMIC's pickle."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .records import Dialogue, ERCData, clean_text, require_file
from .safe_pickle import load_pickle

IEMOCAP_LABELS = ["happy", "sad", "neutral", "angry", "excited", "frustrated"]


def load_iemocap(root: Path, trust_pickle: bool | None = None) -> ERCData:
    """IEMOCAP, 6 classes, from COSMIC's pickle: 108 / 12 / 31 dialogues, 7433 utterances.

    Speakers are named ``Ses0k_M`` / ``Ses0k_F`` (the actor of that session and gender), so
    dataset-wide ids are real identities; sessions 1-4 are train/dev, session 5 test.
    """
    path = require_file(root / "iemocap" / "cosmic" / "iemocap.pkl",
                    "COSMIC's IEMOCAP pickle (declare-lab/conv-emotion, COSMIC/feature-extraction/iemocap/)")
    speakers, labels, sentences, train_ids, test_ids, valid_ids = load_pickle(path, trust_pickle)
    splits = {}
    for split, ids in (("train", train_ids), ("dev", valid_ids), ("test", test_ids)):
        splits[split] = [
            Dialogue(
                dialogue_id=vid,
                speakers=[f"{vid[:5]}_{s}" for s in speakers[vid]],
                texts=[clean_text(t) for t in sentences[vid]],
                labels=np.asarray(labels[vid], dtype=np.int64),
            )
            for vid in ids
        ]
    return ERCData("iemocap", IEMOCAP_LABELS, splits).validate()
