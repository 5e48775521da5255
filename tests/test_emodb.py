"""The Berlin EmoDB file list (erc_lib/data/emodb.py): the 535 files of the real folder and the errors
that name a missing folder, an empty one and a file name outside the scheme."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from erc_lib.data import DataError
from erc_lib.data.emodb import load_emodb
from erc_lib.paths import data_dir

EMODB = data_dir() / "emodb" / "wav"


@pytest.fixture(scope="module")
def emodb():
    if not EMODB.is_dir():
        pytest.skip(f"EmoDB not found under {EMODB} (set ERC_DATA_DIR)")
    return load_emodb()


def test_load_emodb_counts(emodb):
    assert len(emodb) == 535
    assert emodb.speaker.nunique() == 10
    counts = emodb.emotion.value_counts().to_dict()
    assert counts == {"anger": 127, "boredom": 81, "disgust": 46, "fear": 69, "happiness": 71,
                      "sadness": 62, "neutral": 79}
    row = emodb[emodb.path.str.endswith("03a01Wa.wav")].iloc[0]
    assert (row.speaker, row.text, row.emotion) == ("03", "a01", "anger")


def test_load_emodb_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_emodb(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no .wav"):
        load_emodb(tmp_path)
    sf.write(tmp_path / "hello.wav", np.zeros(100), 16000)
    with pytest.raises(DataError, match="hello.wav"):
        load_emodb(tmp_path)
