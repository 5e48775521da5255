"""One representation for every ERC dataset, the loaders, and dialogue batching.

A dataset is a set of :class:`Dialogue` objects split into ``train`` / ``dev`` / ``test``.
Each dialogue holds per-utterance speakers, texts, labels and optional per-modality
feature matrices ``(n_utterances, dim)``. :class:`DialogueDataset` and
:func:`collate_dialogues` pad a batch of dialogues to ``(batch, max_len, dim)`` with an
utterance mask, which is what every model in :mod:`erc_lib.models` reads.

Datasets by name (see :func:`load_dataset`):

==============  ======================================================  ==============
name            source (under ``ERC_DATA_DIR``)                          modalities
==============  ======================================================  ==============
``iemocap``     ``iemocap/cosmic/iemocap.pkl`` (COSMIC), 6 classes       text (strings)
``meld``        ``meld/official/{train,dev,test}_sent_emo.csv``          text (strings)
``emorynlp``    ``emorynlp/compm/EMORY_{train,dev,test}.txt`` (CoMPM)    text (strings)
``mosi``        ``mosi/bclstm/`` bc-LSTM features, binary sentiment      t 100, a 73, v 100
``mosi-clean``  bc-LSTM audio + ``transcripts.csv``, SDK standard folds   a 73, text (strings)
``iemocap-sdt`` ``sdt/iemocap_multimodal_features.pkl`` (SDT authors)    t 1024, a 1582, v 342
``meld-sdt``    ``sdt/meld_multimodal_features.pkl`` (SDT authors)       t 1024, a 300, v 342
==============  ======================================================  ==============

Text-only datasets get their ``text`` feature matrix from a sentence encoder, see
:func:`erc_lib.features.text.add_text_features`.
"""
from __future__ import annotations

import csv
import json
import os
import pickle
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .paths import data_dir

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
        fold: the cross-validation fold these splits are (:mod:`erc_lib.folds`; 0 = the standard
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


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(
            f"missing data file {path}\n  expected: {what}\n"
            f"  data folder: {path.parent} (set ERC_DATA_DIR to the folder that holds "
            "iemocap/, meld/, emorynlp/, mosi/ and sdt/; see README.md, 'Data')"
        )
    return path


# Classes an ERC feature pickle may need: numpy arrays, dtypes and scalars, and plain containers.
SAFE_PICKLE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list"), ("builtins", "dict"),
    ("builtins", "tuple"), ("builtins", "slice"), ("builtins", "complex"), ("builtins", "bytearray"),
    ("builtins", "str"), ("builtins", "int"), ("builtins", "float"), ("builtins", "bool"),
    ("_codecs", "encode"),  # how protocol-2 pickles (Python 2 era) store bytes; it only encodes a string
}


class UnsafePickleError(DataError):
    """A pickle asked for a class outside :data:`SAFE_PICKLE_GLOBALS`; nothing in it ran."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only :data:`SAFE_PICKLE_GLOBALS`: a pickle that would import anything else (and so
    could run code, e.g. ``os.system`` through ``__reduce__``) is refused before it runs."""

    path: Path = Path("<pickle>")

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_PICKLE_GLOBALS or (module.startswith("numpy") and name == "dtype"):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.path}: refused to load: the pickle asks for {module}.{name}, which is not a numpy array or a "
            "plain container, so loading it could run code. If you trust this file (e.g. you downloaded it from "
            "the authors' link yourself), load it with trust_pickle=True or set ERC_TRUST_PICKLES=1, or convert "
            "it once with `python -m erc_lib.data convert PATH --trust` and keep the .safe.npz it writes.")


def trusted_pickles() -> bool:
    """True when ``ERC_TRUST_PICKLES`` is 1/true/yes (the user vouches for every pickle)."""
    return os.environ.get("ERC_TRUST_PICKLES", "").strip().lower() in {"1", "true", "yes", "on"}


def safe_archive_path(path: Path) -> Path:
    """Where :func:`convert_pickle` writes the pickle-free copy of ``path``: ``<name>.safe.npz``."""
    return path.with_name(path.name + ".safe.npz")


