"""The one representation of every ERC dataset: :class:`Dialogue` and :class:`ERCData` (with its
checks), the splits and modalities, and the helpers every loader shares (transcript repair
:func:`clean_text`, :func:`require_file`, the seeded dev hold-out :func:`split_dev`)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from sklearn.model_selection import train_test_split

SPLITS = ("train", "dev", "test")
#: The one order of the modalities: every model and baseline concatenates or lists them so, whatever
#: order a caller names them in (the same settings on the same inputs give the same numbers).
MODALITIES = ("text", "audio", "visual")


def canonical_modalities(names: Iterable[str]) -> list[str]:
    """``names`` in :data:`MODALITIES` order (``["audio", "text"]`` -> ``["text", "audio"]``); names
    outside it (MiSTER-E's ``speech``) follow in the order given."""
    names = list(names)
    return [m for m in MODALITIES if m in names] + [m for m in names if m not in MODALITIES]


class DataError(ValueError):
    """Raised for missing data files and for malformed data caught at load time."""


# ----------------------------------------------------------------------------- records
@dataclass
class Dialogue:
    """One dialogue (a conversation, a scene, or for MOSI a monologue video).

    Attributes:
        dialogue_id: unique id within the dataset.
        speakers: dataset-wide speaker name per utterance (e.g. ``"Ses01_M"``,
            ``"Rachel Green"``); ``n_utterances`` strings.
        texts: utterance transcripts; empty strings where the source has none (MOSI).
        labels: ``(n_utterances,)`` int64 class indices into the dataset's label names.
        features: modality name (``text``/``audio``/``visual``) -> ``(n_utterances, dim)``
            float32 matrix.
    """

    dialogue_id: str
    speakers: list[str]
    texts: list[str]
    labels: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def speaker_index(self) -> np.ndarray:
        """``(n_utterances,)`` int64: index of each speaker within this dialogue, in order
        of first appearance (the per-dialogue speaker id SDT and CoMPM use)."""
        order: dict[str, int] = {}
        return np.array([order.setdefault(s, len(order)) for s in self.speakers], dtype=np.int64)


@dataclass
class ERCData:
    """A whole dataset: label names and dialogues per split.

    Attributes:
        name: dataset name as passed to :func:`load_dataset`.
        label_names: class names, index = label id.
        splits: ``{"train": [...], "dev": [...], "test": [...]}`` lists of :class:`Dialogue`.
        notes: caveats a notebook should show next to results on this dataset.
        fold: the cross-validation fold these splits are (:mod:`erc_lib.data.folds`; 0 = the standard
            split), or None for the dataset as loaded.
    """

    name: str
    label_names: list[str]
    splits: dict[str, list[Dialogue]]
    notes: str = ""
    fold: int | None = None

    @property
    def key(self) -> str:
        """The name that tells runs on different folds apart: ``name`` without a fold,
        ``"<name>@fold<k>"`` with one (keys of :class:`erc_lib.experiment.Experiment`)."""
        return self.name if self.fold is None else f"{self.name}@fold{self.fold}"

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def modalities(self) -> list[str]:
        """Modalities with features in every dialogue, in ``text, audio, visual`` order."""
        dialogues = [d for split in self.splits.values() for d in split]
        return [m for m in MODALITIES if dialogues and all(m in d.features for d in dialogues)]

    def feature_dims(self) -> dict[str, int]:
        """Modality -> feature dimension."""
        first = self.splits["train"][0]
        return {m: int(first.features[m].shape[1]) for m in self.modalities}

    def speaker_vocab(self) -> dict[str, int]:
        """Dataset-wide speaker name -> global id, built over train, dev, test in file order
        (stable: the same name gets the same id in every split)."""
        vocab: dict[str, int] = {}
        for split in SPLITS:
            for d in self.splits[split]:
                for s in d.speakers:
                    vocab.setdefault(s, len(vocab))
        return vocab

    def max_speakers_per_dialogue(self) -> int:
        """Largest number of distinct speakers in one dialogue (size of per-dialogue speaker
        embeddings)."""
        return max(len(set(d.speakers)) for split in self.splits.values() for d in split)

    def train_labels(self) -> np.ndarray:
        """All training-utterance labels, concatenated: ``(n_train_utterances,)``."""
        return np.concatenate([d.labels for d in self.splits["train"]])

    def summary(self) -> dict[str, dict[str, int]]:
        """Per split: number of dialogues, utterances and distinct speakers."""
        return {
            split: {
                "dialogues": len(ds),
                "utterances": sum(len(d) for d in ds),
                "speakers": len({s for d in ds for s in d.speakers}),
            }
            for split, ds in self.splits.items()
        }

    def validate(self, expected_dims: dict[str, int] | None = None) -> "ERCData":
        """Check every dialogue; raise :class:`DataError` on the first problem.

        Catches: missing split, empty split or dialogue, length mismatch between speakers,
        texts, labels and features, labels outside ``[0, n_classes)``, non-finite feature
        values, and feature dimensions that differ between dialogues or from
        ``expected_dims``.
        """
        dims: dict[str, int] = dict(expected_dims or {})
        seen_ids: set[str] = set()
        for split in SPLITS:
            if not self.splits.get(split):
                raise DataError(f"{self.name}: split '{split}' is missing or empty")
            for d in self.splits[split]:
                where = f"{self.name}/{split}/dialogue {d.dialogue_id!r}"
                n = len(d.labels)
                if n == 0:
                    raise DataError(f"{where}: empty dialogue (no utterances)")
                if d.dialogue_id in seen_ids:
                    raise DataError(f"{where}: duplicate dialogue id")
                seen_ids.add(d.dialogue_id)
                if len(d.speakers) != n or len(d.texts) != n:
                    raise DataError(f"{where}: {n} labels but {len(d.speakers)} speakers and {len(d.texts)} texts")
                labels = np.asarray(d.labels)
                if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= self.n_classes:
                    raise DataError(f"{where}: labels {sorted(set(labels.tolist()))} outside 0..{self.n_classes - 1} ({self.label_names})")
                for m, x in d.features.items():
                    if x.ndim != 2 or x.shape[0] != n:
                        raise DataError(f"{where}: {m} features have shape {x.shape}, expected ({n}, dim)")
                    if m in dims and x.shape[1] != dims[m]:
                        raise DataError(f"{where}: {m} features are {x.shape[1]}-d, expected {dims[m]}-d")
                    dims.setdefault(m, x.shape[1])
                    if not np.isfinite(x).all():
                        raise DataError(f"{where}: {m} features contain NaN or inf")
        return self


def standardize_features(data: "ERCData", modalities: Iterable[str] | None = None) -> "ERCData":
    """Z-score each feature dimension with the mean and std of the TRAIN utterances (in
    place; constant dimensions are only centred). Returns ``data``."""
    for m in modalities or data.modalities:
        train = np.concatenate([d.features[m] for d in data.splits["train"]])
        mean, std = train.mean(0), train.std(0)
        std[std < 1e-8] = 1.0
        for split in data.splits.values():
            for d in split:
                d.features[m] = ((d.features[m] - mean) / std).astype(np.float32)
    return data


def subset_dialogues(data: "ERCData", n_dialogues: int | dict[str, int] | None) -> "ERCData":
    """A new :class:`ERCData` with the FIRST ``n_dialogues`` dialogues of each split (an int for
    every split, or ``{split: count}``; file order kept, so speaker histories stay meaningful).
    ``None`` returns ``data`` itself. For smoke runs and CPU budgets.

    Raises ValueError for a count < 1."""
    if not n_dialogues:
        return data
    counts = {s: n_dialogues for s in SPLITS} if isinstance(n_dialogues, int) else dict(n_dialogues)
    if any(not isinstance(n, int) or n < 1 for n in counts.values()):
        raise ValueError(f"dialogue counts must be integers >= 1, got {n_dialogues}")
    splits = {s: list(data.splits[s][: counts.get(s, len(data.splits[s]))]) for s in SPLITS}
    return ERCData(data.name, data.label_names, splits, data.notes, data.fold).validate()


# ----------------------------------------------------------------------------- helpers
_ASCII_PUNCT = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...",
                "\u2014": "-", "\u2013": "-", "\x92": "'", "\x91": "'", "\x93": '"', "\x94": '"',
                "\x85": "...", "\x97": "-", "\x96": "-", "\xa0": " "}


