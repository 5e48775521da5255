"""The Berlin EmoDB speech files (the speech notebook 02 compares openSMILE feature sets on): the
file list with speaker, text and emotion read from each file name."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..paths import data_dir
from .records import DataError

EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                  "T": "sadness", "N": "neutral"}
"""EmoDB emotion letter (6th character of the file name) -> emotion."""


def load_emodb(root: str | Path | None = None) -> pd.DataFrame:
    """The Berlin EmoDB files as a DataFrame with columns ``path``, ``speaker``, ``text``,
    ``emotion`` (English name), ``letter``, sorted by file name.

    File names are ``SSTTTEV.wav``: speaker ``SS``, text code ``TTT``, emotion letter ``E``
    (see :data:`EMODB_EMOTIONS`), version ``V``.

    Args:
        root: the folder with the wav files (default ``data_dir()/emodb/wav``); a folder
            holding a ``wav/`` sub-folder works too.

    Raises:
        DataError: missing folder, no wav files, or a file name that does not follow the scheme.
    """
    folder = Path(root) if root is not None else data_dir() / "emodb" / "wav"
    if (folder / "wav").is_dir():
        folder = folder / "wav"
    if not folder.is_dir():
        raise DataError(f"EmoDB folder {folder} not found (expected <ERC_DATA_DIR>/emodb/wav/*.wav; set ERC_DATA_DIR)")
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise DataError(f"no .wav files in EmoDB folder {folder}")
    rows = []
    for f in files:
        stem = f.stem
        if len(stem) < 7 or stem[5] not in EMODB_EMOTIONS or not stem[:2].isdigit():
            raise DataError(f"{f}: not an EmoDB file name (SSTTTEV.wav with emotion letter in {sorted(EMODB_EMOTIONS)})")
        rows.append({"path": str(f), "speaker": stem[:2], "text": stem[2:5], "emotion": EMODB_EMOTIONS[stem[5]],
                     "letter": stem[5]})
    return pd.DataFrame(rows)