def load_pickle(path: Path, trust_pickle: bool | None = None):
    """Load an authors'-format pickle (``latin1``) without letting it run code.

    A pickle-free copy ``<name>.safe.npz`` beside it (:func:`convert_pickle`) is read instead
    when present. Otherwise the pickle is read through an allow-list unpickler (numpy arrays
    and plain containers only, :data:`SAFE_PICKLE_GLOBALS`) unless ``trust_pickle`` (or
    ``ERC_TRUST_PICKLES=1``) says the file is trusted.

    Raises:
        UnsafePickleError: the file needs another class (it names the class and how to allow it).
        DataError: a truncated or corrupt file (named, with the likely cause and the fix).
    """
    path = Path(path)
    safe = safe_archive_path(path)
    if safe.exists():
        return read_safe_archive(safe)
    trust = trusted_pickles() if trust_pickle is None else trust_pickle
    try:
        with open(path, "rb") as f:
            if trust:
                return pickle.load(f, encoding="latin1")
            unpickler = _RestrictedUnpickler(f, encoding="latin1")
            unpickler.path = path
            return unpickler.load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        size = path.stat().st_size if path.exists() else 0
        raise DataError(f"{path}: cannot read this pickle ({type(e).__name__}: {e}); {size} bytes on disk. "
                        "Likely a truncated or interrupted download or a file of another format: download it "
                        "again and compare it with the SHA256SUMS of its source (see README.md, 'Data').") from None


def _to_structure(obj, arrays: dict) -> object:
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": [[_to_structure(k, arrays), _to_structure(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__": [_to_structure(v, arrays) for v in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [_to_structure(v, arrays) for v in sorted(obj, key=repr)]}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} pickle-free")


def _from_structure(node, arrays):
    if isinstance(node, dict):
        (tag, value), = node.items()
        if tag == "__array__":
            return arrays[value]
        if tag == "__dict__":
            return {_hashable(_from_structure(k, arrays)): _from_structure(v, arrays) for k, v in value}
        items = [_from_structure(v, arrays) for v in value]
        return {"__list__": list, "__tuple__": tuple, "__set__": set}[tag](items)
    return node


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def convert_pickle(path: str | Path, trust_pickle: bool = False) -> Path:
    """Write a pickle-free copy of an authors'-format pickle beside it (``<name>.safe.npz``:
    the arrays, and the nesting as JSON); :func:`load_pickle` reads it from then on.

    The pickle itself is read through the allow-list unpickler unless ``trust_pickle``.
    Returns the new file's path."""
    from .paths import atomic_write

    path = Path(path)
    content = load_pickle(path, trust_pickle=trust_pickle)
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps(_to_structure(content, arrays))
    target = safe_archive_path(path)
    atomic_write(target, lambda tmp: np.savez(tmp, __structure__=np.array(structure), **arrays))
    return target


