"""Data layer: split counts on the real data, load-time checks, the SDT-pickle loader,
MOSI row alignment, and padding/collation."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from erc_lib.data import (DataError, Dialogue, DialogueDataset, ERCData, clean_text, collate_dialogues,
                          load_dataset, mosi_csv_order, standardize_features)
from conftest import require_dataset


def _counts(data):
    return {s: (v["dialogues"], v["utterances"]) for s, v in data.summary().items()}


def test_iemocap_split_counts():
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    assert {s: c[0] for s, c in _counts(data).items()} == {"train": 108, "dev": 12, "test": 31}
    assert sum(c[1] for c in _counts(data).values()) == 7433
    assert _counts(data)["test"][1] == 1623
    assert data.n_classes == 6
    # SDT's hard-coded IEMOCAP class weights are the inverse train(+dev) frequencies 504/839/1324/933/742/1468
    labels = np.concatenate([d.labels for s in ("train", "dev") for d in data.splits[s]])
    assert np.bincount(labels).tolist() == [504, 839, 1324, 933, 742, 1468]
    # speakers are session-level identities
    assert set(data.speaker_vocab()) == {f"Ses0{k}_{g}" for k in range(1, 6) for g in "MF"}


def test_meld_split_counts_and_text_cleaning():
    require_dataset("meld")
    data = load_dataset("meld")
    assert {s: c[1] for s, c in _counts(data).items()} == {"train": 9989, "dev": 1109, "test": 2610}
    assert sum(c[0] for c in _counts(data).values()) == 1432
    texts = [t for d in data.splits["train"] for t in d.texts]
    assert not any(ch in t for t in texts for ch in "\u2019\x92\u2026")
    assert "Chandler" in data.speaker_vocab()


def test_emorynlp_split_counts():
    require_dataset("emorynlp")
    data = load_dataset("emorynlp")
    assert _counts(data) == {"train": (713, 9934), "dev": (99, 1344), "test": (85, 1328)}
    assert data.label_names == ["Joyful", "Mad", "Neutral", "Peaceful", "Powerful", "Sad", "Scared"]


def test_mosi_split_and_alignment():
    require_dataset("mosi")
    data = load_dataset("mosi")
    c = _counts(data)
    assert c["train"][0] + c["dev"][0] == 62 and c["dev"][0] == 10 and c["test"][0] == 31
    assert c["train"][1] + c["dev"][1] == 1447 and c["test"][1] == 752
    assert data.feature_dims() == {"text": 100, "audio": 73, "visual": 100}
    # the dev split is fixed: same videos on every load
    assert [d.dialogue_id for d in load_dataset("mosi").splits["dev"]] == [d.dialogue_id for d in data.splits["dev"]]
    test_labels = np.concatenate([d.labels for d in data.splits["test"]])
    assert round(test_labels.mean(), 2) == 0.62  # the README's measured 62% positive test set


def test_mosi_csv_order_recovers_a_permutation():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, 7)).astype(np.float32)
    perm = rng.permutation(50)
    shuffled = np.empty_like(rows); shuffled[perm] = rows
    assert np.array_equal(mosi_csv_order(rows, shuffled.astype(np.float64)), perm)
    with pytest.raises(DataError):
        mosi_csv_order(rows, shuffled + 1.0)


def test_missing_file_error_names_file_and_source(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("emorynlp", root=tmp_path)
    msg = str(err.value)
    assert "EMORY_train.txt" in msg and "rungjoo/CoMPM" in msg and "ERC_DATA_DIR" in msg
    with pytest.raises(DataError, match="iemocap_multimodal_features.pkl"):
        load_dataset("iemocap-sdt", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("nope", root=tmp_path)


def _toy(n_per_dialogue=(3, 2), dims=None, **kw) -> ERCData:
    dims = dims or {"text": 4}
    rng = np.random.default_rng(0)
    def dia(i, n):
        return Dialogue(f"d{i}", ["A", "B", "A", "C"][:n], ["x"] * n, np.arange(n) % 2,
                        {m: rng.normal(size=(n, k)).astype(np.float32) for m, k in dims.items()})
    splits = {s: [dia(f"{s}{i}", n) for i, n in enumerate(n_per_dialogue)] for s in ("train", "dev", "test")}
    return ERCData("toy", ["neg", "pos"], splits, **kw)


def test_validate_catches_bad_input():
    _toy().validate()
    bad = _toy(); bad.splits["dev"][0].features["text"][1, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        bad.validate()
    bad = _toy(); bad.splits["test"][1].labels[0] = 5
    with pytest.raises(DataError, match="labels"):
        bad.validate()
    bad = _toy(); bad.splits["train"][1].features["text"] = np.zeros((2, 5), np.float32)
    with pytest.raises(DataError, match="5-d, expected 4-d"):
        bad.validate()
    with pytest.raises(DataError, match="5-d, expected 4-d"):
        _toy(dims={"text": 5}).validate({"text": 4})
    bad = _toy(); bad.splits["train"][0] = Dialogue("e", [], [], np.zeros(0, np.int64))
    with pytest.raises(DataError, match="empty dialogue"):
        bad.validate()


def test_tsv_reader_rejects_unknown_label(tmp_path):
    folder = tmp_path / "emorynlp" / "compm"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / f"EMORY_{split}.txt").write_text("Ross\tHi.\tJoyful\nRachel\tHey!\tEcstatic\n\n")
    with pytest.raises(DataError, match="unknown label 'Ecstatic'"):
        load_dataset("emorynlp", root=tmp_path)


def _write_sdt_pickle(path, kind: str, n_train=10, n_test=3, text_dim=1024, audio_dim=None):
    """A small file in exactly the SDT authors' format (see shared/data/README.md)."""
    rng = np.random.default_rng(1)
    audio_dim = audio_dim or (1582 if kind == "iemocap" else 300)
    ids = [f"Ses0{1 + i % 5}F_impro0{i}" if kind == "iemocap" else i for i in range(n_train + n_test)]
    lens = {v: 2 + i % 4 for i, v in enumerate(ids)}
    if kind == "iemocap":
        speakers = {v: ["M", "F"] * 3 for v in ids}
    else:
        speakers = {v: [list(np.eye(9)[j % 3]) for j in range(6)] for v in ids}
    speakers = {v: s[: lens[v]] for v, s in speakers.items()}
    labels = {v: list(rng.integers(0, 6, lens[v])) for v in ids}
    feats = lambda d: {v: [list(r) for r in rng.normal(size=(lens[v], d))] for v in ids}
    text = feats(text_dim)
    fields = [ids, speakers, labels, text, text, text, text, feats(audio_dim), feats(342),
              {v: [f"utt {j}" for j in range(lens[v])] for v in ids}, ids[:n_train], ids[n_train:]]
    if kind == "meld":
        fields.append(None)
    with open(path, "wb") as f:
        pickle.dump(tuple(fields), f, protocol=2)


