"""Utterance-level acoustic features: openSMILE functionals over wav files or arrays, cached.

SDT (seed ``000``, Sec. 3.1 and Table 2) describes each utterance by openSMILE functionals;
the original SDT uses IS10 (1582-d) on IEMOCAP and the reproduction compares eGeMAPSv02 and
emobase (Table 6). This module extracts any :class:`opensmile.FeatureSet` at the
*functionals* level (one fixed-size vector per file), in parallel over files, and caches
the result per file set and feature set.

Feature sets of the installed ``opensmile`` 2.6 (``FEATURE_DIMS`` lists their sizes):

=================  =====  =========================================================
name               dim    notes
=================  =====  =========================================================
``eGeMAPSv02``       88   extended Geneva minimalistic set (recommended eGeMAPS)
``eGeMAPSv01b``      88   older eGeMAPS revisions (``eGeMAPS`` = v01a, deprecated)
``GeMAPSv01b``       62   GeMAPS (``GeMAPS`` = v01a, deprecated)
``emobase``         988   classic emotion set
``IS09``            384   INTERSPEECH 2009 Emotion Challenge (``IS09_emotion``)
``IS10``           1582   INTERSPEECH 2010 Paralinguistics (``IS10_paraling_compat``),
                          the set of the SDT/COSMIC IEMOCAP audio features
``IS11``           4368   INTERSPEECH 2011 Speaker State
``IS12``           6125   INTERSPEECH 2012 Speaker Trait
``IS13``           6373   INTERSPEECH 2013 ComParE (same size as ComParE_2016)
``ComParE_2016``   6373   ComParE 2016
=================  =====  =========================================================

openSMILE works at any sampling rate; signals are read as they are (no resampling),
multi-channel audio is mixed down to mono.

Bad input raises :class:`AudioFileError` (a :class:`erc_lib.data.DataError`) naming the
file: unreadable or corrupt bytes, an empty signal (no samples), a silent signal (peak
amplitude below ``silence_threshold``, default 1e-4 of full scale), non-finite samples,
or a signal shorter than ``min_seconds`` (default 0.1 s).

Also here: :func:`load_emodb`, the Berlin EmoDB file list (the speech used to compare the
feature sets), and :func:`speaker_cv`, an audio-only classifier (linear SVM or logistic regression) under leave-speakers-out
cross-validation.
"""
from __future__ import annotations

import hashlib
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..data import DataError
from ..runtime import progress_bar
from ..paths import atomic_write
from ..paths import cache_dir as default_cache_dir
from ..paths import data_dir

FEATURE_DIMS = {"eGeMAPSv02": 88, "eGeMAPSv01b": 88, "eGeMAPS": 88, "GeMAPSv01b": 62, "GeMAPS": 62,
                "emobase": 988, "IS09": 384, "IS10": 1582, "IS11": 4368, "IS12": 6125, "IS13": 6373,
                "ComParE_2016": 6373}
"""Functionals size per ``opensmile.FeatureSet`` name (measured with opensmile 2.6)."""

SILENCE_THRESHOLD = 1e-4
MIN_SECONDS = 0.1


class AudioFileError(DataError):
    """A wav file or array that cannot give features: unreadable/corrupt, empty, silent,
    non-finite or too short. The message names the file (``.source``)."""

    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason
        super().__init__(f"{source}: {reason}")


# ----------------------------------------------------------------------------- feature sets
def feature_set(name) -> "opensmile.FeatureSet":  # noqa: F821
    """``"eGeMAPSv02"`` / ``"egemaps"`` / ``"IS10"`` / an ``opensmile.FeatureSet`` -> the enum member.

    Names are matched case-insensitively; ``"IS09_emotion"`` and ``"IS10_paraling"`` are
    accepted for ``IS09`` / ``IS10``; ``"eGeMAPS"`` without a version means ``eGeMAPSv02``.

    Raises:
        ValueError: unknown name (the message lists the available sets).
    """
    import opensmile

    if isinstance(name, opensmile.FeatureSet):
        return name
    members = {m.name.lower(): m for m in opensmile.FeatureSet}
    aliases = {"egemaps": "egemapsv02", "is09_emotion": "is09", "is10_paraling": "is10",
               "is10_paraling_compat": "is10", "compare": "compare_2016", "compare2016": "compare_2016"}
    key = str(name).strip().lower()
    key = aliases.get(key, key)
    if key not in members:
        raise ValueError(f"unknown openSMILE feature set {name!r}; available: {[m.name for m in opensmile.FeatureSet]}")
    return members[key]


