"""The leave-one-speaker-out audio classifier of notebook 02's study (erc_lib/studies/audio.py)."""
from __future__ import annotations

import numpy as np

from erc_lib.studies.audio import speaker_cv


def test_speaker_cv_leaves_speakers_out():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 40)
    X = rng.normal(size=(120, 5))
    X[:, 0] += 3 * (y == "a")
    X[:, 1] += 3 * (y == "b")
    speakers = np.tile(np.arange(6), 20).astype(str)
    cv = speaker_cv(X, y, speakers, ["a", "b", "c"], C_grid=(0.1, 1.0), progress=False)
    assert sorted(cv["folds"].speaker) == sorted(set(speakers))
    assert np.asarray(cv["confusion"]).sum() == 120
    assert cv["weighted_f1"] > 80  # separable classes
    # labels carry no signal -> near chance
    cv0 = speaker_cv(rng.normal(size=(120, 5)), rng.permutation(y), speakers, ["a", "b", "c"], C_grid=(1.0,),
                    progress=False)
    assert cv0["weighted_f1"] < 60
