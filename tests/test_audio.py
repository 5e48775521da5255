"""openSMILE functionals (erc_lib/features/audio.py): dims on real speech, any sampling rate, bad files get a named
error, the cache equals a fresh extraction and follows file changes."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from erc_lib.data import DataError
from erc_lib.data.emodb import load_emodb
from erc_lib.features import audio as A
from erc_lib.paths import data_dir

EMODB = data_dir() / "emodb" / "wav"


def require_emodb():
    if not EMODB.is_dir():
        pytest.skip(f"EmoDB not found under {EMODB} (set ERC_DATA_DIR)")


@pytest.fixture(scope="module")
def emodb():
    require_emodb()
    return load_emodb()


# ----------------------------------------------------------------------------- openSMILE
@pytest.mark.parametrize("name", ["eGeMAPSv02", "emobase", "IS09", "IS10", "ComParE_2016"])
def test_opensmile_dims_on_real_speech(emodb, name, tmp_path):
    df = A.extract_functionals(emodb.path[:2].tolist(), name, n_jobs=1, cache=False, progress=False)
    assert df.shape == (2, A.FEATURE_DIMS[name])
    assert list(df.columns) == A.feature_names(name)
    assert np.isfinite(df.values).all() and df.values.std() > 0
    assert df.attrs["audio_seconds"] == pytest.approx(4.0, abs=0.01)  # two 2-s files


def test_feature_set_names():
    assert A.feature_set("egemaps").name == "eGeMAPSv02"
    assert A.feature_set("IS10_paraling").name == "IS10"
    assert A.feature_set("is09").name == "IS09"
    with pytest.raises(ValueError, match="available"):
        A.feature_set("IS99")


def test_arrays_any_sampling_rate(emodb):
    from scipy.signal import resample_poly

    x, sr = A.read_wav(emodb.path[0])
    assert sr == 22050
    y = resample_poly(x, 16000, 22050).astype(np.float32)
    stereo = np.stack([x, x])
    df = A.extract_functionals([(x, sr, "orig"), (y, 16000, "16k"), (stereo, sr, "stereo")], "eGeMAPSv02",
                               cache=False, progress=False)
    assert list(df.index) == ["orig", "16k", "stereo"]
    np.testing.assert_allclose(df.loc["stereo"], df.loc["orig"], rtol=1e-5)  # mixdown of identical channels
    assert np.corrcoef(df.loc["orig"], df.loc["16k"])[0, 1] > 0.99            # resampling barely moves them


def _bad_files(tmp):
    corrupt = tmp / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + os.urandom(400))
    empty = tmp / "empty.wav"
    empty.write_bytes(b"")
    no_samples = tmp / "no_samples.wav"
    sf.write(no_samples, np.zeros(0), 16000)
    silent = tmp / "silent.wav"
    sf.write(silent, np.zeros(16000), 16000)
    return {"corrupt": (corrupt, "cannot read audio"), "empty": (empty, "empty file"),
            "no_samples": (no_samples, "empty audio"), "silent": (silent, "silent audio")}


@pytest.mark.parametrize("kind", ["corrupt", "empty", "no_samples", "silent"])
def test_bad_wav_gives_named_error(tmp_path, kind, emodb):
    path, reason = _bad_files(tmp_path)[kind]
    with pytest.raises(A.AudioFileError, match=reason) as err:
        A.extract_functionals([path], "eGeMAPSv02", cache=False, progress=False)
    assert str(path) in str(err.value) and err.value.source == str(path)
    assert isinstance(err.value, DataError)
    # also when it hides among good files, processed in parallel
    files = emodb.path[:9].tolist() + [str(path)]
    with pytest.raises(A.AudioFileError, match=str(path.name)):
        A.extract_functionals(files, "eGeMAPSv02", n_jobs=2, cache=False, progress=False)


def test_bad_arrays():
    with pytest.raises(A.AudioFileError, match="silent"):
        A.extract_signal(np.full(16000, 1e-6, np.float32), 16000, source="quiet")
    with pytest.raises(A.AudioFileError, match="NaN"):
        A.extract_signal(np.full(16000, np.nan, np.float32), 16000)
    with pytest.raises(A.AudioFileError, match="too short"):
        A.extract_signal(np.ones(100, np.float32) * 0.1, 16000)
    with pytest.raises(A.AudioFileError, match="not found"):
        A.read_wav("/no/such/file.wav")


def test_audio_cache_equals_fresh(emodb, tmp_path):
    files = emodb.path[:4].tolist()
    first = A.extract_functionals(files, "emobase", n_jobs=1, cache_dir=tmp_path, progress=False)
    assert not first.attrs["from_cache"]
    assert A.audio_cache_path(files, "emobase", tmp_path).exists()
    cached = A.extract_functionals(files, "emobase", cache_dir=tmp_path, progress=False)
    fresh = A.extract_functionals(files, "emobase", cache=False, progress=False)
    assert cached.attrs["from_cache"]
    np.testing.assert_array_equal(cached.values, fresh.values)
    assert list(cached.index) == list(fresh.index) == files
    # another feature set or file list gets another cache entry
    assert A.audio_cache_path(files, "eGeMAPSv02", tmp_path) != A.audio_cache_path(files, "emobase", tmp_path)
    assert A.audio_cache_path(files[:3], "emobase", tmp_path) != A.audio_cache_path(files, "emobase", tmp_path)


def test_cache_key_tracks_file_changes(tmp_path):
    f = tmp_path / "a.wav"
    sf.write(f, 0.1 * np.sin(np.arange(16000) / 5), 16000)
    before = A.audio_cache_path([f], "IS09", tmp_path)
    sf.write(f, 0.2 * np.sin(np.arange(16001) / 5), 16000)
    assert A.audio_cache_path([f], "IS09", tmp_path) != before