def read_safe_archive(path: Path):
    """Read a :func:`convert_pickle` archive (no pickle involved)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "__structure__"}
            return _from_structure(json.loads(str(z["__structure__"])), arrays)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: damaged pickle-free archive ({type(e).__name__}: {e}); delete it and run "
                        "`python -m erc_lib.data convert` on the original pickle again") from None


def split_dev(dialogues: list[Dialogue], fraction: float, seed: int) -> tuple[list[Dialogue], list[Dialogue]]:
    """Hold out a fixed, seeded ``fraction`` of ``dialogues`` as dev (scikit-learn)."""
    from sklearn.model_selection import train_test_split

    train, dev = train_test_split(dialogues, test_size=fraction, random_state=seed, shuffle=True)
    order = {d.dialogue_id: i for i, d in enumerate(dialogues)}
    return sorted(train, key=lambda d: order[d.dialogue_id]), sorted(dev, key=lambda d: order[d.dialogue_id])


# ----------------------------------------------------------------------------- IEMOCAP
IEMOCAP_LABELS = ["happy", "sad", "neutral", "angry", "excited", "frustrated"]


def load_iemocap(root: Path, trust_pickle: bool | None = None) -> ERCData:
    """IEMOCAP, 6 classes, from COSMIC's pickle: 108 / 12 / 31 dialogues, 7433 utterances.

    Speakers are named ``Ses0k_M`` / ``Ses0k_F`` (the actor of that session and gender), so
    dataset-wide ids are real identities; sessions 1-4 are train/dev, session 5 test.
    """
    path = _require(root / "iemocap" / "cosmic" / "iemocap.pkl",
                    "COSMIC's IEMOCAP pickle (declare-lab/conv-emotion, COSMIC/feature-extraction/iemocap/)")
    speakers, labels, sentences, train_ids, test_ids, valid_ids = load_pickle(path, trust_pickle)
    splits = {}
    for split, ids in (("train", train_ids), ("dev", valid_ids), ("test", test_ids)):
        splits[split] = [
            Dialogue(
                dialogue_id=vid,
                speakers=[f"{vid[:5]}_{s}" for s in speakers[vid]],
                texts=[clean_text(t) for t in sentences[vid]],
                labels=np.asarray(labels[vid], dtype=np.int64),
            )
            for vid in ids
        ]
    return ERCData("iemocap", IEMOCAP_LABELS, splits).validate()


# ----------------------------------------------------------------------------- MELD
MELD_LABELS = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]


def load_meld(root: Path) -> ERCData:
    """MELD, 7 emotions, from the official CSVs: 9989 / 1109 / 2610 utterances.

    Speakers are character names (dataset-wide identities). Dialogue ids are
    ``<split>_<Dialogue_ID>``; utterances are ordered by ``Utterance_ID``.
    """
    splits = {}
    for split in SPLITS:
        path = _require(root / "meld" / "official" / f"{split}_sent_emo.csv",
                        "MELD's official CSV (declare-lab/MELD, data/MELD/)")
        rows: dict[int, list[tuple[int, str, str, str]]] = {}
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                emotion = row["Emotion"].strip().lower()
                if emotion not in MELD_LABELS:
                    raise DataError(f"{path}: unknown emotion {row['Emotion']!r} (expected one of {MELD_LABELS})")
                rows.setdefault(int(row["Dialogue_ID"]), []).append(
                    (int(row["Utterance_ID"]), clean_text(row["Speaker"]), clean_text(row["Utterance"]), emotion))
        dialogues = []
        for dia_id in sorted(rows):
            utts = sorted(rows[dia_id])
            dialogues.append(Dialogue(
                dialogue_id=f"{split}_{dia_id}",
                speakers=[u[1] for u in utts],
                texts=[u[2] for u in utts],
                labels=np.array([MELD_LABELS.index(u[3]) for u in utts], dtype=np.int64),
            ))
        splits[split] = dialogues
    return ERCData("meld", MELD_LABELS, splits).validate()


# ----------------------------------------------------------------------------- EmoryNLP
EMORYNLP_LABELS = ["Joyful", "Mad", "Neutral", "Peaceful", "Powerful", "Sad", "Scared"]


def read_tsv_dialogues(path: Path, label_names: list[str], split: str) -> list[Dialogue]:
    """Read CoMPM's text format: ``speaker<TAB>utterance<TAB>label`` lines, a blank line
    between dialogues. Raises :class:`DataError` on a malformed line or unknown label."""
    dialogues, current = [], []

    def flush():
        if current:
            dialogues.append(Dialogue(
                dialogue_id=f"{split}_{len(dialogues)}",
                speakers=[c[0] for c in current], texts=[c[1] for c in current],
                labels=np.array([c[2] for c in current], dtype=np.int64)))
            current.clear()

    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                flush()
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise DataError(f"{path}:{lineno}: expected 'speaker<TAB>utterance<TAB>label', got {line[:80]!r}")
            speaker, text, label = parts
            if label.strip() not in label_names:
                raise DataError(f"{path}:{lineno}: unknown label {label!r} (expected one of {label_names})")
            current.append((clean_text(speaker), clean_text(text), label_names.index(label.strip())))
    flush()
    return dialogues


def load_emorynlp(root: Path) -> ERCData:
    """EmoryNLP (Friends), 7 emotions, CoMPM's files: 713 / 99 / 85 scenes, 12606 utterances.

    Speakers are character names, so the same person is followed across scenes.
    """
    splits = {}
    for split, suffix in (("train", "train"), ("dev", "dev"), ("test", "test")):
        path = _require(root / "emorynlp" / "compm" / f"EMORY_{suffix}.txt",
                        "CoMPM's EmoryNLP file (rungjoo/CoMPM, dataset/EMORY/)")
        splits[split] = read_tsv_dialogues(path, EMORYNLP_LABELS, split)
    return ERCData("emorynlp", EMORYNLP_LABELS, splits).validate()


# ----------------------------------------------------------------------------- MOSI
MOSI_LABELS = ["negative", "positive"]
MOSI_NOTES = (
    "CMU-MOSI, bc-LSTM 62/31 video split (only 7 of its 31 test videos are in the SDK's "
    "standard test fold; test is 62% positive vs 49% in train). The text and visual feature "
    "extractors were trained on the training videos, so dev scores carved from train are "
    "inflated for text/visual; test videos were not seen by them."
)


def _read_feature_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(features, labels)`` of a bc-LSTM CSV (features, then the label as the last column).
    Raises :class:`DataError` naming the file, row and column of a NaN / inf or unparsable value."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, quotechar='"', ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric CSV ({e}); a damaged or wrong file? download it again") from None
    bad = np.argwhere(~np.isfinite(table))
    if len(bad):
        row, col = bad[0]
        raise DataError(f"MOSI: {path.name} row {row + 1} column {col + 1} is {table[row, col]} (NaN or inf; "
                        f"{len(bad)} such values in {path}); the features must be finite: restore the file")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _check_finite_videos(audio: np.ndarray, lengths: np.ndarray, split: str, path: Path) -> None:
    """Raise :class:`DataError` naming the split, video and utterance of a NaN / inf audio value."""
    for i, n in enumerate(lengths):
        bad = np.argwhere(~np.isfinite(audio[i, :n]))
        if len(bad):
            raise DataError(f"MOSI/{split}/dialogue '{split}_{i:02d}', utterance {bad[0][0]}, modality audio: NaN or "
                            f"inf in {path}; the features must be finite: restore the file")


def mosi_csv_order(pickle_audio: np.ndarray, csv_audio: np.ndarray, atol: float = 1e-3) -> np.ndarray:
    """Permutation ``p`` with ``csv_audio[p] == pickle_audio`` (rows matched to Euclidean
    distance ``atol``; the pickle is float32, so exact equality is not expected).

    The bc-LSTM CSVs are sorted by label, not in utterance order; the pickle is in order.
    Raises :class:`DataError` when some pickle row has no unique match in the CSV.
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=1).fit(csv_audio)
    dist, idx = nn.kneighbors(pickle_audio)
    perm = idx[:, 0]
    if dist.max() > atol or len(set(perm.tolist())) != len(perm):
        raise DataError(f"MOSI: the audio CSV rows do not match the pickle rows (max distance {dist.max():.2e})")
    return perm


