"""CMU-MOSI (binary sentiment): ``mosi`` on the bc-LSTM features and split, ``mosi-clean`` on the
SDK's standard folds with the bc-LSTM audio and the transcripts."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

from .records import DataError, Dialogue, ERCData, clean_text, require_file, split_dev
from .safe_pickle import load_pickle

MOSI_LABELS = ["negative", "positive"]
MOSI_NOTES = (
    "CMU-MOSI, bc-LSTM 62/31 video split (only 7 of its 31 test videos are in the SDK's "
    "standard test fold; test is 62% positive vs 49% in train). The text and visual feature "
    "extractors were trained on the training videos, so dev scores carved from train are "
    "inflated for text/visual; test videos were not seen by them."
)


def read_feature_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
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
    audio_pkl = load_pickle(require_file(base / "audio_2way.pickle", what), trust_pickle)
    tr_audio, tr_lab, te_audio, te_lab, _max_len, tr_len, te_len = audio_pkl
    per_split = {}
    for split, audio, lab, lengths in (("train", tr_audio, tr_lab, tr_len), ("test", te_audio, te_lab, te_len)):
        _check_finite_videos(audio, lengths, split, base / "audio_2way.pickle")
        flat_audio = np.concatenate([audio[i, :n] for i, n in enumerate(lengths)])
        flat_lab = np.concatenate([lab[i, :n] for i, n in enumerate(lengths)]).astype(np.int64)
        csvs = {m: read_feature_csv(require_file(base / f"{m}_{split}.csv", what)) for m in ("audio", "text", "video")}
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
    audio_pkl = load_pickle(require_file(base / "bclstm" / "audio_2way.pickle", what), trust_pickle)
    transcripts = _read_mosi_transcripts(require_file(base / "bclstm" / "transcripts.csv", what))
    folds_path = require_file(base / "cmu_mosi_standard_folds.json", what)
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
