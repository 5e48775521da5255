"""Toy data shared by the tests: constructed ``ERCData`` datasets and dialogue batches, each builder named by
what it builds. Tests hold hand-computed expectations on these values: change a builder only with them."""
from __future__ import annotations

import numpy as np
import torch

from erc_lib.data import Dialogue, DialogueBatch, DialogueDataset, ERCData, collate_dialogues


# ----------------------------------------------------------------------------- padded random batches
D_SPEECH, D_TEXT, C = 7, 5, 3


def random_dialogue_batch(lengths, seed=0, n_classes=C) -> DialogueBatch:
    """A padded batch of ``len(lengths)`` dialogues of the given lengths: random ``audio`` (``D_SPEECH``) and
    ``text`` (``D_TEXT``) features and random labels in ``range(n_classes)``, zeros / -100 at padding,
    every speaker 0 (MiSTER-E's and the losses' tests)."""
    g = torch.Generator().manual_seed(seed)
    B, L = len(lengths), max(lengths)
    mask = torch.arange(L).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    labels = torch.randint(0, n_classes, (B, L), generator=g).masked_fill(~mask, -100)
    feats = {"audio": torch.randn(B, L, D_SPEECH, generator=g) * mask.unsqueeze(-1),
             "text": torch.randn(B, L, D_TEXT, generator=g) * mask.unsqueeze(-1)}
    zeros = torch.zeros(B, L, dtype=torch.long)
    return DialogueBatch(feats, labels, mask, zeros, zeros - 1, [f"d{i}" for i in range(B)])


# ----------------------------------------------------------------------------- datasets with features
THREE_MODALITY_DIMS = {"text": 6, "audio": 5, "visual": 4}


def growing_three_modality_data(n=(3, 2, 2), n_classes=3, seed=0) -> ERCData:
    """``n`` dialogues per split, dialogue ``i`` of ``3 + i`` utterances (speakers A, B, A, ...), labels
    ``0, 1, 2, ...`` in turn, random text/audio/visual features (``THREE_MODALITY_DIMS``); the first train
    dialogue relabelled ``0, 0, 1`` so the train class counts are unequal (2, 3, 2). The ablations' data."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in zip(("train", "dev", "test"), n):
        ds = []
        for i in range(count):
            length = 3 + i
            labels = np.arange(length) % n_classes
            ds.append(Dialogue(f"{split}{i}", ["A", "B"] * 3 + ["A"], ["u"] * length, labels,
                               {m: rng.normal(size=(length, k)).astype(np.float32) for m, k in THREE_MODALITY_DIMS.items()}))
            ds[-1].speakers = ds[-1].speakers[:length]
        splits[split] = ds
    splits["train"][0].labels = np.array([0, 0, 1], dtype=np.int64)  # unequal class counts: 2, 3, 2
    return ERCData("toy", [f"c{k}" for k in range(n_classes)], splits).validate()


def three_speaker_three_modality_data(n_dialogues=6, seed=0) -> ERCData:
    """``n_dialogues`` dialogues per split of 3 to 9 utterances, speakers A, B, C in turn, random labels and
    random text/audio/visual features (``THREE_MODALITY_DIMS``) shifted by half the label. SDT's toy data."""
    rng = np.random.default_rng(seed)
    def dia(name, n):
        labels = rng.integers(0, 3, n)
        feats = {m: (rng.normal(size=(n, k)) + labels[:, None] * 0.5).astype(np.float32) for m, k in THREE_MODALITY_DIMS.items()}
        return Dialogue(name, [["A", "B", "C"][i % 3] for i in range(n)], ["u"] * n, labels, feats)
    splits = {s: [dia(f"{s}{i}", 3 + (i * 5) % 7) for i in range(n_dialogues)] for s in ("train", "dev", "test")}
    return ERCData("toy", ["x", "y", "z"], splits).validate()


def iemocap_session_speakers_data() -> ERCData:
    """A dataset named ``iemocap`` whose speakers are IEMOCAP's ``Ses0N_F`` / ``Ses0N_M`` (one or two dialogues per
    split), random labels and 6-d text features: SDT's fixed M/F speaker roles."""
    rng = np.random.default_rng(0)
    def dia(name, speakers):
        n = len(speakers)
        return Dialogue(name, speakers, ["u"] * n, rng.integers(0, 3, n),
                        {"text": rng.normal(size=(n, THREE_MODALITY_DIMS["text"])).astype(np.float32)})
    splits = {"train": [dia("Ses01F_a", ["Ses01_F", "Ses01_M", "Ses01_F"]), dia("Ses01M_b", ["Ses01_M", "Ses01_F"])],
              "dev": [dia("Ses02F_c", ["Ses02_F", "Ses02_M"])], "test": [dia("Ses05M_d", ["Ses05_M", "Ses05_F", "Ses05_M"])]}
    return ERCData("iemocap", ["x", "y", "z"], splits).validate()


