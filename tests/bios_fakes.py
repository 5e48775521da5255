"""A constructed dataset and a stand-in describer shared by the speaker-bios tests
(tests/test_bios_*.py): label names that appear in no utterance, deterministic descriptions."""
from __future__ import annotations

import hashlib

import numpy as np

from erc_lib.data import Dialogue, ERCData
from erc_lib.features.bios import Generation

LABELS = ["zorblax", "quintessa", "flumbert"]  # label names that appear in no utterance


def toy_data(name: str = "toy", labels=None) -> ERCData:
    """Five dialogues (3 train, 1 dev, 1 test) of Anna, Ben and Cleo with 8-d text features;
    ``labels`` fixes the utterance labels (default: seeded random)."""
    rng = np.random.default_rng(0)
    dialogues = []
    for split, n in (("train", 3), ("dev", 1), ("test", 1)):
        for k in range(n):
            speakers = ["Anna", "Ben", "Anna", "Cleo", "Ben"][: 3 + k % 3]
            texts = [f"utterance {j} of {split}{k} by {s}" for j, s in enumerate(speakers)]
            lab = np.array(labels[: len(speakers)] if labels is not None else rng.integers(0, 3, len(speakers)),
                           dtype=np.int64)
            dialogues.append((split, Dialogue(f"{split}{k}", speakers, texts, lab,
                                              {"text": rng.normal(size=(len(speakers), 8)).astype(np.float32)})))
    splits = {s: [d for sp, d in dialogues if sp == s] for s in ("train", "dev", "test")}
    return ERCData(name, LABELS, splits).validate()


def words(text: str) -> int:
    """Number of white-space separated words (the fake tokenizer)."""
    return len(text.split())


class FakeDescriber:
    """Stands in for ChatDescriber: deterministic text from the model name and prompt."""

    def __init__(self, name="fake-model", settings=None, answer=None):
        self.name, self.settings = name, settings or {"max_new_tokens": 16}
        self.answer = answer
        self.calls = 0

    count_tokens = staticmethod(words)

    def render(self, prompt):
        return f"<user>{prompt}<assistant>"

    def generate(self, prompts, groups=None, progress=True, on_batch=None):
        self.calls += 1
        outs = []
        for p in prompts:
            text = self.answer(p) if self.answer else (
                f"{self.name} thinks this speaker is calm, kind and thoughtful; note "
                f"{hashlib.sha1(p.encode()).hexdigest()[:8]}.")
            outs.append(Generation(text, words(text), words(p)))
        if on_batch:
            on_batch(list(range(len(prompts))), outs, 0.5)
        return outs
