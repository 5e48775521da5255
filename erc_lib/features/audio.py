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

The Berlin EmoDB file list (the speech used to compare the feature sets) is
:func:`erc_lib.data.emodb.load_emodb`; the leave-speakers-out audio classifier and notebook 02's
feature-set study are in :mod:`erc_lib.studies.audio`.
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
from joblib import Parallel, delayed

from ..data import DataError
from ..paths import atomic_write
from ..paths import cache_dir as default_cache_dir
from ..runtime import progress_bar

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
    import opensmile  # optional heavy dependency: only feature extraction needs it

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
    import opensmile  # optional heavy dependency: only feature extraction needs it

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
    import audiofile  # optional: installed with opensmile, only reading wav files needs it

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
    import opensmile  # optional heavy dependency: only feature extraction needs it

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