@lru_cache(maxsize=None)
def _smile(set_name: str):
    import opensmile

    return opensmile.Smile(feature_set=feature_set(set_name), feature_level=opensmile.FeatureLevel.Functionals)


def feature_names(set_name) -> list[str]:
    """The openSMILE functional names of a feature set (``len == FEATURE_DIMS[name]``)."""
    return list(_smile(feature_set(set_name).name).feature_names)


# ----------------------------------------------------------------------------- signals
def check_signal(signal: np.ndarray, sampling_rate: int, source: str = "<array>",
                 silence_threshold: float = SILENCE_THRESHOLD, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """Validate and mix down a signal; return it as mono float32 ``(n_samples,)``.

    Args:
        signal: ``(n_samples,)`` or ``(channels, n_samples)`` samples in [-1, 1].
        sampling_rate: Hz (any positive rate).
        source: a name for error messages (the file path).

    Raises:
        AudioFileError: empty, non-finite, too short, or silent (peak < ``silence_threshold``).
    """
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise AudioFileError(source, f"expected a 1-D or (channels, samples) signal, got shape {np.shape(signal)}")
    if not sampling_rate or sampling_rate <= 0:
        raise AudioFileError(source, f"bad sampling rate {sampling_rate!r}")
    if x.size == 0:
        raise AudioFileError(source, "empty audio (0 samples)")
    if not np.isfinite(x).all():
        raise AudioFileError(source, "audio contains NaN or inf samples")
    if x.size / sampling_rate < min_seconds:
        raise AudioFileError(source, f"audio too short ({x.size / sampling_rate:.3f} s < {min_seconds} s)")
    peak = float(np.abs(x).max())
    if peak < silence_threshold:
        raise AudioFileError(source, f"silent audio (peak amplitude {peak:.2e} < {silence_threshold:.0e})")
    return x


def read_wav(path: str | Path, **check) -> tuple[np.ndarray, int]:
    """Read an audio file (any format libsndfile reads) -> ``(mono float32 signal, sampling_rate)``.

    Raises:
        AudioFileError: missing, unreadable/corrupt, empty or silent file (see :func:`check_signal`).
    """
    import audiofile

    path = str(path)
    if not os.path.isfile(path):
        raise AudioFileError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    try:
        signal, sr = audiofile.read(path, always_2d=True)
    except Exception as err:  # libsndfile / audiofile raise several types for bad bytes
        raise AudioFileError(path, f"cannot read audio ({type(err).__name__}: {err})") from err
    return check_signal(signal, sr, path, **check), int(sr)


def extract_signal(signal: np.ndarray, sampling_rate: int, set_name="eGeMAPSv02", source: str = "<array>") -> np.ndarray:
    """openSMILE functionals of one signal -> float32 ``(FEATURE_DIMS[set_name],)``.

    Raises:
        AudioFileError: bad signal (see :func:`check_signal`) or non-finite features.
    """
    x = check_signal(signal, sampling_rate, source)
    feats = _smile(feature_set(set_name).name).process_signal(x, sampling_rate).to_numpy(np.float32)[0]
    if not np.isfinite(feats).all():
        raise AudioFileError(source, f"openSMILE {set_name} gave NaN/inf features")
    return feats


def _extract_one(item, set_name: str) -> tuple[np.ndarray, float]:
    """(features, duration in seconds) of a path or a ``(signal, sampling_rate[, name])`` tuple."""
    if isinstance(item, (str, Path)):
        source = str(item)
        x, sr = read_wav(source)
    else:
        source = item[2] if len(item) > 2 else "<array>"
        x, sr = check_signal(item[0], item[1], source), item[1]
    return extract_signal(x, sr, set_name, source), len(x) / sr


def _extract_chunk(items: Sequence, set_name: str) -> list[tuple[np.ndarray, float]]:
    return [_extract_one(it, set_name) for it in items]


# ----------------------------------------------------------------------------- cache
def _cache_key(items: Sequence, set_name: str) -> str:
    """Hash of the inputs' content (every file's bytes, or the array bytes), the feature set
    and the opensmile version: a file edited or replaced in place gives a new key."""
    import opensmile

    h = hashlib.sha1(f"{set_name}|func|opensmile{opensmile.__version__}".encode())
    for item in items:
        if isinstance(item, (str, Path)):
            p = Path(item).resolve()
            h.update(f"{p.name}|".encode() + (hashlib.sha1(p.read_bytes()).digest() if p.exists() else b"missing"))
        else:
            x, sr = item[0], item[1]
            h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes() + f"|{sr}\n".encode())
    return h.hexdigest()[:16]


