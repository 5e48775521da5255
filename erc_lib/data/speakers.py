"""Who speaks when: per-dialogue and dataset-wide speaker identities, and the speaker
histories that EmoNet's speaker behaviour (and CoMPM's pre-trained memory) read.

All indices are *flat*: every utterance of the dataset numbered in file order (train, then dev,
then test; dialogues and utterances in order; :func:`utterance_offsets`). Histories hold only
such indices, never texts or labels, so no label can leak through them.

Sources: CoMPM (Lee & Lee, NAACL 2022, Sec. 3.2: the speaker's previous turns in the
dialogue); EmoNet thesis, Sec. 3.2.2.1-3.2.2.3 (global speaker identity and the speaker's last
N utterances across dialogues).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .records import SPLITS, ERCData

HISTORY_SCOPES = ("dialogue", "dataset")


def utterance_offsets(data: ERCData) -> dict[str, int]:
    """Dialogue id -> index of its first utterance in the dataset's *file order*: train,
    then dev, then test, dialogues and utterances in order. This flat numbering is what
    :func:`speaker_history` returns and what :func:`utterance_table` indexes."""
    offsets, n = {}, 0
    for split in SPLITS:
        for d in data.splits[split]:
            offsets[d.dialogue_id] = n
            n += len(d)
    return offsets


def utterance_table(data: ERCData, modality: str | None = None):
    """All utterances in file order (see :func:`utterance_offsets`).

    Returns the list of texts when ``modality`` is None, else the ``(n_total, dim)`` float32
    matrix of that modality's features. Raises KeyError when a dialogue lacks the modality.
    """
    dialogues = [d for split in SPLITS for d in data.splits[split]]
    if modality is None:
        return [t for d in dialogues for t in d.texts]
    return np.concatenate([d.features[modality] for d in dialogues]).astype(np.float32)


def speaker_tags(data: ERCData, global_ids: bool) -> tuple[dict[str, np.ndarray], int]:
    """Speaker tag of every utterance: the per-dialogue index (CoMPM) or the dataset-wide id
    (EmoNet's global speaker identity, thesis 3.2.2.1).

    Global ids come from :meth:`ERCData.speaker_vocab`, built over train, dev and test in
    file order, as EmoNet's persisted ``speaker_list``: the same name gets the same id in
    every split.

    Returns:
        ``({dialogue_id: (n_utterances,) int64}, n_tags)`` where ``n_tags`` is the number of
        distinct tag values (embedding size).
    """
    if global_ids:
        vocab = data.speaker_vocab()
        tags = {d.dialogue_id: np.array([vocab[s] for s in d.speakers], dtype=np.int64)
                for split in SPLITS for d in data.splits[split]}
        return tags, len(vocab)
    tags = {d.dialogue_id: d.speaker_index for split in SPLITS for d in data.splits[split]}
    return tags, data.max_speakers_per_dialogue()


def speaker_history(data: ERCData, scope: str = "dataset", window: int | None = 11) -> dict[str, list[list[int]]]:
    """Which earlier utterances the PM reads for every utterance (flat indices, oldest first).

    ``scope="dialogue"`` (CoMPM): the current speaker's previous utterances in the current
    dialogue (the last ``window`` of them; ``None`` = all).

    ``scope="dataset"`` (EmoNet's speaker behaviour, thesis 3.2.2.2-3.2.2.3): the current
    speaker's last ``window`` utterances across dialogues, keyed by speaker *name*, in file
    order. Train is read first; dev and test each start from the history at the end of
    train (EmoNet's ``uttr_history.json``) and carry on in their own file order, so dev
    never sees test and test never sees dev.

    Only indices are returned, never texts or labels: the history cannot leak a label, and
    it never contains the current or a later utterance (the current utterance is added to
    the speaker's queue only after its own history was read).

    Args:
        data: the dataset.
        scope: ``"dialogue"`` or ``"dataset"``.
        window: sliding-window size N (EmoNet: 11 past utterances), or None for no limit.
    Returns:
        ``{dialogue_id: [history of utterance 0, history of utterance 1, ...]}``, each
        history a list of flat utterance indices (:func:`utterance_offsets`).
    Raises:
        ValueError: unknown scope or a window < 1.
    """
    if scope not in HISTORY_SCOPES:
        raise ValueError(f"unknown history scope {scope!r}; expected one of {HISTORY_SCOPES}")
    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1 or None, got {window}")
    offsets = utterance_offsets(data)
    history: dict[str, list[list[int]]] = {}
    end_of_train: dict[str, deque] = {}
    for split in SPLITS:
        if scope == "dataset":
            queues = {s: deque(q, maxlen=window) for s, q in end_of_train.items()}
        for d in data.splits[split]:
            if scope == "dialogue":
                queues = {}
            rows = []
            for j, speaker in enumerate(d.speakers):
                queue = queues.setdefault(speaker, deque(maxlen=window))
                rows.append(list(queue))
                queue.append(offsets[d.dialogue_id] + j)
            history[d.dialogue_id] = rows
        if split == "train" and scope == "dataset":
            end_of_train = queues
    return history
