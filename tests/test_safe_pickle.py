"""Pickles read without running code (erc_lib/data/safe_pickle.py), through every loader that reads one."""
from __future__ import annotations

import collections
import pickle

import pytest

from data_files import write_mosi_toy
from erc_lib.data import UnsafePickleError, load_dataset


@pytest.mark.parametrize("name", ["iemocap", "mosi", "mosi-clean", "iemocap-sdt", "meld-sdt"])
def test_trust_pickle_false_wins_over_the_environment(tmp_path, monkeypatch, name):
    """``trust_pickle=False`` refuses a pickle that asks for a class outside the allow-list even when
    ERC_TRUST_PICKLES=1 says every pickle is trusted (the argument decides, then the environment)."""
    write_mosi_toy(tmp_path)
    unsafe = (collections.Counter("ab"),) * 7
    for path in (tmp_path / "iemocap" / "cosmic" / "iemocap.pkl", tmp_path / "mosi" / "bclstm" / "audio_2way.pickle",
                 tmp_path / "sdt" / "iemocap_multimodal_features.pkl", tmp_path / "sdt" / "meld_multimodal_features.pkl"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(unsafe, f, protocol=2)
    monkeypatch.setenv("ERC_TRUST_PICKLES", "1")
    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        load_dataset(name, root=tmp_path, trust_pickle=False)
