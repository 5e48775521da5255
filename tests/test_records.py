"""The dataset record (erc_lib/data/records.py): load-time checks, train-statistics standardising
and transcript repair."""
from __future__ import annotations

import numpy as np
import pytest

from data_files import toy_data
from erc_lib.data import DataError, Dialogue, clean_text, standardize_features


def test_validate_catches_bad_input():
    toy_data().validate()
    bad = toy_data(); bad.splits["dev"][0].features["text"][1, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        bad.validate()
    bad = toy_data(); bad.splits["test"][1].labels[0] = 5
    with pytest.raises(DataError, match="labels"):
        bad.validate()
    bad = toy_data(); bad.splits["train"][1].features["text"] = np.zeros((2, 5), np.float32)
    with pytest.raises(DataError, match="5-d, expected 4-d"):
        bad.validate()
    with pytest.raises(DataError, match="5-d, expected 4-d"):
        toy_data(dims={"text": 5}).validate({"text": 4})
    bad = toy_data(); bad.splits["train"][0] = Dialogue("e", [], [], np.zeros(0, np.int64))
    with pytest.raises(DataError, match="empty dialogue"):
        bad.validate()


def test_standardize_uses_train_statistics():
    data = standardize_features(toy_data((30, 20)))
    train = np.concatenate([d.features["text"] for d in data.splits["train"]])
    assert np.allclose(train.mean(0), 0, atol=1e-5) and np.allclose(train.std(0), 1, atol=1e-4)


def test_clean_text():
    assert clean_text("You must\u2019ve  had\x92s \u2026 it") == "You must've had's ... it"
    assert clean_text("I\u00e2\u0080\u0099m") == "I'm"
