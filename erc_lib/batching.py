"""How the trainer batches a dataset: seeded length buckets for training (:class:`BucketBatchSampler`),
length-sorted evaluation (:class:`LengthSortedSampler`), the padding they save (:func:`padding_share`)
and the one loader constructor (:func:`make_loader`)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Sampler

from .data import collate_dialogues

#: Relative jitter of the lengths before sorting (AllenNLP's ``padding_noise``): batches of
#: similar, not identical, lengths, so their composition changes from epoch to epoch. On
#: IEMOCAP's training lengths it cuts the padding share of batches of 16 from ~38 % to ~14 %.
BUCKET_NOISE = 0.1


def dataset_lengths(dataset) -> list[int]:
    """The length of every item of ``dataset``, what batches are bucketed by: the dataset's own
    ``item_lengths()`` when it has one (e.g. tokens per utterance,
    :class:`erc_lib.features.lora.UtteranceTokens`), else ``len(d)`` for every entry of
    ``dataset.dialogues`` (:class:`erc_lib.data.DialogueDataset`,
    :class:`erc_lib.models.compm_encoder.CoMPMDataset`).

    Raises:
        ValueError: the dataset has neither, so it cannot be batched by length.
    """
    if hasattr(dataset, "item_lengths"):
        return list(dataset.item_lengths())
    dialogues = getattr(dataset, "dialogues", None)
    if dialogues is None:
        raise ValueError(f"bucket_by_length needs a dataset of dialogues (with a .dialogues list) or an "
                         f"item_lengths() method; {type(dataset).__name__} has neither: "
                         "set TrainConfig(bucket_by_length=False)")
    return [len(d) for d in dialogues]


class BucketBatchSampler(Sampler[list[int]]):
    """Training batches of dialogues of similar length, in a seeded random order.

    Every epoch (every ``iter``): each length is jittered by a factor drawn uniformly from
    ``[1 - noise, 1 + noise]``, the dialogues are sorted by jittered length (stable), cut into
    consecutive batches of ``batch_size`` (``torch.utils.data.BatchSampler``; the last may be
    smaller) and the batches are shuffled. Every index appears exactly once per epoch; the
    draws come from one generator seeded with ``seed``, so the same seed gives the same
    sequence of epochs.

    Args:
        lengths: utterances per dialogue, ``(n,)``.
        batch_size: dialogues per batch (>= 1).
        seed: seed of the generator.
        noise: relative length jitter (0: fully sorted; :data:`BUCKET_NOISE`).

    Raises:
        ValueError: ``batch_size < 1``, ``noise`` outside ``[0, 1)`` or no lengths.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, noise: float = BUCKET_NOISE):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= noise < 1:
            raise ValueError(f"noise must be in [0, 1), got {noise}")
        if len(lengths) == 0:
            raise ValueError("BucketBatchSampler needs at least one length")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.float64)
        self.batch_size, self.noise = int(batch_size), float(noise)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        return iter(self.epoch())

    def epoch(self) -> list[list[int]]:
        """The next epoch's batches (advances the generator, like iterating)."""
        jitter = 1.0 + self.noise * (2.0 * torch.rand(len(self.lengths), generator=self.generator,
                                                      dtype=torch.float64) - 1.0)
        order = torch.argsort(self.lengths * jitter, stable=True).tolist()
        batches = list(BatchSampler(order, self.batch_size, drop_last=False))
        return [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]


class LengthSortedSampler(Sampler[int]):
    """Indices sorted by length (stable: ties keep dataset order), for evaluation batches.

    ``order`` is that permutation; :func:`erc_lib.training.predict` uses it to return dataset order.
    """

    def __init__(self, lengths: Sequence[int]):
        self.order: list[int] = np.argsort(np.asarray(lengths), kind="stable").tolist()

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        return iter(self.order)


def padding_share(lengths: Sequence[int], batches) -> float:
    """Padded positions / all positions when ``batches`` (lists of indices into ``lengths``)
    are padded to their longest dialogue: 0 = no padding."""
    lengths = np.asarray(lengths)
    total = sum(len(b) * int(lengths[list(b)].max()) for b in batches)
    return 1.0 - float(sum(int(lengths[list(b)].sum()) for b in batches)) / max(total, 1)


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int = 0, collate_fn=collate_dialogues,
                bucket_by_length: bool = False, pin_memory: bool = False) -> DataLoader:
    """A single-process DataLoader over ``dataset``.

    Args:
        dataset: a torch dataset (with ``dialogues`` when ``bucket_by_length``).
        batch_size: items per batch.
        shuffle: training order: a seeded shuffle (``bucket_by_length=False``) or seeded
            length buckets (:class:`BucketBatchSampler`); False keeps dataset order, or sorts
            by length with ``bucket_by_length`` (:class:`LengthSortedSampler`).
        seed: seed of the shuffling generator.
        collate_fn: batches items.
        bucket_by_length: batch dialogues of similar length. With ``batch_size=1`` there is
            no padding to save and the plain loader is used, so batch-size-1 recipes (CoMPM
            fine-tuning) give the same numbers with and without bucketing.
        pin_memory: return batches in pinned memory (for non-blocking copies to CUDA).

    Raises:
        ValueError: ``bucket_by_length`` on a dataset without dialogues (:func:`dataset_lengths`).
    """
    # Every loader gets its own seeded generator: DataLoader draws a base seed from it each epoch,
    # which would otherwise come from (and shift) the global RNG that dropout uses.
    generator = torch.Generator().manual_seed(seed)
    if not bucket_by_length or batch_size == 1:  # one dialogue per batch: nothing to pad, plain order
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_fn,
                          generator=generator, pin_memory=pin_memory)
    lengths = dataset_lengths(dataset)
    if shuffle:
        return DataLoader(dataset, batch_sampler=BucketBatchSampler(lengths, batch_size, seed),
                          collate_fn=collate_fn, generator=generator, pin_memory=pin_memory)
    return DataLoader(dataset, batch_size=batch_size, sampler=LengthSortedSampler(lengths), collate_fn=collate_fn,
                      generator=generator, pin_memory=pin_memory)