def load_mosi(root: Path, dev_videos: int = 10, seed: int = 0, trust_pickle: bool | None = None) -> ERCData:
    """CMU-MOSI with bc-LSTM features (audio 73-d, text 100-d, visual 100-d), binary.

    Each video is one dialogue with a single speaker. The pickle gives utterance order and
    lengths; the CSVs give text and visual rows in a label-sorted order, recovered by
    matching the audio rows (:func:`mosi_csv_order`); labels are checked to agree. A fixed,
    seeded set of ``dev_videos`` training videos is held out as dev.
    """
    base = root / "mosi" / "bclstm"
    what = "bc-LSTM MOSI features (soujanyaporia/multimodal-sentiment-analysis; CSVs from jayus71/multimodal-sentiment-analysis)"
    audio_pkl = load_pickle(_require(base / "audio_2way.pickle", what), trust_pickle)
    tr_audio, tr_lab, te_audio, te_lab, _max_len, tr_len, te_len = audio_pkl
    per_split = {}
    for split, audio, lab, lengths in (("train", tr_audio, tr_lab, tr_len), ("test", te_audio, te_lab, te_len)):
        _check_finite_videos(audio, lengths, split, base / "audio_2way.pickle")
        flat_audio = np.concatenate([audio[i, :n] for i, n in enumerate(lengths)])
        flat_lab = np.concatenate([lab[i, :n] for i, n in enumerate(lengths)]).astype(np.int64)
        csvs = {m: _read_feature_csv(_require(base / f"{m}_{split}.csv", what)) for m in ("audio", "text", "video")}
        perm = mosi_csv_order(flat_audio, csvs["audio"][0])
        feats = {}
        for m, name in (("audio", "audio"), ("text", "text"), ("video", "visual")):
            x, y = csvs[m]
            if len(x) != len(flat_lab):
                raise DataError(f"MOSI {split}: {m} CSV has {len(x)} rows, the pickle {len(flat_lab)} utterances")
            if not np.array_equal(y[perm], flat_lab):
                raise DataError(f"MOSI {split}: {m} CSV labels disagree with the pickle after reordering")
            feats[name] = x[perm].astype(np.float32)
        dialogues, start = [], 0
        for i, n in enumerate(lengths):
            sl = slice(start, start + n)
            dialogues.append(Dialogue(
                dialogue_id=f"{split}_{i:02d}", speakers=[f"{split}_{i:02d}"] * n, texts=[""] * n,
                labels=flat_lab[sl], features={m: x[sl] for m, x in feats.items()}))
            start += n
        per_split[split] = dialogues
    train, dev = split_dev(per_split["train"], dev_videos / len(per_split["train"]), seed)
    return ERCData("mosi", MOSI_LABELS, {"train": train, "dev": dev, "test": per_split["test"]},
                   notes=MOSI_NOTES).validate({"audio": 73, "text": 100, "visual": 100})


