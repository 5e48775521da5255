"""The SDT authors' pickles (erc_lib/data/sdt_pickles.py): small files in exactly their format,
every row read back, the seeded dev hold-out and the errors that name the problem."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from data_files import write_sdt_pickle
from erc_lib.data import SDT_NOTES, DataError, load_dataset, load_sdt_pickle


@pytest.mark.parametrize("kind", ["iemocap", "meld"])
def test_sdt_pickle_loader(tmp_path, kind):
    (tmp_path / "sdt").mkdir()
    write_sdt_pickle(tmp_path / "sdt" / f"{kind}_multimodal_features.pkl", kind)
    data = load_dataset(f"{kind}-sdt", root=tmp_path)
    assert data.modalities == ["text", "audio", "visual"]
    assert data.feature_dims() == {"text": 1024, "audio": 1582 if kind == "iemocap" else 300, "visual": 342}
    assert len(data.splits["test"]) == 3 and len(data.splits["train"]) + len(data.splits["dev"]) == 10
    assert len(data.splits["dev"]) == 1
    d = data.splits["test"][0]
    assert d.speaker_index.tolist()[:2] == [0, 1]


def test_sdt_pickle_loader_rejects_wrong_dims(tmp_path):
    (tmp_path / "sdt").mkdir()
    write_sdt_pickle(tmp_path / "sdt" / "iemocap_multimodal_features.pkl", "iemocap", text_dim=768)
    with pytest.raises(DataError, match="768-d, expected 1024-d"):
        load_dataset("iemocap-sdt", root=tmp_path)


def _sdt_pickle_by_hand(path, kind: str, n_extra: int = 0) -> dict:
    """A small pickle in the SDT authors' format (shared data README, 'Official SDT feature pickle
    format'), every value chosen so that a row's origin can be read back: utterance ``u`` of dialogue
    number ``k`` has text features ``k + u / 10``, audio ``-(k + u / 10)``, visual ``100 + k + u / 10``.
    Dialogue ids are listed out of order in trainVid / testVid. Returns what each row must be."""
    audio_dim = 1582 if kind == "iemocap" else 300
    if kind == "iemocap":
        train = ["Ses02F_impro01", "Ses01M_script01_1", "Ses03F_impro02", "Ses04M_script02_2", "Ses01F_impro05",
                 "Ses02M_impro03", "Ses03M_script03_1", "Ses04F_impro07", "Ses01M_impro02", "Ses02F_script01_2"]
        test = ["Ses05M_impro01", "Ses05F_impro03"]
        speaker_of = lambda k, u: "MF"[(k + u) % 2]
    else:
        train, test = [7, 3, 12, 1, 9, 4, 15, 0, 11, 6], [21, 20]
        speaker_of = lambda k, u: list(np.eye(9)[(k + u) % 3])
    train = train + [f"Ses04F_script9{k}" if kind == "iemocap" else 100 + k for k in range(n_extra)]
    ids = train + test
    number = {v: k for k, v in enumerate(ids)}
    length = {v: 2 + k % 3 for k, v in enumerate(ids)}
    speakers = {v: [speaker_of(number[v], u) for u in range(length[v])] for v in ids}
    labels = {v: [(number[v] + u) % 6 for u in range(length[v])] for v in ids}
    value = lambda v, u: number[v] + u / 10
    text = {v: np.array([[value(v, u)] * 1024 for u in range(length[v])]) for v in ids}
    audio = {v: np.array([[-value(v, u)] * audio_dim for u in range(length[v])]) for v in ids}
    visual = {v: np.array([[100 + value(v, u)] * 342 for u in range(length[v])]) for v in ids}
    sentences = {v: [f"d{number[v]} u{u} it\x92s" for u in range(length[v])] for v in ids}
    zeros = {v: np.zeros((length[v], 1024)) for v in ids}
    fields = [ids, speakers, labels, text, zeros, zeros, zeros, audio, visual, sentences, train, test]
    if kind == "meld":
        fields.append(None)
    with open(path, "wb") as f:
        pickle.dump(tuple(fields), f, protocol=2)
    return {"train": train, "test": test, "number": number, "length": length, "labels": labels}


@pytest.mark.parametrize("kind", ["iemocap", "meld"])
def test_sdt_pickle_known_rows_and_splits(tmp_path, kind):
    """Every utterance of every dialogue reads back its own features, label, speaker and sentence;
    test = testVid, train + dev = trainVid (dev 10 %: one of ten), each split sorted by dialogue id."""
    (tmp_path / "sdt").mkdir()
    truth = _sdt_pickle_by_hand(tmp_path / "sdt" / f"{kind}_multimodal_features.pkl", kind)
    data = load_dataset(f"{kind}-sdt", root=tmp_path)
    ids = {s: [d.dialogue_id for d in data.splits[s]] for s in ("train", "dev", "test")}
    assert ids["test"] == (["Ses05F_impro03", "Ses05M_impro01"] if kind == "iemocap" else ["20", "21"])
    assert len(ids["dev"]) == 1 and len(ids["train"]) == 9
    # dev: train_test_split(sorted trainVid, test_size=0.1, random_state=0) holds out the third (index 2)
    assert ids["dev"] == (["Ses01M_script01_1"] if kind == "iemocap" else ["3"])
    assert sorted(ids["train"] + ids["dev"]) == sorted(str(v) for v in truth["train"])
    key = (lambda x: x) if kind == "iemocap" else int
    assert ids["train"] == sorted(ids["train"], key=key)
    assert data.label_names == (IEMOCAP_NAMES if kind == "iemocap" else MELD_NAMES)
    assert data.name == f"{kind}-sdt" and data.notes == SDT_NOTES
    assert all(x.dtype == np.float32 for s in data.splits.values() for d in s for x in d.features.values())
    by_id = {str(v): v for v in truth["number"]}
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            v = by_id[d.dialogue_id]
            k, n = truth["number"][v], truth["length"][v]
            assert len(d) == n
            for u in (0, n - 1):
                assert np.allclose(d.features["text"][u], k + u / 10)
                assert np.allclose(d.features["audio"][u], -(k + u / 10))
                assert np.allclose(d.features["visual"][u], 100 + k + u / 10)
                assert int(d.labels[u]) == (k + u) % 6
                assert d.texts[u] == f"d{k} u{u} it's"
                if kind == "iemocap":
                    assert d.speakers[u] == f"{d.dialogue_id[:5]}_{'MF'[(k + u) % 2]}"
                else:
                    assert d.speakers[u] == f"{d.dialogue_id}_slot{(k + u) % 3}"


IEMOCAP_NAMES = ["happy", "sad", "neutral", "angry", "excited", "frustrated"]


MELD_NAMES = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]


def test_sdt_pickle_errors_name_the_problem(tmp_path):
    """A tuple of the wrong length, a dialogue missing from a field and an unknown name are refused
    with a message that names them."""
    path = tmp_path / "x.pkl"
    with open(path, "wb") as f:
        pickle.dump((1, 2, 3), f, protocol=2)
    with pytest.raises(DataError, match="expected a 12-tuple, got tuple of length 3"):
        load_sdt_pickle(path, "iemocap-sdt")
    with pytest.raises(DataError, match="expected a 13-tuple"):
        load_sdt_pickle(path, "meld-sdt")
    truth = _sdt_pickle_by_hand(path, "iemocap")
    content = pickle.load(open(path, "rb"))
    del content[8][truth["test"][0]]  # visual of one test dialogue
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=2)
    with pytest.raises(DataError, match=f"dialogue '{truth['test'][0]}' is missing from field"):
        load_sdt_pickle(path, "iemocap-sdt")
    with pytest.raises(ValueError, match="unknown SDT dataset"):
        load_sdt_pickle(path, "mosi-sdt")


@pytest.mark.parametrize("kind", ["iemocap", "meld"])
def test_sdt_dev_holdout_is_seed_0_of_scikit_learn(tmp_path, kind):
    """With 20 train dialogues, train_test_split(sorted ids, test_size=0.1, random_state=0) holds out the
    2nd and 19th (indices 1 and 18); another seed holds out others (seed 1: indices 3 and 16)."""
    (tmp_path / "sdt").mkdir()
    truth = _sdt_pickle_by_hand(tmp_path / "sdt" / f"{kind}_multimodal_features.pkl", kind, n_extra=10)
    data = load_dataset(f"{kind}-sdt", root=tmp_path)
    ordered = sorted(truth["train"])
    assert [d.dialogue_id for d in data.splits["dev"]] == [str(ordered[1]), str(ordered[18])]