def clean_text(text: str) -> str:
    """Normalise an utterance transcript: repair cp1252 mojibake (e.g. ``\\x92`` for an
    apostrophe, or UTF-8 read as latin-1), map typographic quotes and dashes to ASCII and
    collapse white space."""
    if any(ch in text for ch in "\u00e2\u00c3"):
        for codec in ("cp1252", "latin-1"):
            try:
                text = text.encode(codec).decode("utf-8")
                break
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
    text = "".join(_ASCII_PUNCT.get(ch, ch) for ch in text)
    return " ".join(unicodedata.normalize("NFC", text).split())


def require_file(path: Path, what: str) -> Path:
    """``path`` itself when it exists; else raise :class:`DataError` naming the file, ``what``
    it should hold (its source) and the data folder to set (``ERC_DATA_DIR``)."""
    if not path.exists():
        raise DataError(
            f"missing data file {path}\n  expected: {what}\n"
            f"  data folder: {path.parent} (set ERC_DATA_DIR to the folder that holds "
            "iemocap/, meld/, emorynlp/, mosi/ and sdt/; see README.md, 'Data')"
        )
    return path


def split_dev(dialogues: list[Dialogue], fraction: float, seed: int) -> tuple[list[Dialogue], list[Dialogue]]:
    """Hold out a fixed, seeded ``fraction`` of ``dialogues`` as dev (scikit-learn)."""
    train, dev = train_test_split(dialogues, test_size=fraction, random_state=seed, shuffle=True)
    order = {d.dialogue_id: i for i, d in enumerate(dialogues)}
    return sorted(train, key=lambda d: order[d.dialogue_id]), sorted(dev, key=lambda d: order[d.dialogue_id])