MOSI_CLEAN_NOTES = (
    "CMU-MOSI with inputs that are clean for model selection: the SDK's standard 52 / 10 / 31 video folds "
    "(cmu_mosi_standard_folds.json), the bc-LSTM openSMILE audio functionals (73-d, not trained on MOSI) and the "
    "transcripts (mosi/bclstm/transcripts.csv), embedded by the project's frozen sentence encoder. No input was "
    "fitted on any MOSI video, so dev scores are honest and tuning / epoch selection may read them. Visual features "
    "are left out: the only ones available (bc-LSTM 3D-CNN) were trained on the bc-LSTM training videos."
)


def _read_mosi_transcripts(path: Path) -> dict[str, list[tuple[int, str, int]]]:
    """``{video id: [(utterance number, transcript, label), ...]}`` in utterance order, from
    ``transcripts.csv`` (rows ``video_k, transcript, segment, label``). Raises :class:`DataError`
    naming the file and row of a malformed row or a video whose utterance numbers have gaps."""
    videos: dict[str, list[tuple[int, str, int]]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f), 1):
            try:
                video, k = row[0].rsplit("_", 1)
                videos.setdefault(video, []).append((int(k), row[1], int(row[3])))
            except (ValueError, IndexError):
                raise DataError(f"{path} row {i}: expected `video_k, transcript, segment, label`, got {row!r}") from None
    for video, rows in videos.items():
        rows.sort()
        if [k for k, _, _ in rows] != list(range(1, len(rows) + 1)):
            raise DataError(f"{path}: video {video} has utterance numbers {[k for k, _, _ in rows]} (gaps or repeats)")
    return videos


def load_mosi_clean(root: Path, trust_pickle: bool | None = None) -> ERCData:
    """CMU-MOSI on inputs that are clean for selection (dataset name ``mosi-clean``), binary.

    * Splits: the CMU-MultimodalSDK standard folds, 52 train / 10 dev / 31 test videos
      (``mosi/cmu_mosi_standard_folds.json``); each video is one dialogue with one speaker.
    * Audio: the bc-LSTM openSMILE functionals (73-d) of ``audio_2way.pickle``, in the pickle's
      utterance order. The pickle has no video ids: each pickle video is matched to the
      transcript video with the same label sequence (all 93 sequences are distinct; a
      sequence matching zero or two videos raises :class:`DataError`).
    * Text: the transcripts, embedded later by the project's sentence encoder
      (:func:`erc_lib.features.text.prepare_dataset`), so no text feature was trained on MOSI.

    Returns: ``ERCData("mosi-clean")`` with ``audio`` features and transcripts; dialogue ids are
    the YouTube video ids. Raises :class:`DataError` for a missing file (named), a transcript or
    fold file that does not cover the pickle's 93 videos, or labels that disagree.
    """
    base = root / "mosi"
    what = "MOSI (bc-LSTM pickle and transcripts: soujanyaporia/multimodal-sentiment-analysis; folds: CMU-MultimodalSDK)"
    audio_pkl = load_pickle(_require(base / "bclstm" / "audio_2way.pickle", what), trust_pickle)
    transcripts = _read_mosi_transcripts(_require(base / "bclstm" / "transcripts.csv", what))
    folds_path = _require(base / "cmu_mosi_standard_folds.json", what)
    folds = json.loads(folds_path.read_text())
    by_labels: dict[tuple, list[str]] = {}
    for video, rows in transcripts.items():
        by_labels.setdefault(tuple(lab for _, _, lab in rows), []).append(video)
    tr_audio, tr_lab, te_audio, te_lab, _max_len, tr_len, te_len = audio_pkl
    dialogues: dict[str, Dialogue] = {}
    for split, audio, lab, lengths in (("train", tr_audio, tr_lab, tr_len), ("test", te_audio, te_lab, te_len)):
        _check_finite_videos(audio, lengths, split, base / "bclstm" / "audio_2way.pickle")
        for i, n in enumerate(lengths):
            labels = np.asarray(lab[i, :n], dtype=np.int64)
            match = by_labels.get(tuple(labels.tolist()), [])
            if len(match) != 1:
                raise DataError(f"MOSI: pickle {split} video {i} ({n} utterances) matches {len(match)} transcript "
                                f"videos by its label sequence (expected exactly one): {base / 'bclstm'}")
            video = match[0]
            rows = transcripts[video]
            dialogues[video] = Dialogue(
                dialogue_id=video, speakers=[video] * n, texts=[clean_text(t) for _, t, _ in rows], labels=labels,
                features={"audio": np.asarray(audio[i, :n], dtype=np.float32)})
    splits = {}
    for split, key in (("train", "train"), ("dev", "valid"), ("test", "test")):
        missing = [v for v in folds.get(key, []) if v not in dialogues]
        if missing or not folds.get(key):
            raise DataError(f"{folds_path}: fold {key!r} is empty or names videos that are not in the pickle: {missing[:3]}")
        splits[split] = [dialogues[v] for v in folds[key]]
    used = [v for s in splits.values() for v in (d.dialogue_id for d in s)]
    if len(used) != len(set(used)) or set(used) != set(dialogues):
        raise DataError(f"{folds_path}: the folds must cover the 93 videos once each "
                        f"({len(used)} listed, {len(set(used))} distinct, {len(dialogues)} videos)")
    return ERCData("mosi-clean", MOSI_LABELS, splits, notes=MOSI_CLEAN_NOTES).validate({"audio": 73})


