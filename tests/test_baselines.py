"""The two baselines that open every table (erc_lib.models.baselines): one order of the modalities,
so the same settings on the same inputs give the same numbers whichever order a notebook names them in."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.data import MODALITIES, Dialogue, ERCData, canonical_modalities
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.baselines import build_bigru, build_logistic_regression
from erc_lib.training import TrainConfig


def two_modality_data() -> ERCData:
    """Six dialogues per split with random 3-d text and 2-d audio features whose sum decides the label."""
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 12), ("dev", 4), ("test", 6)):
        dialogues = []
        for i in range(n):
            text, audio = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
            labels = (text.sum(1) + audio.sum(1) > 0).astype(np.int64)
            dialogues.append(Dialogue(f"{split}{i}", ["A", "B"] * 2 + ["A"], ["u"] * 5, labels,
                                      {"text": text, "audio": audio}))
        splits[split] = dialogues
    return ERCData("toy", ["neg", "pos"], splits).validate()


def test_canonical_order_is_text_audio_visual_then_the_rest():
    assert MODALITIES == ("text", "audio", "visual")
    assert canonical_modalities(["visual", "audio", "text"]) == ["text", "audio", "visual"]
    assert canonical_modalities(["speech", "text"]) == ["text", "speech"]
    assert canonical_modalities(["audio"]) == ["audio"]


@pytest.mark.parametrize("build", [build_logistic_regression, build_bigru], ids=["logistic regression", "BiGRU"])
def test_a_baseline_gives_the_same_predictions_whatever_the_order_of_its_inputs(build):
    data = two_modality_data()
    config = TrainConfig(device="cpu", epochs=2, batch_size=4)
    runs = {}
    for order in (("text", "audio"), ("audio", "text")):
        spec = RunSpec("row", lambda order=order: build(data, list(order)), inputs=order)
        runs[order] = run_experiment(data, [spec], 2, config, progress=False, cache=False)
    a, b = (runs[o].predictions() for o in runs)
    assert a == b and len(a) == 2
