"""How the trainer batches a dataset (erc_lib/batching.py): seeded length buckets hold every dialogue once per epoch
and cut padding, length-sorted evaluation with predictions back in dataset order, the plain loader at batch size one."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from erc_lib.batching import BucketBatchSampler, LengthSortedSampler, make_loader, padding_share
from erc_lib.bench import measure
from erc_lib.data import DialogueDataset
from erc_lib.models.sdt import build_sdt
from erc_lib.training import predict
from toy_models import spread_data


SKEWED = [2, 3, 2, 90, 4, 3, 80, 2, 5, 3, 100, 2, 3, 4, 70, 2, 3, 2, 60, 5, 4, 3, 2, 95]


def _epochs(sampler, n=3):
    return [list(sampler) for _ in range(n)]


def test_bucket_sampler_yields_every_index_once_per_epoch():
    sampler = BucketBatchSampler(SKEWED, batch_size=5, seed=0)
    for batches in _epochs(sampler):
        assert len(batches) == len(sampler) == math.ceil(len(SKEWED) / 5)
        assert sorted(i for b in batches for i in b) == list(range(len(SKEWED)))
        assert all(1 <= len(b) <= 5 for b in batches)


def test_bucket_sampler_is_seeded():
    a, b, other = (_epochs(BucketBatchSampler(SKEWED, 4, seed=s)) for s in (0, 0, 1))
    assert a == b
    assert a != other
    assert a[0] != a[1]  # a new order every epoch


def test_bucketing_reduces_padding_on_skewed_lengths():
    shuffled = make_loader(measure.LengthsOnly(SKEWED), 4, True, seed=0).batch_sampler
    bucketed = make_loader(measure.LengthsOnly(SKEWED), 4, True, seed=0, bucket_by_length=True).batch_sampler
    plain = np.mean([padding_share(SKEWED, list(shuffled)) for _ in range(5)])
    sorted_ = np.mean([padding_share(SKEWED, list(bucketed)) for _ in range(5)])
    assert sorted_ < plain / 2
    assert padding_share([3, 3], [[0, 1]]) == 0.0 and padding_share([1, 3], [[0, 1]]) == pytest.approx(1 / 3)


def test_eval_loader_sorts_by_length_and_predict_restores_dataset_order():
    data = spread_data()
    ds = DialogueDataset(data.splits["test"], ["text"])
    loader = make_loader(ds, 3, False, bucket_by_length=True)
    assert isinstance(loader.sampler, LengthSortedSampler)
    assert [len(ds.dialogues[i]) for i in loader.sampler.order] == sorted(len(d) for d in ds.dialogues)
    torch.manual_seed(0)
    model = build_sdt(data, "t", d_model=8, n_heads=2).eval()
    plain = predict(model, make_loader(ds, 3, False), torch.device("cpu"), keep=("gate",))
    bucketed = predict(model, loader, torch.device("cpu"), keep=("gate",))
    truth = np.concatenate([d.labels for d in data.splits["test"]])
    assert np.array_equal(bucketed["y_true"], truth) and np.array_equal(plain["y_true"], truth)
    assert np.allclose(bucketed["logits"], plain["logits"], atol=1e-5)  # padding never changes a prediction
    assert bucketed["gate"].shape == plain["gate"].shape


def test_batch_size_one_is_the_plain_loader():
    ds = DialogueDataset(spread_data().splits["train"], ["text"])
    a, b = make_loader(ds, 1, True, 3), make_loader(ds, 1, True, 3, bucket_by_length=True)
    assert [x.dialogue_ids for x in a] == [x.dialogue_ids for x in b]


def test_bucketing_needs_dialogues():
    with pytest.raises(ValueError, match="dialogues"):
        make_loader(torch.utils.data.TensorDataset(torch.zeros(4, 2)), 2, True, bucket_by_length=True)