@pytest.mark.parametrize("kind", ["iemocap", "meld"])
def test_sdt_pickle_loader(tmp_path, kind):
    (tmp_path / "sdt").mkdir()
    _write_sdt_pickle(tmp_path / "sdt" / f"{kind}_multimodal_features.pkl", kind)
    data = load_dataset(f"{kind}-sdt", root=tmp_path)
    assert data.modalities == ["text", "audio", "visual"]
    assert data.feature_dims() == {"text": 1024, "audio": 1582 if kind == "iemocap" else 300, "visual": 342}
    assert len(data.splits["test"]) == 3 and len(data.splits["train"]) + len(data.splits["dev"]) == 10
    assert len(data.splits["dev"]) == 1
    d = data.splits["test"][0]
    assert d.speaker_index.tolist()[:2] == [0, 1]


def test_sdt_pickle_loader_rejects_wrong_dims(tmp_path):
    (tmp_path / "sdt").mkdir()
    _write_sdt_pickle(tmp_path / "sdt" / "iemocap_multimodal_features.pkl", "iemocap", text_dim=768)
    with pytest.raises(DataError, match="768-d, expected 1024-d"):
        load_dataset("iemocap-sdt", root=tmp_path)


def test_collate_pads_and_masks():
    data = _toy((3, 1))
    ds = DialogueDataset(data.splits["train"], ["text"], data.speaker_vocab())
    batch = collate_dialogues([ds[0], ds[1]])
    assert batch.features["text"].shape == (2, 3, 4)
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.labels[1, 1:].tolist() == [-100, -100]
    assert batch.global_speakers[0].tolist() == [0, 1, 0] and batch.global_speakers[1, 1:].tolist() == [-1, -1]
    assert torch.all(batch.features["text"][1, 1:] == 0)
    assert batch.n_utterances == 4