def six_dialogue_three_modality_data() -> ERCData:
    """Six dialogues per split of 3 to 6 utterances (speakers A, B in turn), labels ``0, 1, 2, ...`` in turn and
    random text/audio/visual features (6, 5, 4 dims). The benchmark's per-step table's data."""
    rng = np.random.default_rng(0)
    dims = {"text": 6, "audio": 5, "visual": 4}

    def dialogue(i, split):
        n = 3 + i % 4
        return Dialogue(f"{split}{i}", [["A", "B"][j % 2] for j in range(n)], ["u"] * n, np.arange(n) % 3,
                        {m: rng.normal(size=(n, k)).astype(np.float32) for m, k in dims.items()})

    return ERCData("toy", ["x", "y", "z"], {s: [dialogue(i, s) for i in range(6)]
                                           for s in ("train", "dev", "test")}).validate()


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


def known_class_counts_data() -> ERCData:
    """Train labels 0 x 4, 1 x 2, 2 x 1 (known counts); text and audio features only."""
    rng = np.random.default_rng(0)

    def dialogue(name, labels):
        n = len(labels)
        return Dialogue(name, [["A", "B"][i % 2] for i in range(n)], ["u"] * n, np.array(labels),
                        {"text": rng.normal(size=(n, 4)).astype(np.float32),
                         "audio": rng.normal(size=(n, 3)).astype(np.float32)})

    splits = {"train": [dialogue("tr0", [0, 0, 1, 2]), dialogue("tr1", [0, 0, 1])],
              "dev": [dialogue("dv0", [0, 1, 2])], "test": [dialogue("te0", [2, 1, 0])]}
    return ERCData("toy", ["x", "y", "z"], splits).validate()


def ann_and_bob_data(n_train: int) -> ERCData:
    """``n_train`` train dialogues of Ann and Bob taking 4 turns each, one one-utterance dialogue of Ann in dev
    and test; one class, 2-d text features ``0, 1, 2, ...`` row by row (speaker histories' data)."""
    def dia(name, speakers, dim=2):
        n = len(speakers)
        return Dialogue(name, speakers, ["u"] * n, np.zeros(n, dtype=np.int64),
                        {"text": np.arange(n * dim, dtype=np.float64).reshape(n, dim)})
    train = [dia(f"train_{i}", ["Ann", "Bob"] * 4) for i in range(n_train)]
    return ERCData("toy", ["x"], {"train": train, "dev": [dia("dev_0", ["Ann"])], "test": [dia("test_0", ["Ann"])]})