# ----------------------------------------------------------------------------- SDT pickles
SDT_DIMS = {
    "iemocap-sdt": {"text": 1024, "audio": 1582, "visual": 342},
    "meld-sdt": {"text": 1024, "audio": 300, "visual": 342},
}
SDT_NOTES = ("The SDT authors' features (RoBERTa text, openSMILE audio, DenseFace visual); "
             "the authors had no dev split: ours is a fixed, seeded 10% of their train dialogues.")


def load_sdt_pickle(path: Path, name: str, dev_fraction: float = 0.1, seed: int = 0,
                    trust_pickle: bool | None = None) -> ERCData:
    """Load the SDT authors' multimodal feature pickle (``iemocap-sdt`` or ``meld-sdt``).

    Format (latin1 pickle): ``(videoIDs, videoSpeakers, videoLabels, videoText, roberta2,
    roberta3, roberta4, videoAudio, videoVisual, videoSentence, trainVid, testVid[, unused])``,
    dicts keyed by dialogue id. IEMOCAP speakers are ``'M'``/``'F'``; MELD speakers are 9-d
    one-hot vectors (a per-dialogue slot). Text is ``videoText`` (1024-d RoBERTa). Dev is a
    fixed, seeded ``dev_fraction`` of ``trainVid``.

    Raises:
        DataError: missing file, wrong tuple length, missing dialogue keys, or features of
            the wrong dimension / with NaN.
    """
    if name not in SDT_DIMS:
        raise ValueError(f"unknown SDT dataset {name!r}; expected one of {list(SDT_DIMS)}")
    _require(path, "the SDT authors' feature pickle (Google Drive link in butterfliesss/SDT's README)")
    content = load_pickle(path, trust_pickle)
    expected_len = 12 if name == "iemocap-sdt" else 13
    if not isinstance(content, (tuple, list)) or len(content) not in (12, 13):
        raise DataError(f"{path}: expected a {expected_len}-tuple, got {type(content).__name__} of length {len(content)}")
    (ids, speakers, labels, text, _r2, _r3, _r4, audio, visual, sentences, train_vid, test_vid) = content[:12]
    label_names = IEMOCAP_LABELS if name == "iemocap-sdt" else MELD_LABELS

    def make(vid) -> Dialogue:
        try:
            spk = speakers[vid]
            names = [str(s) if isinstance(s, str) else f"slot{int(np.argmax(s))}" for s in spk]
            if name == "iemocap-sdt":
                names = [f"{str(vid)[:5]}_{s}" for s in names]
            else:
                names = [f"{vid}_{s}" for s in names]
            return Dialogue(
                dialogue_id=str(vid), speakers=names,
                texts=[clean_text(str(s)) for s in sentences[vid]],
                labels=np.asarray(labels[vid], dtype=np.int64),
                features={"text": np.asarray(text[vid], dtype=np.float32),
                          "audio": np.asarray(audio[vid], dtype=np.float32),
                          "visual": np.asarray(visual[vid], dtype=np.float32)})
        except KeyError as e:
            raise DataError(f"{path}: dialogue {vid!r} is missing from field {e}") from None

    train = [make(v) for v in sorted(train_vid)]
    test = [make(v) for v in sorted(test_vid)]
    train, dev = split_dev(train, dev_fraction, seed)
    return ERCData(name, label_names, {"train": train, "dev": dev, "test": test}, notes=SDT_NOTES).validate(SDT_DIMS[name])