def test_dataset_requires_features():
    data = _toy()
    with pytest.raises(DataError, match="add_text_features"):
        DialogueDataset(data.splits["train"], ["audio"])


def test_standardize_uses_train_statistics():
    data = standardize_features(_toy((30, 20)))
    train = np.concatenate([d.features["text"] for d in data.splits["train"]])
    assert np.allclose(train.mean(0), 0, atol=1e-5) and np.allclose(train.std(0), 1, atol=1e-4)


def test_clean_text():
    assert clean_text("You must\u2019ve  had\x92s \u2026 it") == "You must've had's ... it"
    assert clean_text("I\u00e2\u0080\u0099m") == "I'm"


def test_mosi_clean_uses_the_standard_folds_every_transcript_and_the_pickle_audio(data_root):
    """mosi-clean: 52 / 10 / 31 standard videos, disjoint, no test video in dev; every one of the
    2199 transcript utterances appears once, with its own label and the pickle's audio row."""
    import csv
    import json

    from erc_lib.data import load_pickle

    require_dataset("mosi-clean")
    data = load_dataset("mosi-clean")
    folds = json.loads((data_root / "mosi" / "cmu_mosi_standard_folds.json").read_text())
    ids = {s: [d.dialogue_id for d in data.splits[s]] for s in ("train", "dev", "test")}
    assert ids == {"train": folds["train"], "dev": folds["valid"], "test": folds["test"]}
    assert [len(v) for v in ids.values()] == [52, 10, 31]
    assert not set(ids["train"]) & set(ids["dev"]) and not set(ids["test"]) & (set(ids["train"]) | set(ids["dev"]))
    with open(data_root / "mosi" / "bclstm" / "transcripts.csv", newline="") as f:
        rows = {r[0]: (r[1], int(r[3])) for r in csv.reader(f)}
    seen = {}
    for split in data.splits.values():
        for d in split:
            for k, (text, label) in enumerate(zip(d.texts, d.labels), 1):
                seen[f"{d.dialogue_id}_{k}"] = (text, int(label))
    assert len(seen) == len(rows) == 2199
    assert all(seen[u][1] == rows[u][1] and seen[u][0] == " ".join(rows[u][0].split()) for u in rows)
    assert data.modalities == ["audio"] and data.feature_dims() == {"audio": 73}
    pickle_audio = load_pickle(data_root / "mosi" / "bclstm" / "audio_2way.pickle")
    flat = np.concatenate([pickle_audio[0][i, :n] for i, n in enumerate(pickle_audio[5])] +
                          [pickle_audio[2][i, :n] for i, n in enumerate(pickle_audio[6])])
    ours = np.concatenate([d.features["audio"] for s in data.splits.values() for d in s])
    assert np.allclose(np.sort(ours, axis=0), np.sort(flat.astype(np.float32), axis=0))


def test_bclstm_mosi_selects_the_last_epoch_and_has_no_tuned_settings():
    from erc_lib import zoo

    _, train = zoo.settings("bigru", "mosi")
    assert train["selection"] == "last" and train["patience"] is None
    with pytest.raises(ValueError, match="saturated"):
        zoo.settings("sdt", "mosi", tuned=True)
    assert zoo.resolve("sdt", "mosi")[2] == "default"
    assert zoo.settings("bigru", "mosi-clean")[1].get("selection", "dev") == "dev"


def test_last_epoch_selection_never_reads_dev():
    """With selection="last" the selected epoch is the last one, whatever dev says."""
    from erc_lib import zoo
    from erc_lib.experiment import run_experiment
    from erc_lib.training import TrainConfig

    from test_tune import synthetic

    data = synthetic()
    spec = zoo.model_spec("bigru", data, model_args={"hidden": 16},
                          train_args={"epochs": 5, "selection": "last", "patience": 1})
    fit = run_experiment(data, [spec], [0], TrainConfig(device="cpu", progress=False), progress=False).fit(spec.variant)
    assert fit.best_epoch == 5 and len(fit.history) == 5
    with pytest.raises(ValueError, match="selection"):
        TrainConfig(selection="test")
