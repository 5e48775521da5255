"""Scripted toy models and toy data for the trainer and the experiment loop (tests of the loop,
not of any model): what a model predicts is fixed by hand, so which epoch, row or seed a stored
number came from can be read off the number."""
from __future__ import annotations

import numpy as np
import torch

from erc_lib.data import Dialogue, ERCData
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.training import TrainConfig

N_CLASSES = 3


def toy_data(dev_labels=((0, 1, 2, 0), (1, 2)), test_labels=((0, 1, 2), (0, 1, 2)),
             train_labels=((0, 1, 2, 1), (2, 0)), name="toy") -> ERCData:
    """Dialogues whose ``text`` features are ``[one-hot label (3), split flag]`` (flag 0 train,
    1 dev, 2 test), so a scripted model can be right or wrong on purpose."""
    splits = {}
    for flag, (split, labels) in enumerate((("train", train_labels), ("dev", dev_labels), ("test", test_labels))):
        dialogues = []
        for i, ls in enumerate(labels):
            y = np.asarray(ls, dtype=np.int64)
            x = np.concatenate([np.eye(N_CLASSES, dtype=np.float32)[y], np.full((len(y), 1), flag, np.float32)], 1)
            dialogues.append(Dialogue(f"{split}{i}", ["A", "B"] * (len(y) // 2) + ["A"] * (len(y) % 2),
                                      ["u"] * len(y), y, {"text": x}))
        splits[split] = dialogues
    return ERCData(name, [f"c{k}" for k in range(N_CLASSES)], splits).validate()



def spread_data(n_dialogues=7, seed=0, name="toy") -> ERCData:
    """``n_dialogues`` dialogues per split of 2 to 10 utterances (lengths spread, for batching and the
    benchmark), labels ``0, 1, 2, ...`` in turn and 6 random ``text`` features shifted by the label."""
    rng = np.random.default_rng(seed)

    def dialogue(i, split):
        n = 2 + (i * 5) % 9
        labels = np.arange(n) % 3
        feats = {"text": (rng.normal(size=(n, 6)) + labels[:, None]).astype(np.float32)}
        return Dialogue(f"{split}{i}", [["A", "B"][j % 2] for j in range(n)], ["u"] * n, labels, feats)

    return ERCData(name, ["x", "y", "z"], {s: [dialogue(i, s) for i in range(n_dialogues)]
                                           for s in ("train", "dev", "test")}).validate()


class ScriptedModel(torch.nn.Module):
    """Right or wrong on dev and test by epoch, as ``script`` says.

    ``script[epoch - 1] = (dev, test)``: each ``True`` (every utterance right: the true class),
    ``False`` (every utterance wrong: the next class) or a float ``p`` (the first ``round(p * n)``
    utterances of the split's batch right). The epoch counter is a buffer that the training pass
    increments once per epoch (one training batch per epoch), so restoring the selected epoch's
    weights restores its counter; the kept output ``epoch_seen`` says which epoch a prediction
    came from."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))

    def forward(self, batch):
        x = batch.features["text"]
        y = x[..., :N_CLASSES].argmax(-1)
        if self.training:
            self.epoch += 1
            right = torch.ones_like(y, dtype=torch.bool)
        else:
            flag = int(x[..., N_CLASSES].max())
            setting = self.script[int(self.epoch) - 1][flag - 1]
            right = torch.zeros_like(y, dtype=torch.bool)
            if setting is True or setting is False:
                right[:] = setting
            else:  # the first round(p * n) real utterances, in row-major order
                k = round(float(setting) * int(batch.mask.sum()))
                idx = batch.mask.flatten().nonzero()[:k, 0]
                right.view(-1)[idx] = True
        pred = torch.where(right, y, (y + 1) % N_CLASSES)
        logits = 5.0 * torch.nn.functional.one_hot(pred, N_CLASSES).float() + self.w
        return {"logits": logits, "epoch_seen": self.epoch.float().expand(y.shape)}

    def loss(self, out, batch):
        total = (self.w ** 2).sum() + 0.0 * out["logits"].sum()
        return {"total": total, "ce": torch.tensor(float(self.epoch))}


class ConstantModel(torch.nn.Module):
    """Predicts one class for every utterance: ``(seed + shift) % 3``, where ``seed`` is the torch
    seed at build time (:func:`erc_lib.runtime.seed_everything` sets it before ``build()``). Its
    student head ``logits_text`` predicts ``student`` (or the same class when None)."""

    def __init__(self, shift: int = 0, student: int | None = None):
        super().__init__()
        self.seed = torch.initial_seed()
        self.cls = (self.seed + shift) % N_CLASSES
        self.student = self.cls if student is None else student
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, batch):
        shape = batch.mask.shape
        one = lambda c: 5.0 * torch.nn.functional.one_hot(torch.full(shape, c), N_CLASSES).float() + self.w
        return {"logits": one(self.cls), "logits_text": one(self.student)}

    def loss(self, out, batch):
        return {"total": (self.w ** 2).sum() + 0.0 * out["logits"].sum()}


def constant_weighted_f1(labels, cls: int) -> float:
    """Weighted F1 (percent) of predicting ``cls`` everywhere, by hand: only class ``cls`` has a
    non-zero F1, precision ``p`` (its share), recall 1, so F1 = 2p / (1 + p), weighted by ``p``."""
    p = float(np.mean(np.asarray(labels) == cls))
    return 100.0 * p * (2 * p / (1 + p)) if p else 0.0


NAMES = ["Monica", "Rachel", "Ross", "Joey", "Gunther"]
WORDS = "oh my god we had a deal you promised who was that she bailed I have no waitress".split()


def recurring_speaker_data(n_dialogues=(6, 3, 3), seed=0, dim=16, n_classes=3) -> ERCData:
    """CoMPM / EmoNet toy data: a small ERCData whose speakers recur across dialogues and splits; random texts,
    labels and ``text`` features (label-dependent, so a model can learn them)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)
    splits = {}
    for split, n in zip(("train", "dev", "test"), n_dialogues):
        dialogues = []
        for i in range(n):
            length = int(rng.integers(3, 9))
            speakers = [NAMES[k] for k in rng.integers(0, len(NAMES), size=length)]
            labels = rng.integers(0, n_classes, size=length).astype(np.int64)
            labels[: n_classes] = np.arange(min(n_classes, length))  # every class occurs in train
            texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))) for _ in range(length)]
            feats = centres[labels] + 0.5 * rng.normal(size=(length, dim)).astype(np.float32)
            dialogues.append(Dialogue(f"{split}_{i}", speakers, texts, labels, {"text": feats}))
        splits[split] = dialogues
    return ERCData("synthetic", [f"c{k}" for k in range(n_classes)], splits).validate()


# ----------------------------------------------------------------------------- constant models through the experiment loop
#: One epoch, every dialogue in one batch, no early stopping: a constant model's one epoch is its result.
CFG = TrainConfig(epochs=1, batch_size=64, device="cpu", progress=False, patience=None)
#: dev: class 0 is the majority (3 of 6); test: class 2 is (3 of 6), class 0 has 1 of 6
DEV, TEST = ((0, 0, 1, 0), (2, 1)), ((2, 2, 1), (0, 1, 2))


def run_constant(specs, seeds, data=None, **kw):
    """``run_experiment`` of ``specs`` on :func:`toy_data` (``DEV``, ``TEST``) with :data:`CFG`, no fit cache."""
    return run_experiment(data or toy_data(DEV, TEST), specs, seeds, CFG, progress=False, cache=False, **kw)


def constant_spec(variant, shift=0, student=None, **kw):
    """A :class:`RunSpec` of a :class:`ConstantModel` (``shift``, ``student``) on ``text`` that keeps ``logits_text``."""
    return RunSpec(variant, lambda: ConstantModel(shift, student), ["text"], model="toy", keep=("logits_text",), **kw)

