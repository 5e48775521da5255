"""EmoryNLP (Friends, 7 emotions) from CoMPM's tab-separated files."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .records import DataError, Dialogue, ERCData, clean_text, require_file

EMORYNLP_LABELS = ["Joyful", "Mad", "Neutral", "Peaceful", "Powerful", "Sad", "Scared"]


def read_tsv_dialogues(path: Path, label_names: list[str], split: str) -> list[Dialogue]:
    """Read CoMPM's text format: ``speaker<TAB>utterance<TAB>label`` lines, a blank line
    between dialogues. Raises :class:`DataError` on a malformed line or unknown label."""
    dialogues, current = [], []

    def flush():
        if current:
            dialogues.append(Dialogue(
                dialogue_id=f"{split}_{len(dialogues)}",
                speakers=[c[0] for c in current], texts=[c[1] for c in current],
                labels=np.array([c[2] for c in current], dtype=np.int64)))
            current.clear()

    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                flush()
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise DataError(f"{path}:{lineno}: expected 'speaker<TAB>utterance<TAB>label', got {line[:80]!r}")
            speaker, text, label = parts
            if label.strip() not in label_names:
                raise DataError(f"{path}:{lineno}: unknown label {label!r} (expected one of {label_names})")
            current.append((clean_text(speaker), clean_text(text), label_names.index(label.strip())))
    flush()
    return dialogues


def load_emorynlp(root: Path) -> ERCData:
    """EmoryNLP (Friends), 7 emotions, CoMPM's files: 713 / 99 / 85 scenes, 12606 utterances.

    Speakers are character names, so the same person is followed across scenes.
    """
    splits = {}
    for split, suffix in (("train", "train"), ("dev", "dev"), ("test", "test")):
        path = require_file(root / "emorynlp" / "compm" / f"EMORY_{suffix}.txt",
                        "CoMPM's EmoryNLP file (rungjoo/CoMPM, dataset/EMORY/)")
        splits[split] = read_tsv_dialogues(path, EMORYNLP_LABELS, split)
    return ERCData("emorynlp", EMORYNLP_LABELS, splits).validate()