def audio_cache_path(items: Sequence, set_name="eGeMAPSv02", folder: str | Path | None = None) -> Path:
    """Where :func:`extract_functionals` caches ``items`` under ``set_name``:
    ``<cache>/audio_<set>_<n>files_<hash>.npz``; the hash covers every file's content (or the
    array bytes), the feature set and the opensmile version."""
    name = feature_set(set_name).name
    folder = Path(folder) if folder is not None else default_cache_dir()
    return folder / f"audio_{name}_{len(items)}files_{_cache_key(items, name)}.npz"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``(features, durations)`` from an audio cache file, or None when absent or damaged (a
    damaged file is reported with its path and deleted, so it is rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["features"], z["durations"]
    except Exception as e:  # noqa: BLE001 - truncated zip, missing arrays
        warnings.warn(f"audio feature cache {path} is damaged ({type(e).__name__}: {e}); deleting it and "
                      "extracting again", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def extract_functionals(items: Sequence, set_name="eGeMAPSv02", n_jobs: int = -1, cache: bool = True,
                        cache_dir: str | Path | None = None, progress: bool = True,
                        backend: str = "threads") -> pd.DataFrame:
    """openSMILE functionals for many files or arrays, in parallel, cached.

    Args:
        items: wav paths, or ``(signal, sampling_rate)`` / ``(signal, sampling_rate, name)``
            tuples (any sampling rate; ``signal`` ``(n_samples,)`` or ``(channels, n_samples)``).
        set_name: an ``opensmile.FeatureSet`` or its name (see :func:`feature_set`).
        n_jobs: worker processes (joblib; ``-1`` all cores, ``1`` in-process).
        cache: read/write ``audio_cache_path(items, set_name, cache_dir)``.
        progress: tqdm bar over files.

    Returns:
        DataFrame ``(len(items), FEATURE_DIMS[set])`` float32, columns = openSMILE feature
        names, index = the paths (or the array names / positions). ``df.attrs`` holds
        ``feature_set``, ``from_cache`` (bool), ``seconds`` (wall time of this extraction;
        for a cache hit the time of reading the cache) and ``audio_seconds`` (total duration).

    Raises:
        AudioFileError: the first bad file (named in the message).
        ValueError: no items or an unknown feature set.
    """
    from joblib import Parallel, delayed

    items = list(items)
    if not items:
        raise ValueError("extract_functionals: no files or signals given")
    name = feature_set(set_name).name
    index = [str(it) if isinstance(it, (str, Path)) else (it[2] if len(it) > 2 else str(i))
             for i, it in enumerate(items)]
    path = audio_cache_path(items, name, cache_dir) if cache else None
    t0 = time.perf_counter()
    cached = _read_cache(path) if path is not None else None
    if cached is not None:
        values, durations = cached
        from_cache = True
    else:
        n_jobs = 1 if len(items) < 8 else n_jobs
        bar = progress_bar(total=len(items), desc=f"openSMILE {name}", disable=not progress, leave=False)
        if n_jobs == 1:
            out = []
            for it in items:
                out.append(_extract_one(it, name))
                bar.update()
        else:  # chunks of files per task: one openSMILE object per worker, little dispatch overhead
            size = max(1, min(32, len(items) // (4 * (os.cpu_count() or 1)) or 1))
            chunks = [items[i:i + size] for i in range(0, len(items), size)]
            out = []
            for res in Parallel(n_jobs=n_jobs, prefer=backend, return_as="generator")(delayed(_extract_chunk)(c, name) for c in chunks):
                out.extend(res)
                bar.update(len(res))
        bar.close()
        values = np.stack([f for f, _ in out]).astype(np.float32)
        durations = np.array([d for _, d in out], dtype=np.float64)
        from_cache = False
        if path is not None:
            atomic_write(path, lambda tmp: np.savez(tmp, features=values, durations=durations))
    df = pd.DataFrame(values, index=index, columns=feature_names(name))
    df.attrs.update(feature_set=name, from_cache=from_cache, seconds=time.perf_counter() - t0,
                    audio_seconds=float(durations.sum()))
    return df


def time_extraction(paths: Sequence[str | Path], set_name="eGeMAPSv02", repeats: int = 1) -> dict:
    """Time a fresh, single-process, uncached extraction of ``paths``.

    Returns ``{"feature_set", "files", "audio_seconds", "seconds", "seconds_per_audio_second",
    "files_per_second", "dim"}`` (best of ``repeats``); the openSMILE object is built before
    the clock starts, reading the wav files is included.
    """
    name = feature_set(set_name).name
    _smile(name)  # build outside the timed region
    best = None
    for _ in range(repeats):
        df = extract_functionals(paths, name, n_jobs=1, cache=False, progress=False)
        best = df.attrs["seconds"] if best is None else min(best, df.attrs["seconds"])
    audio = df.attrs["audio_seconds"]
    return {"feature_set": name, "files": len(paths), "audio_seconds": audio, "seconds": best,
            "seconds_per_audio_second": best / audio, "files_per_second": len(paths) / best, "dim": df.shape[1]}


# ----------------------------------------------------------------------------- EmoDB
EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                  "T": "sadness", "N": "neutral"}
"""EmoDB emotion letter (6th character of the file name) -> emotion."""


def load_emodb(root: str | Path | None = None) -> pd.DataFrame:
    """The Berlin EmoDB files as a DataFrame with columns ``path``, ``speaker``, ``text``,
    ``emotion`` (English name), ``letter``, sorted by file name.

    File names are ``SSTTTEV.wav``: speaker ``SS``, text code ``TTT``, emotion letter ``E``
    (see :data:`EMODB_EMOTIONS`), version ``V``.

    Args:
        root: the folder with the wav files (default ``data_dir()/emodb/wav``); a folder
            holding a ``wav/`` sub-folder works too.

    Raises:
        DataError: missing folder, no wav files, or a file name that does not follow the scheme.
    """
    folder = Path(root) if root is not None else data_dir() / "emodb" / "wav"
    if (folder / "wav").is_dir():
        folder = folder / "wav"
    if not folder.is_dir():
        raise DataError(f"EmoDB folder {folder} not found (expected <ERC_DATA_DIR>/emodb/wav/*.wav; set ERC_DATA_DIR)")
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise DataError(f"no .wav files in EmoDB folder {folder}")
    rows = []
    for f in files:
        stem = f.stem
        if len(stem) < 7 or stem[5] not in EMODB_EMOTIONS or not stem[:2].isdigit():
            raise DataError(f"{f}: not an EmoDB file name (SSTTTEV.wav with emotion letter in {sorted(EMODB_EMOTIONS)})")
        rows.append({"path": str(f), "speaker": stem[:2], "text": stem[2:5], "emotion": EMODB_EMOTIONS[stem[5]],
                     "letter": stem[5]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- audio-only classifier
def speaker_cv(features: np.ndarray, labels: Sequence, speakers: Sequence, label_names: list[str],
               C_grid: Sequence[float] = (0.01, 0.1, 1.0), classifier: str = "svm", inner_folds: int = 3,
               progress: bool = True, seed: int = 0) -> dict:
    """Audio-only classifier under leave-one-speaker-out cross-validation.

    The classifier is ``StandardScaler -> linear SVM`` (``classifier="svm"``, sklearn ``SVC``
    with a linear kernel: fast when the feature set is much larger than the number of files,
    as for ComParE's 6373 dims) or ``StandardScaler -> LogisticRegression``
    (``classifier="logreg"``), in an sklearn ``Pipeline``. Its inverse regularisation ``C`` is
    chosen inside each training fold by an inner ``GroupKFold`` over the training speakers
    (nested CV, scored by weighted F1: the held-out speaker never takes part in any choice).
    With one value in ``C_grid`` there is no inner search.

    Args:
        features: ``(n_files, dim)``.
        labels: ``(n_files,)`` emotion names or ints; ``label_names`` fixes the class order.
        speakers: ``(n_files,)`` speaker ids, the CV groups (``LeaveOneGroupOut``).

    Returns:
        ``{"folds": DataFrame (speaker, weighted_f1, accuracy, macro_f1, C, n), "weighted_f1",
        "accuracy" (mean over folds), "weighted_f1_std", "accuracy_std" (sample std over folds),
        "confusion" (pooled over folds, rows = true), "pooled" (metrics of the pooled
        predictions), "y_true", "y_pred"}``; metrics in percent.

    Raises:
        ValueError: unknown ``classifier`` or fewer than two speakers.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold, LeaveOneGroupOut
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from ..metrics import classification_metrics

    models = {"svm": lambda: SVC(kernel="linear", random_state=seed),
              "logreg": lambda: LogisticRegression(max_iter=2000, random_state=seed)}
    if classifier not in models:
        raise ValueError(f"classifier must be one of {sorted(models)}, got {classifier!r}")
    X = np.asarray(features, dtype=np.float64)
    names = list(label_names)
    y = np.array([names.index(v) if not isinstance(v, (int, np.integer)) else int(v) for v in labels])
    groups = np.asarray(speakers)
    if len(set(groups)) < 2:
        raise ValueError("speaker_cv needs at least two speakers")
    folds, y_pred = [], np.empty_like(y)
    splits = list(LeaveOneGroupOut().split(X, y, groups))
    for train, test in progress_bar(splits, desc="speaker folds", disable=not progress, leave=False):
        pipe = Pipeline([("scale", StandardScaler()), ("clf", models[classifier]())])
        if len(C_grid) > 1:
            model = GridSearchCV(pipe, {"clf__C": list(C_grid)}, scoring="f1_weighted",
                                 cv=GroupKFold(n_splits=min(inner_folds, len(set(groups[train])))))
            model.fit(X[train], y[train], groups=groups[train])
            C = model.best_params_["clf__C"]
        else:
            model = pipe.set_params(clf__C=C_grid[0]).fit(X[train], y[train])
            C = C_grid[0]
        y_pred[test] = model.predict(X[test])
        m = classification_metrics(y[test], y_pred[test], names)
        folds.append({"speaker": str(groups[test][0]), "weighted_f1": m["weighted_f1"], "accuracy": m["accuracy"],
                      "macro_f1": m["macro_f1"], "C": C, "n": len(test)})
    folds = pd.DataFrame(folds)
    pooled = classification_metrics(y, y_pred, names)
    return {"folds": folds, "weighted_f1": folds.weighted_f1.mean(), "weighted_f1_std": folds.weighted_f1.std(),
            "accuracy": folds.accuracy.mean(), "accuracy_std": folds.accuracy.std(),
            "confusion": pooled["confusion"], "pooled": pooled, "y_true": y, "y_pred": y_pred}


# ----------------------------------------------------------------------------- the notebook-02 study
def audio_study(files: pd.DataFrame, feature_sets: Sequence[str], C_grid: Sequence[float] = (0.01, 0.1, 1.0),
                n_jobs: int = -1, timing_files: int = 100) -> dict:
    """Compare openSMILE feature sets on labelled files (notebook 02, Part 1).

    For every set: functionals of all files (:func:`extract_functionals`, parallel, cached), a
    fresh single-process timing of ``timing_files`` files spread over the list
    (:func:`time_extraction`), and the leave-one-speaker-out classifier (:func:`speaker_cv`).

    Args:
        files: ``path``, ``speaker``, ``emotion`` columns (e.g. :func:`load_emodb`).
        feature_sets: openSMILE set names.

    Returns:
        ``{"features": {set: DataFrame}, "timings": DataFrame, "cv": {set: speaker_cv result},
        "summary": DataFrame (one row per set: dim, mean/std weighted F1 and accuracy over folds,
        formatted "weighted F1"/"accuracy", pooled weighted F1, C chosen, seconds per audio second),
        "rows": one result row per set and held-out speaker, "majority_share" (percent),
        "emotions" (sorted), "best" (set with the best mean weighted F1)}``.
    """
    emotions = sorted(files.emotion.unique())
    picks = np.linspace(0, len(files) - 1, min(timing_files, len(files))).astype(int)
    timing_paths = files.path.iloc[picks].tolist()
    features, timings, cv, summary, rows = {}, [], {}, [], []
    for fs in feature_sets:
        X = extract_functionals(files.path.tolist(), fs, n_jobs=n_jobs)
        features[fs] = X
        t = time_extraction(timing_paths, fs)
        t.update(dim=X.shape[1], expected_dim=FEATURE_DIMS.get(feature_set(fs).name), cached=X.attrs["from_cache"],
                 all_files_seconds=X.attrs["seconds"])
        timings.append(t)
        cv[fs] = result = speaker_cv(X.values, files.emotion, files.speaker, emotions, C_grid=C_grid)
        rows += [{"dataset": "emodb", "model": "linear SVM (audio only)", "variant": fs, "seed": 0,
                  "split": "speaker_fold", "fold": f.speaker, "weighted_f1": f.weighted_f1, "accuracy": f.accuracy,
                  "macro_f1": f.macro_f1, "C": f.C, "n": int(f.n)} for _, f in result["folds"].iterrows()]
        summary.append({"feature_set": fs, "dim": X.shape[1], "weighted_f1_mean": result["weighted_f1"],
                        "weighted_f1_std": result["weighted_f1_std"], "accuracy_mean": result["accuracy"],
                        "accuracy_std": result["accuracy_std"], "pooled_weighted_f1": result["pooled"]["weighted_f1"],
                        "folds": len(result["folds"]),
                        "C chosen": ", ".join(f"{c:g}" for c in sorted(result["folds"].C.unique())),
                        "seconds_per_audio_second": t["seconds_per_audio_second"]})
    table = pd.DataFrame(summary)
    for m in ("weighted_f1", "accuracy"):
        table[m.replace("_", " ").replace("f1", "F1")] = [f"{a:.2f} ± {b:.2f}" for a, b in
                                                          zip(table[f"{m}_mean"], table[f"{m}_std"])]
    timing_table = pd.DataFrame(timings)[["feature_set", "dim", "expected_dim", "files", "audio_seconds", "seconds",
                                          "seconds_per_audio_second", "files_per_second", "cached", "all_files_seconds"]]
    return {"features": features, "timings": timing_table, "cv": cv, "summary": table, "rows": rows,
            "majority_share": 100 * files.emotion.value_counts(normalize=True).max(), "emotions": emotions,
            "best": table.sort_values("weighted_f1_mean", ascending=False).feature_set.iloc[0]}


def projection_2d(features: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Standardised features projected to 2-D: ``{"PCA": (n, 2), "t-SNE": (n, 2)}`` (scikit-learn;
    t-SNE perplexity ``min(30, n / 4)``, PCA initialisation, seeded)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(features)
    return {"PCA": PCA(n_components=2, random_state=seed).fit_transform(Z),
            "t-SNE": TSNE(n_components=2, perplexity=min(30, len(Z) // 4), init="pca",
                          random_state=seed).fit_transform(Z)}
