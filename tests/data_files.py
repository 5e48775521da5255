"""Constructed datasets and data files shared by the data-layer tests (tests/test_records.py,
test_batches.py, the per-corpus loader tests and the SDT notebook's smoke run), and the helpers that read a known row back."""
from __future__ import annotations

import csv
import json
import pickle

import numpy as np

from erc_lib.data import Dialogue, ERCData


def split_counts(data):
    """``{split: (dialogues, utterances)}`` of ``data``."""
    return {s: (v["dialogues"], v["utterances"]) for s, v in data.summary().items()}


# ----------------------------------------------------------------------------- known rows, read by hand
# Each loader is pinned on the first, a middle and the last utterance of a named dialogue: text,
# speaker, label and (where the dataset has them) feature values, all read by hand from the raw
# files under ERC_DATA_DIR (the source files named in shared data's README). A loader that reverses,
# shifts or re-sorts utterances within a dialogue, swaps splits or mislabels puts a different row here.


def utterance_row(dialogue, i):
    """``(speaker, text, label)`` of utterance ``i`` of ``dialogue``."""
    return dialogue.speakers[i], dialogue.texts[i], int(dialogue.labels[i])


def find_dialogue(data, split, dialogue_id):
    """The one dialogue of ``split`` with id ``dialogue_id`` (fails if not exactly once)."""
    found = [d for d in data.splits[split] if d.dialogue_id == dialogue_id]
    assert len(found) == 1, f"{dialogue_id} not once in {split}"
    return found[0]


def toy_data(n_per_dialogue=(3, 2), dims=None, **kw) -> ERCData:
    """A small constructed dataset: dialogues of ``n_per_dialogue`` utterances in every split,
    random features of ``dims``."""
    dims = dims or {"text": 4}
    rng = np.random.default_rng(0)
    def dia(i, n):
        return Dialogue(f"d{i}", ["A", "B", "A", "C"][:n], ["x"] * n, np.arange(n) % 2,
                        {m: rng.normal(size=(n, k)).astype(np.float32) for m, k in dims.items()})
    splits = {s: [dia(f"{s}{i}", n) for i, n in enumerate(n_per_dialogue)] for s in ("train", "dev", "test")}
    return ERCData("toy", ["neg", "pos"], splits, **kw)


# ----------------------------------------------------------------------------- constructed MOSI files
# A tiny MOSI folder in the formats of shared data's README: the bc-LSTM pickle (7-tuple, padded
# videos), the label-sorted bc-LSTM CSVs (features, then the label), transcripts.csv (``video_k,
# transcript, segment, label``, rows in any order) and the SDK folds JSON. Utterance ``u`` of pickle
# video ``i`` in split ``s`` has the code ``c = 100 * (s == "test") + 10 * i + u + 1``: audio
# ``c + d / 1000`` in dimension ``d``, text ``1000 + c``, video ``2000 + c``.
MOSI_TOY = {"train": [[1, 0, 1], [0, 0], [1, 1]], "test": [[1, 1, 0, 0]]}
MOSI_NAMES = {("train", 0): "vidA", ("train", 1): "vidB", ("train", 2): "vidC", ("test", 0): "vidD"}


def mosi_code(split, i, u):
    """The code of utterance ``u`` of pickle video ``i`` in ``split`` (see above)."""
    return 100 * (split == "test") + 10 * i + u + 1


def write_mosi_toy(root, audio_dim=73, folds=None, transcript_rows=None, nan_at=None, text_dim=100, video_dim=100,
                   drop_text_row=False, flip_video_label=False):
    """Write the constructed MOSI folder under ``root`` (optionally damaged as the keyword
    arguments say); returns ``root``."""
    base = root / "mosi" / "bclstm"
    base.mkdir(parents=True, exist_ok=True)
    parts = []
    for split, videos in MOSI_TOY.items():
        audio = np.zeros((len(videos), 4, audio_dim))
        labels = np.zeros((len(videos), 4))
        flat = []
        for i, ls in enumerate(videos):
            for u, y in enumerate(ls):
                c = mosi_code(split, i, u)
                audio[i, u] = c + np.arange(audio_dim) / 1000
                labels[i, u] = y
                flat.append((c, y))
        if nan_at and nan_at[0] == split:
            audio[nan_at[1], nan_at[2], 5] = np.nan
        parts += [audio, labels]
        order = sorted(flat, key=lambda cy: -cy[1])  # label-sorted, positives first, like the real CSVs
        for m, dim, offset in (("audio", audio_dim, 0), ("text", text_dim, 1000), ("video", video_dim, 2000)):
            with open(base / f"{m}_{split}.csv", "w", newline="") as f:
                w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
                rows = order[:-1] if (drop_text_row and m == "text" and split == "train") else order
                for j, (c, y) in enumerate(rows):
                    x = c + np.arange(dim) / 1000 if m == "audio" else np.full(dim, offset + c, dtype=float)
                    if flip_video_label and m == "video" and split == "test" and j == 0:
                        y = 1 - y
                    w.writerow([*x.tolist(), float(y)])
    train_a, train_l, test_a, test_l = parts
    pickled = (train_a, train_l, test_a, test_l, 4, np.array([3, 2, 2]), np.array([4]))
    with open(base / "audio_2way.pickle", "wb") as f:
        pickle.dump(pickled, f, protocol=2)
    if transcript_rows is None:
        transcript_rows = []
        for (split, i), name in MOSI_NAMES.items():
            for u, y in enumerate(MOSI_TOY[split][i]):
                transcript_rows.append([f"{name}_{u + 1}", f"  {name}  SAYS {u + 1}", "7", str(y)])
        transcript_rows = transcript_rows[::-1]  # any row order
    with open(base / "transcripts.csv", "w", newline="") as f:
        csv.writer(f).writerows(transcript_rows)
    folds = folds or {"train": ["vidA", "vidC"], "valid": ["vidB"], "test": ["vidD"]}
    (root / "mosi" / "cmu_mosi_standard_folds.json").write_text(json.dumps(folds))
    return root


# ----------------------------------------------------------------------------- constructed SDT pickles
def write_sdt_pickle(path, kind: str, n_train=10, n_test=3, text_dim=1024, audio_dim=None):
    """A small file in exactly the SDT authors' format (see shared/data/README.md)."""
    rng = np.random.default_rng(1)
    audio_dim = audio_dim or (1582 if kind == "iemocap" else 300)
    ids = [f"Ses0{1 + i % 5}F_impro0{i}" if kind == "iemocap" else i for i in range(n_train + n_test)]
    lens = {v: 2 + i % 4 for i, v in enumerate(ids)}
    if kind == "iemocap":
        speakers = {v: ["M", "F"] * 3 for v in ids}
    else:
        speakers = {v: [list(np.eye(9)[j % 3]) for j in range(6)] for v in ids}
    speakers = {v: s[: lens[v]] for v, s in speakers.items()}
    labels = {v: list(rng.integers(0, 6, lens[v])) for v in ids}
    feats = lambda d: {v: [list(r) for r in rng.normal(size=(lens[v], d))] for v in ids}
    text = feats(text_dim)
    fields = [ids, speakers, labels, text, text, text, text, feats(audio_dim), feats(342),
              {v: [f"utt {j}" for j in range(lens[v])] for v in ids}, ids[:n_train], ids[n_train:]]
    if kind == "meld":
        fields.append(None)
    with open(path, "wb") as f:
        pickle.dump(tuple(fields), f, protocol=2)