def labelled_text_data(seed: int = 0, n=(6, 3, 3), dim: int = 6, n_classes: int = 3) -> ERCData:
    """A dataset named ``tiny``: ``n`` dialogues per split of 3 to 5 utterances (speakers A, B, C in turn),
    random labels whose first ``n_classes`` are ``0, 1, ...``, random ``dim``-d text features shifted by the label
    (the fit cache's data)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in zip(("train", "dev", "test"), n):
        dialogues = []
        for i in range(count):
            length = int(rng.integers(3, 6))
            labels = rng.integers(0, n_classes, size=length).astype(np.int64)
            labels[:n_classes] = np.arange(n_classes)
            feats = rng.normal(size=(length, dim)).astype(np.float32) + labels[:, None]
            dialogues.append(Dialogue(f"{split}{i}", [["A", "B", "C"][j % 3] for j in range(length)],
                                      [f"u{j}" for j in range(length)], labels, {"text": feats}))
        splits[split] = dialogues
    return ERCData("tiny", [f"c{k}" for k in range(n_classes)], splits).validate()


SPEAKER_LAYOUT = {"train": [("d1", ["Ann", "Bob", "Ann", "Ann"]), ("d2", ["Bob", "Ann"])],
                  "dev": [("d3", ["Cy", "Bob"])],
                  "test": [("d4", ["Bob", "Ann", "Ann"]), ("d5", ["Cy"])]}


def speaker_layout_data() -> ERCData:
    """A dataset named ``constructed`` with the speakers of ``SPEAKER_LAYOUT``; utterance ``k`` in file order has
    label ``k % 3``, transcript ``t<k>`` and text features ``[k, -k]`` (float64 in dialogue d2, float32 elsewhere)."""
    splits, flat = {}, 0
    for split, dialogues in SPEAKER_LAYOUT.items():
        splits[split] = []
        for did, speakers in dialogues:
            n = len(speakers)
            index = np.arange(flat, flat + n)
            dtype = np.float64 if did == "d2" else np.float32        # the table is float32 whatever the input
            splits[split].append(Dialogue(did, list(speakers), [f"t{i}" for i in index], (index % 3).astype(np.int64),
                                          {"text": np.stack([index, -index], 1).astype(dtype)}))
            flat += n
    return ERCData("constructed", ["a", "b", "c"], splits)



def random_text_only_data() -> ERCData:
    """Two dialogues of three utterances (speaker A, labels 0, 1, 1) with random 4-d text features and no
    audio: train both, dev the first, test the second (MiSTER-E's text-only mode)."""
    rng = np.random.default_rng(0)
    dialogues = [Dialogue(f"d{i}", ["A"] * 3, ["x"] * 3, np.array([0, 1, 1]), {"text": rng.normal(size=(3, 4)).astype(np.float32)})
                 for i in range(2)]
    return ERCData("toy", ["a", "b"], {"train": dialogues, "dev": dialogues[:1], "test": dialogues[1:]})


def zero_text_only_data() -> ERCData:
    """One dialogue per split of three utterances (speaker A, labels 0, 1, 0) with all-zero 8-d text features
    and no audio."""
    d = lambda i: Dialogue(f"d{i}", ["A"] * 3, ["a"] * 3, np.array([0, 1, 0]),
                           {"text": np.zeros((3, 8), dtype=np.float32)})
    return ERCData("toy", ["x", "y"], {s: [d(i)] for i, s in enumerate(("train", "dev", "test"))})


# ----------------------------------------------------------------------------- datasets with transcripts only
def greeting_text_data() -> ERCData:
    """Two dialogues per split of two utterances, ``"hello <i>"`` and ``"fine thanks <i>"`` (labels 0, 1), no
    features: for the text encoders' cache."""
    d = lambda i, split: Dialogue(f"{split}{i}", ["A", "B"], [f"hello {i}", f"fine thanks {i}"], np.array([0, 1]))
    return ERCData("toy", ["x", "y"], {s: [d(i, s) for i in range(2)] for s in ("train", "dev", "test")})


EMOTION_TEXTS = {0: ["I am so happy today!", "This is wonderful news.", "What a great day.", "I love it."],
                 1: ["I feel terrible.", "This is so sad.", "I miss her a lot.", "Nothing works anymore."],
                 2: ["Get out of here!", "I am furious with you.", "Stop lying to me!", "This makes me so angry."]}


def emotion_text_data() -> ERCData:
    """A dataset named ``tiny``: 6 train and 2 dev and test dialogues of 6 utterances, random labels (happy, sad,
    angry) whose transcripts are drawn from ``EMOTION_TEXTS`` of that label: the LoRA encoders can learn them."""
    rng = np.random.default_rng(0)

    def dialogue(i):
        labels = rng.integers(0, 3, 6)
        texts = [EMOTION_TEXTS[int(c)][int(rng.integers(0, 4))] for c in labels]
        return Dialogue(f"d{i}", ["A", "B"] * 3, texts, labels.astype(np.int64))

    return ERCData("tiny", ["happy", "sad", "angry"],
                   {"train": [dialogue(i) for i in range(6)], "dev": [dialogue(10), dialogue(11)],
                    "test": [dialogue(20), dialogue(21)]})


# ----------------------------------------------------------------------------- a collated batch
def two_modality_batch():
    """The collated train split of three dialogues of 3, 4, 5 utterances (speakers A, B in turn) with random
    labels and random 6-d text and 5-d audio features; returns ``(batch, dims)``."""
    rng = np.random.default_rng(0)
    dims = {"text": 6, "audio": 5}

    def dia(name, n):
        return Dialogue(name, [["A", "B"][i % 2] for i in range(n)], ["u"] * n, rng.integers(0, 3, n),
                        {m: rng.normal(size=(n, k)).astype(np.float32) for m, k in dims.items()})

    splits = {s: [dia(f"{s}{i}", 3 + i) for i in range(3)] for s in ("train", "dev", "test")}
    data = ERCData("toy", ["x", "y", "z"], splits).validate()
    ds = DialogueDataset(data.splits["train"], list(dims), data.speaker_vocab())
    return collate_dialogues([ds[i] for i in range(len(ds))]), dims
