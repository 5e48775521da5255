"""The dataset table (erc_lib/data/registry.py): every loader names a missing file and its source, an
unknown name is refused, and each dataset's own marker file says it is present."""
from __future__ import annotations

import pytest

from erc_lib.data import DATASETS, DataError, available_datasets, load_dataset, registry


def test_missing_file_error_names_file_and_source(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("emorynlp", root=tmp_path)
    msg = str(err.value)
    assert "EMORY_train.txt" in msg and "rungjoo/CoMPM" in msg and "ERC_DATA_DIR" in msg
    with pytest.raises(DataError, match="iemocap_multimodal_features.pkl"):
        load_dataset("iemocap-sdt", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("nope", root=tmp_path)


@pytest.mark.parametrize("name, missing, source", [
    ("iemocap", "iemocap.pkl", "COSMIC's IEMOCAP pickle (declare-lab/conv-emotion"),
    ("meld", "train_sent_emo.csv", "MELD's official CSV (declare-lab/MELD"),
    ("mosi", "audio_2way.pickle", "bc-LSTM MOSI features (soujanyaporia/multimodal-sentiment-analysis; CSVs from jayus71"),
    ("mosi-clean", "audio_2way.pickle", "MOSI (bc-LSTM pickle and transcripts: soujanyaporia/multimodal-sentiment-analysis; "
                                        "folds: CMU-MultimodalSDK)"),
    ("emorynlp", "EMORY_train.txt", "CoMPM's EmoryNLP file (rungjoo/CoMPM, dataset/EMORY/)"),
    ("meld-sdt", "meld_multimodal_features.pkl", "the SDT authors' feature pickle (Google Drive link in butterfliesss/SDT"),
])
def test_every_loader_names_a_missing_file_and_its_source(tmp_path, name, missing, source):
    with pytest.raises(DataError) as err:
        load_dataset(name, root=tmp_path)
    assert missing in str(err.value) and f"\n  expected: {source}" in str(err.value)


def test_available_datasets_looks_for_each_datasets_own_file(tmp_path, monkeypatch):
    """The file whose presence says a dataset is there (shared data README layout), one at a time,
    in the registry's order; with no root, ERC_DATA_DIR is read."""
    markers = {"iemocap": "iemocap/cosmic/iemocap.pkl", "meld": "meld/official/train_sent_emo.csv",
               "emorynlp": "emorynlp/compm/EMORY_train.txt", "mosi": "mosi/bclstm/audio_2way.pickle",
               "mosi-clean": "mosi/cmu_mosi_standard_folds.json",
               "iemocap-sdt": "sdt/iemocap_multimodal_features.pkl", "meld-sdt": "sdt/meld_multimodal_features.pkl"}
    assert available_datasets(tmp_path) == []
    for name, rel in markers.items():
        root = tmp_path / name
        (root / rel).parent.mkdir(parents=True)
        (root / rel).write_text("x")
        assert available_datasets(root) == [name], name
        assert available_datasets(str(root)) == [name]
    for rel in markers.values():
        (tmp_path / "all" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "all" / rel).write_text("x")
    assert available_datasets(tmp_path / "all") == list(markers)
    monkeypatch.setenv("ERC_DATA_DIR", str(tmp_path / "meld"))
    assert available_datasets() == ["meld"]


def test_each_name_calls_its_own_loader_with_the_root_and_the_trust_flag(tmp_path, monkeypatch):
    """The table, written out by hand: which loader each name calls and with which arguments (the SDT
    pickles by their path under ``sdt/``; MELD and EmoryNLP read no pickle, so they get no trust flag).
    DATASETS is the table's order."""
    calls = []
    for loader in ("load_iemocap", "load_meld", "load_emorynlp", "load_mosi", "load_mosi_clean", "load_sdt_pickle"):
        monkeypatch.setattr(registry, loader, lambda *args, _name=loader, **kw: calls.append((_name, args, kw)) or _name)
    expected = {
        "iemocap": ("load_iemocap", (tmp_path, "T"), {}),
        "meld": ("load_meld", (tmp_path,), {}),
        "emorynlp": ("load_emorynlp", (tmp_path,), {}),
        "mosi": ("load_mosi", (tmp_path,), {"trust_pickle": "T"}),
        "mosi-clean": ("load_mosi_clean", (tmp_path,), {"trust_pickle": "T"}),
        "iemocap-sdt": ("load_sdt_pickle", (tmp_path / "sdt" / "iemocap_multimodal_features.pkl", "iemocap-sdt"),
                        {"trust_pickle": "T"}),
        "meld-sdt": ("load_sdt_pickle", (tmp_path / "sdt" / "meld_multimodal_features.pkl", "meld-sdt"),
                     {"trust_pickle": "T"}),
    }
    assert DATASETS == tuple(expected) == tuple(registry.REGISTRY)
    for name, call in expected.items():
        calls.clear()
        assert load_dataset(name, root=str(tmp_path), trust_pickle="T") == call[0]
        assert calls == [call], name
    for bad in ("IEMOCAP", "", ["iemocap"]):
        with pytest.raises(ValueError, match="unknown dataset"):
            load_dataset(bad, root=tmp_path)
