"""Dialogue batching: :class:`DialogueDataset` over one split and :func:`collate_dialogues`, which pads
a batch to ``(batch, max_len, dim)`` with an utterance mask (:class:`DialogueBatch`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from .records import DataError, Dialogue

@dataclass
class DialogueBatch:
    """A padded batch of dialogues.

    Attributes:
        features: modality -> ``(batch, max_len, dim)`` float32, zeros at padding.
        labels: ``(batch, max_len)`` int64, ``-100`` at padding.
        mask: ``(batch, max_len)`` bool, True at real utterances.
        speakers: ``(batch, max_len)`` int64 per-dialogue speaker index, 0 at padding.
        global_speakers: ``(batch, max_len)`` int64 dataset-wide speaker id (-1 if unknown).
        dialogue_ids: the ``batch`` dialogue ids.
        extra: modality-free per-utterance tensors added by features (e.g. ``"bios"``:
            ``(batch, max_len, d_desc)``).
        lengths: ``(batch,)`` int64 utterances per dialogue, always on the CPU (``to`` keeps
            it there), so packing a sequence or counting utterances never waits for the
            device; None (batches built by hand) -> derived from ``mask``.
    """

    features: dict[str, torch.Tensor]
    labels: torch.Tensor
    mask: torch.Tensor
    speakers: torch.Tensor
    global_speakers: torch.Tensor
    dialogue_ids: list[str]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    lengths: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "DialogueBatch":
        """The batch on ``device`` (``lengths`` stays on the CPU). ``non_blocking=True``
        copies asynchronously when the tensors are in pinned memory (:meth:`pin_memory`)."""
        move = lambda x: x.to(device, non_blocking=non_blocking)
        return DialogueBatch({k: move(v) for k, v in self.features.items()}, move(self.labels), move(self.mask),
                             move(self.speakers), move(self.global_speakers), self.dialogue_ids,
                             {k: move(v) for k, v in self.extra.items()}, self.cpu_lengths())

    def pin_memory(self) -> "DialogueBatch":
        """The batch in page-locked memory (called by ``DataLoader(pin_memory=True)``)."""
        pin = lambda x: x.pin_memory()
        return DialogueBatch({k: pin(v) for k, v in self.features.items()}, pin(self.labels), pin(self.mask),
                             pin(self.speakers), pin(self.global_speakers), self.dialogue_ids,
                             {k: pin(v) for k, v in self.extra.items()}, self.cpu_lengths())

    def cpu_lengths(self) -> torch.Tensor:
        """``(batch,)`` int64 utterances per dialogue on the CPU (no device sync when
        ``lengths`` is set, as :func:`collate_dialogues` does)."""
        return self.lengths if self.lengths is not None else self.mask.sum(1).cpu()

    @property
    def n_utterances(self) -> int:
        return int(self.cpu_lengths().sum())


class DialogueDataset(torch.utils.data.Dataset):
    """Torch dataset over dialogues of one split, exposing the chosen modalities.

    Args:
        dialogues: the split's dialogues.
        modalities: feature names to batch (each must be present in every dialogue).
        speaker_vocab: optional name -> global id map (from :meth:`ERCData.speaker_vocab`).
        extra: optional name -> function(dialogue) -> ``(n_utterances, dim)`` array, for
            per-utterance side inputs such as speaker-description embeddings.
    """

    def __init__(self, dialogues: list[Dialogue], modalities: Iterable[str],
                 speaker_vocab: dict[str, int] | None = None, extra: dict | None = None):
        self.dialogues = list(dialogues)
        self.modalities = list(modalities)
        self.speaker_vocab = speaker_vocab or {}
        self.extra = extra or {}
        for d in self.dialogues:
            missing = [m for m in self.modalities if m not in d.features]
            if missing:
                raise DataError(f"dialogue {d.dialogue_id!r} has no {missing} features; "
                                "for text-only datasets run erc_lib.features.text.add_text_features first")

    def __len__(self) -> int:
        return len(self.dialogues)

    def __getitem__(self, i: int) -> dict:
        d = self.dialogues[i]
        return {
            "id": d.dialogue_id,
            "features": {m: torch.from_numpy(np.ascontiguousarray(d.features[m], dtype=np.float32)) for m in self.modalities},
            "labels": torch.from_numpy(np.asarray(d.labels, dtype=np.int64)),
            "speakers": torch.from_numpy(d.speaker_index),
            "global_speakers": torch.tensor([self.speaker_vocab.get(s, -1) for s in d.speakers], dtype=torch.int64),
            "extra": {k: torch.as_tensor(np.asarray(fn(d), dtype=np.float32)) for k, fn in self.extra.items()},
        }


def collate_dialogues(items: list[dict]) -> DialogueBatch:
    """Pad a list of :meth:`DialogueDataset.__getitem__` items into a :class:`DialogueBatch`."""
    pad = lambda xs, value=0: pad_sequence(xs, batch_first=True, padding_value=value)
    labels = pad([it["labels"] for it in items], -100)
    lengths = torch.tensor([len(it["labels"]) for it in items], dtype=torch.int64)
    return DialogueBatch(
        features={m: pad([it["features"][m] for it in items]) for m in items[0]["features"]},
        labels=labels,
        mask=labels != -100,
        speakers=pad([it["speakers"] for it in items]),
        global_speakers=pad([it["global_speakers"] for it in items], -1),
        dialogue_ids=[it["id"] for it in items],
        extra={k: pad([it["extra"][k] for it in items]) for k in items[0]["extra"]},
        lengths=lengths,
    )
