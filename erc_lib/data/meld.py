"""MELD (7 emotions) from the official CSVs."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .records import SPLITS, DataError, Dialogue, ERCData, clean_text, require_file

MELD_LABELS = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]


def load_meld(root: Path) -> ERCData:
    """MELD, 7 emotions, from the official CSVs: 9989 / 1109 / 2610 utterances.

    Speakers are character names (dataset-wide identities). Dialogue ids are
    ``<split>_<Dialogue_ID>``; utterances are ordered by ``Utterance_ID``.
    """
    splits = {}
    for split in SPLITS:
        path = require_file(root / "meld" / "official" / f"{split}_sent_emo.csv",
                        "MELD's official CSV (declare-lab/MELD, data/MELD/)")
        rows: dict[int, list[tuple[int, str, str, str]]] = {}
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                emotion = row["Emotion"].strip().lower()
                if emotion not in MELD_LABELS:
                    raise DataError(f"{path}: unknown emotion {row['Emotion']!r} (expected one of {MELD_LABELS})")
                rows.setdefault(int(row["Dialogue_ID"]), []).append(
                    (int(row["Utterance_ID"]), clean_text(row["Speaker"]), clean_text(row["Utterance"]), emotion))
        dialogues = []
        for dia_id in sorted(rows):
            utts = sorted(rows[dia_id])
            dialogues.append(Dialogue(
                dialogue_id=f"{split}_{dia_id}",
                speakers=[u[1] for u in utts],
                texts=[u[2] for u in utts],
                labels=np.array([MELD_LABELS.index(u[3]) for u in utts], dtype=np.int64),
            ))
        splits[split] = dialogues
    return ERCData("meld", MELD_LABELS, splits).validate()