# ----------------------------------------------------------------------------- registry
DATASETS = ("iemocap", "meld", "emorynlp", "mosi", "mosi-clean", "iemocap-sdt", "meld-sdt")
#: Datasets whose dev split cannot rank settings: an input was trained on the videos dev is carved from.
SATURATED_DEV = {"mosi": "the bc-LSTM text and visual extractors were trained on the training videos, so dev "
                          "(carved from them) is saturated (weighted F1 98-100); use mosi-clean"}


def load_dataset(name: str, root: str | Path | None = None, trust_pickle: bool | None = None) -> ERCData:
    """Load a dataset by name (one of :data:`DATASETS`) from ``root`` (default
    :func:`erc_lib.paths.data_dir`, i.e. ``ERC_DATA_DIR``). Pickles are read without running
    code unless ``trust_pickle`` (or ``ERC_TRUST_PICKLES=1``) says they are trusted
    (:func:`load_pickle`).

    Raises:
        ValueError: unknown name.
        DataError: a missing file (the message names it and its source) or malformed data;
            :class:`UnsafePickleError` for a pickle that would run code.
    """
    root = Path(root) if root is not None else data_dir()
    if name == "iemocap":
        return load_iemocap(root, trust_pickle)
    if name == "meld":
        return load_meld(root)
    if name == "emorynlp":
        return load_emorynlp(root)
    if name == "mosi":
        return load_mosi(root, trust_pickle=trust_pickle)
    if name == "mosi-clean":
        return load_mosi_clean(root, trust_pickle=trust_pickle)
    if name == "iemocap-sdt":
        return load_sdt_pickle(root / "sdt" / "iemocap_multimodal_features.pkl", name, trust_pickle=trust_pickle)
    if name == "meld-sdt":
        return load_sdt_pickle(root / "sdt" / "meld_multimodal_features.pkl", name, trust_pickle=trust_pickle)
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")


def available_datasets(root: str | Path | None = None) -> list[str]:
    """Names of the datasets whose files are present under ``root``."""
    root = Path(root) if root is not None else data_dir()
    marker = {
        "iemocap": "iemocap/cosmic/iemocap.pkl", "meld": "meld/official/train_sent_emo.csv",
        "emorynlp": "emorynlp/compm/EMORY_train.txt", "mosi": "mosi/bclstm/audio_2way.pickle",
        "mosi-clean": "mosi/cmu_mosi_standard_folds.json",
        "iemocap-sdt": "sdt/iemocap_multimodal_features.pkl", "meld-sdt": "sdt/meld_multimodal_features.pkl",
    }
    return [n for n in DATASETS if (root / marker[n]).exists()]


# ----------------------------------------------------------------------------- batching
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
    from torch.nn.utils.rnn import pad_sequence

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


def main(argv: list[str] | None = None) -> None:
    """``python -m erc_lib.data convert PATH [--trust]``: write the pickle-free copy of an
    authors'-format pickle (:func:`convert_pickle`) that later runs read instead."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m erc_lib.data", description=main.__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="write <pickle>.safe.npz beside a feature pickle")
    convert.add_argument("path", type=Path)
    convert.add_argument("--trust", action="store_true", help="the pickle may use other classes: load it as is")
    args = parser.parse_args(argv)
    print("wrote", convert_pickle(args.path, trust_pickle=args.trust))


if __name__ == "__main__":
    main()
