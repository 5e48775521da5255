"""The two baselines that open every table (erc_lib.models.baselines): one order of the modalities,
so the same settings on the same inputs give the same numbers whichever order a notebook names them in."""
from __future__ import annotations

import pytest

from erc_lib.data import MODALITIES, canonical_modalities
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.baselines import build_bigru, build_logistic_regression
from erc_lib.training import TrainConfig
from toy_data import two_modality_data


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
