"""Dialogue batching (erc_lib/data/batches.py): padding, masks and the features a batch needs."""
from __future__ import annotations

import pytest
import torch

from data_files import toy_data
from erc_lib.data import DataError, DialogueDataset, collate_dialogues


def test_collate_pads_and_masks():
    data = toy_data((3, 1))
    ds = DialogueDataset(data.splits["train"], ["text"], data.speaker_vocab())
    batch = collate_dialogues([ds[0], ds[1]])
    assert batch.features["text"].shape == (2, 3, 4)
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.labels[1, 1:].tolist() == [-100, -100]
    assert batch.global_speakers[0].tolist() == [0, 1, 0] and batch.global_speakers[1, 1:].tolist() == [-1, -1]
    assert torch.all(batch.features["text"][1, 1:] == 0)
    assert batch.n_utterances == 4


def test_dataset_requires_features():
    data = toy_data()
    with pytest.raises(DataError, match="add_text_features"):
        DialogueDataset(data.splits["train"], ["audio"])
