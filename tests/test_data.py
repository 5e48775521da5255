"""Data layer: split counts on the real data, load-time checks, the SDT-pickle loader,
MOSI row alignment, and padding/collation."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from erc_lib.data import SDT_NOTES
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

    from tune_helpers import synthetic

    data = synthetic()
    spec = zoo.model_spec("bigru", data, model_args={"hidden": 16},
                          train_args={"epochs": 5, "selection": "last", "patience": 1})
    fit = run_experiment(data, [spec], [0], TrainConfig(device="cpu", progress=False), progress=False).fit(spec.variant)
    assert fit.best_epoch == 5 and len(fit.history) == 5
    with pytest.raises(ValueError, match="selection"):
        TrainConfig(selection="test")


# ----------------------------------------------------------------------------- known rows, read by hand
# Each loader is pinned on the first, a middle and the last utterance of a named dialogue: text,
# speaker, label and (where the dataset has them) feature values, all read by hand from the raw
# files under ERC_DATA_DIR (the source files named in shared data's README). A loader that reverses,
# shifts or re-sorts utterances within a dialogue, swaps splits or mislabels puts a different row here.

def _row(dialogue, i):
    return dialogue.speakers[i], dialogue.texts[i], int(dialogue.labels[i])


def _dialogue(data, split, dialogue_id):
    found = [d for d in data.splits[split] if d.dialogue_id == dialogue_id]
    assert len(found) == 1, f"{dialogue_id} not once in {split}"
    return found[0]


def test_iemocap_known_rows_from_the_cosmic_pickle():
    """COSMIC's iemocap.pkl: Ses05M_impro03 is the first test dialogue (58 utterances), Ses04F_script02_1
    the first valid (dev) dialogue (50), Ses03F_impro06 the first train dialogue. Labels: 0 hap, 3 ang,
    4 exc; speakers 'M'/'F' named by session; runs of spaces in the transcripts collapse to one."""
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    assert [d.dialogue_id for d in data.splits["train"][:1] + data.splits["dev"][:1] + data.splits["test"][:1]] == \
        ["Ses03F_impro06", "Ses04F_script02_1", "Ses05M_impro03"]
    d = _dialogue(data, "test", "Ses05M_impro03")
    assert len(d) == 58
    assert _row(d, 0) == ("Ses05_M", "Guess what?", 4)
    assert _row(d, 29) == ("Ses05_F", "Yeah. of course.", 4)
    assert _row(d, 57) == ("Ses05_M", "Thank you.", 0)
    d = _dialogue(data, "dev", "Ses04F_script02_1")
    assert len(d) == 50
    assert _row(d, 0) == ("Ses04_M", "What time is it? They're supposed to run around midnight. This is great isn't "
                                     "it? Look at this night we've got here. It couldn't be better.", 0)
    assert _row(d, 25) == ("Ses04_M", "This is the big night for these guys. Life's last orgy.", 4)
    assert _row(d, 49) == ("Ses04_F", "It's ridiculous.", 3)
    assert d.speaker_index[[0, 49]].tolist() == [0, 1]
    assert data.label_names[4] == "excited" and data.label_names[3] == "angry" and data.label_names[0] == "happy"


def test_meld_known_rows_from_the_official_csvs():
    """dev_sent_emo.csv, Dialogue_ID 15 (10 utterances, Utterance_ID 0-9); Dialogue_ID 49 skips
    Utterance_ID 4 and 5 (the loader keeps the 13 rows in Utterance_ID order, no gaps filled);
    test Dialogue_ID 3 (7 utterances). Curly apostrophes become ASCII."""
    require_dataset("meld")
    data = load_dataset("meld")
    assert [d.dialogue_id for d in data.splits["dev"]] == [f"dev_{k}" for k in range(114)]
    d = _dialogue(data, "dev", "dev_15")
    assert len(d) == 10
    assert _row(d, 0) == ("Rachel", "Thank you. Oh Joey and look at this crib! It's so cute!", MELD_JOY)
    assert _row(d, 5) == ("Joey", "I don't know.", MELD_NEUTRAL)
    assert _row(d, 9) == ("Joey", "Ooh! Ah! Okay!", MELD_FEAR)
    d = _dialogue(data, "dev", "dev_49")
    assert len(d) == 13
    assert [_row(d, i)[0] for i in (0, 1, 3, 4, 12)] == ["Ross", "Susan", "Susan", "Phoebe", "Phoebe"]
    assert d.labels.tolist()[:5] == [6, 1, 6, 6, 6]  # anger surprise anger anger anger
    d = _dialogue(data, "test", "test_3")
    assert len(d) == 7
    assert _row(d, 0) == ("Steve", "Oh, okay, I get it.", 0)
    assert _row(d, 3) == ("Ross", "Yes but too me he's just, man.", 0)
    assert _row(d, 6) == ("Phoebe", "Yeah. I really like his glasses.", 0)
    assert data.splits["train"][0].dialogue_id == "train_0" and data.splits["test"][0].dialogue_id == "test_0"


MELD_NEUTRAL, MELD_FEAR, MELD_JOY = 0, 2, 4  # neutral surprise fear sadness joy disgust anger


def test_emorynlp_known_rows_from_the_compm_files():
    """EMORY_test.txt: the first scene (17 utterances) and the 43rd (10); EMORY_dev.txt: the first
    scene (9). Labels 0 Joyful 1 Mad 2 Neutral 3 Peaceful 4 Powerful 5 Sad 6 Scared."""
    require_dataset("emorynlp")
    data = load_dataset("emorynlp")
    assert data.name == "emorynlp"
    d = _dialogue(data, "test", "test_0")
    assert len(d) == 17
    assert _row(d, 0) == ("Ross Geller", "I'm supposed to attach a brackety thing to the side things, using a bunch "
                          "of these little worm guys. I have no brackety thing, I see no whim guys whatsoever and- I "
                          "cannot feel my legs.", 1)
    assert _row(d, 8) == ("Chandler Bing", "All finished!", 0)
    assert _row(d, 16) == ("Chandler Bing", "Oh my God!", 1)
    d = _dialogue(data, "test", "test_42")
    assert len(d) == 10
    assert _row(d, 0)[0] == "Joey Tribbiani" and _row(d, 0)[2] == 6
    assert _row(d, 5) == ("Monica Geller", "And yet, we're still poking him.", 6)
    assert _row(d, 9) == ("Joey Tribbiani", "Hey, that's never gonna make it all the way over here, buddy!", 4)
    d = _dialogue(data, "dev", "dev_0")
    assert len(d) == 9
    assert _row(d, 0) == ("Rachel Green", "Coffee.", 2)
    assert _row(d, 5) == ("Monica Geller", "Aww, thank you. Uh Rach?", 6)
    assert _row(d, 8) == ("Rachel Green", "Oh! That's why. I'm sorry!", 2)
    assert data.splits["train"][0].dialogue_id == "train_0"


def test_mosi_known_rows_from_the_pickle_and_the_label_sorted_csvs():
    """audio_2way.pickle test video 0 (20 utterances; labels 1 at utterance 0, 0 at 10 and 19) and the
    bc-LSTM CSV rows that hold the same audio (audio_test.csv rows 435, 733 and 740, 1-based): their
    text and video columns belong to the same utterance. Values copied from the files."""
    require_dataset("mosi")
    data = load_dataset("mosi")
    d = _dialogue(data, "test", "test_00")
    assert len(d) == 20 and d.speakers == ["test_00"] * 20 and d.texts == [""] * 20
    expected = {0: (1, [152.43, 0.42446, 0.056376], [0.204152, -0.0495994], {4: 3.94319, 6: 2.65613}),
                10: (0, [121.78, 0.51343, 0.054571], [-0.232976, 0.37453], {14: 1.58792, 20: 9.54568}),
                19: (0, [137.41, 0.52511, 0.061532], [0.122877, -0.0702135], {4: 6.13027, 6: 7.72897})}
    for u, (label, audio, text, visual) in expected.items():
        assert int(d.labels[u]) == label
        assert np.allclose(d.features["audio"][u, :3], audio, rtol=1e-5)
        assert np.allclose(d.features["text"][u, :2], text, rtol=1e-5)
        assert np.allclose(d.features["visual"][u, list(visual)], list(visual.values()), rtol=1e-5)
        assert d.features["visual"][u, 0] == 0.0
    assert [d.dialogue_id for d in data.splits["test"]] == [f"test_{i:02d}" for i in range(31)]
    train_ids = [d.dialogue_id for d in data.splits["train"]]
    dev_ids = [d.dialogue_id for d in data.splits["dev"]]
    assert sorted(train_ids + dev_ids) == [f"train_{i:02d}" for i in range(62)]
    assert train_ids == sorted(train_ids) and dev_ids == sorted(dev_ids)  # file order kept within each split
    assert [len(d) for d in data.splits["test"][:5]] == [20, 30, 18, 44, 24]


def test_mosi_clean_known_rows_from_the_transcripts_and_the_pickle():
    """transcripts.csv video tmZoasNr4rU (the SDK's first test video; 20 utterances) is the pickle's
    test video 0, and IumbAb8q2dM (the last standard train video; 22) the pickle's train video 9:
    transcript, label and the pickle's audio row of utterances first, middle and last."""
    require_dataset("mosi-clean")
    data = load_dataset("mosi-clean")
    d = data.splits["test"][0]
    assert d.dialogue_id == "tmZoasNr4rU" and len(d) == 20 and d.speakers == ["tmZoasNr4rU"] * 20
    assert _row(d, 0) == ("tmZoasNr4rU", "UM ID LIKE TO QUICKLY TALK ABOUT MACHETE", 1)
    assert _row(d, 10) == ("tmZoasNr4rU", "AND UH ALTHOUGH LIKE I LIKE DARK HUMOR", 0)
    assert _row(d, 19) == ("tmZoasNr4rU", "MAYBE IT COULD HAVE BEEN 20 SECONDS LONGER", 0)
    assert np.allclose(d.features["audio"][[0, 10, 19], :3],
                       [[152.43, 0.42446, 0.056376], [121.78, 0.51343, 0.054571], [137.41, 0.52511, 0.061532]], rtol=1e-5)
    d = data.splits["train"][-1]
    assert d.dialogue_id == "IumbAb8q2dM" and len(d) == 22
    assert _row(d, 0) == ("IumbAb8q2dM", "I ALWAYS LIKE TO READ THE BOOK FIRST", 1)
    assert _row(d, 11) == ("IumbAb8q2dM", "UM GIVES MORE DETAILS SO I CANT WAIT TO GET MY HANDS ON IT NOW", 1)
    assert _row(d, 21) == ("IumbAb8q2dM", "YEAH SO I SUGGEST THAT YOU GUYS ALL WATCH THIS MOVIE", 1)
    assert np.allclose(d.features["audio"][[0, 11, 21], :3],
                       [[212.84, 0.73232, 0.072129], [203.78, 0.775, 0.081031], [280.16, 0.73378, 0.084026]], rtol=1e-5)
    assert [d.dialogue_id for d in data.splits["dev"][:2]] == ["WKA5OygbEKI", "c5xsKMxpXnc"]


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
    from erc_lib.data import load_sdt_pickle

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


# ----------------------------------------------------------------------------- constructed MOSI files
# A tiny MOSI folder in the formats of shared data's README: the bc-LSTM pickle (7-tuple, padded
# videos), the label-sorted bc-LSTM CSVs (features, then the label), transcripts.csv (``video_k,
# transcript, segment, label``, rows in any order) and the SDK folds JSON. Utterance ``u`` of pickle
# video ``i`` in split ``s`` has the code ``c = 100 * (s == "test") + 10 * i + u + 1``: audio
# ``c + d / 1000`` in dimension ``d``, text ``1000 + c``, video ``2000 + c``.
MOSI_TOY = {"train": [[1, 0, 1], [0, 0], [1, 1]], "test": [[1, 1, 0, 0]]}
MOSI_NAMES = {("train", 0): "vidA", ("train", 1): "vidB", ("train", 2): "vidC", ("test", 0): "vidD"}


def _mosi_code(split, i, u):
    return 100 * (split == "test") + 10 * i + u + 1


def _write_mosi_toy(root, audio_dim=73, folds=None, transcript_rows=None, nan_at=None, text_dim=100, video_dim=100,
                    drop_text_row=False, flip_video_label=False):
    import csv
    import json

    base = root / "mosi" / "bclstm"
    base.mkdir(parents=True, exist_ok=True)
    parts = []
    for split, videos in MOSI_TOY.items():
        audio = np.zeros((len(videos), 4, audio_dim))
        labels = np.zeros((len(videos), 4))
        flat = []
        for i, ls in enumerate(videos):
            for u, y in enumerate(ls):
                c = _mosi_code(split, i, u)
                audio[i, u] = c + np.arange(audio_dim) / 1000
                labels[i, u] = y
                flat.append((c, y))
        if nan_at and nan_at[0] == split:
            audio[nan_at[1], nan_at[2], 5] = np.nan
        parts += [audio, labels]
        order = sorted(flat, key=lambda cy: -cy[1])  # label-sorted, positives first, like the real CSVs
        for m, dim, offset in (("audio", audio_dim, 0), ("text", text_dim, 1000), ("video", video_dim, 2000)):
            with open(base / f"{m}_{split}.csv", "w", newline="") as f:
                w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
                rows = order[:-1] if (drop_text_row and m == "text" and split == "train") else order
                for j, (c, y) in enumerate(rows):
                    x = c + np.arange(dim) / 1000 if m == "audio" else np.full(dim, offset + c, dtype=float)
                    if flip_video_label and m == "video" and split == "test" and j == 0:
                        y = 1 - y
                    w.writerow([*x.tolist(), float(y)])
    train_a, train_l, test_a, test_l = parts
    pickled = (train_a, train_l, test_a, test_l, 4, np.array([3, 2, 2]), np.array([4]))
    with open(base / "audio_2way.pickle", "wb") as f:
        pickle.dump(pickled, f, protocol=2)
    if transcript_rows is None:
        transcript_rows = []
        for (split, i), name in MOSI_NAMES.items():
            for u, y in enumerate(MOSI_TOY[split][i]):
                transcript_rows.append([f"{name}_{u + 1}", f"  {name}  SAYS {u + 1}", "7", str(y)])
        transcript_rows = transcript_rows[::-1]  # any row order
    with open(base / "transcripts.csv", "w", newline="") as f:
        csv.writer(f).writerows(transcript_rows)
    folds = folds or {"train": ["vidA", "vidC"], "valid": ["vidB"], "test": ["vidD"]}
    (root / "mosi" / "cmu_mosi_standard_folds.json").write_text(json.dumps(folds))
    return root


def test_mosi_clean_on_constructed_files_keeps_utterance_order_and_alignment(tmp_path):
    from erc_lib.data import MOSI_CLEAN_NOTES

    data = load_dataset("mosi-clean", root=_write_mosi_toy(tmp_path))
    assert data.name == "mosi-clean" and data.notes == MOSI_CLEAN_NOTES and data.label_names == ["negative", "positive"]
    assert {s: [d.dialogue_id for d in ds] for s, ds in data.splits.items()} == \
        {"train": ["vidA", "vidC"], "dev": ["vidB"], "test": ["vidD"]}
    for split, ds in data.splits.items():
        for d in ds:
            (src, i), = [k for k, v in MOSI_NAMES.items() if v == d.dialogue_id]
            assert d.labels.tolist() == MOSI_TOY[src][i] and d.labels.dtype == np.int64
            assert d.texts == [f"{d.dialogue_id} SAYS {u + 1}" for u in range(len(d))]
            assert d.speakers == [d.dialogue_id] * len(d)
            assert d.features["audio"].dtype == np.float32
            assert np.allclose(d.features["audio"][:, 0], [_mosi_code(src, i, u) for u in range(len(d))])


def test_bclstm_mosi_on_constructed_files_realigns_the_label_sorted_csvs(tmp_path):
    from erc_lib.data import MOSI_NOTES, load_mosi

    data = load_mosi(_write_mosi_toy(tmp_path), dev_videos=1)
    assert data.name == "mosi" and data.notes == MOSI_NOTES
    assert [d.dialogue_id for d in data.splits["test"]] == ["test_00"]
    assert sorted(d.dialogue_id for s in ("train", "dev") for d in data.splits[s]) == ["train_00", "train_01", "train_02"]
    assert len(data.splits["dev"]) == 1
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            src, i = ("test" if split == "test" else "train"), int(d.dialogue_id[-2:])
            codes = [_mosi_code(src, i, u) for u in range(len(d))]
            assert d.labels.tolist() == MOSI_TOY[src][i]
            assert d.speakers == [d.dialogue_id] * len(d) and d.texts == [""] * len(d)
            assert np.allclose(d.features["audio"][:, 0], codes)
            assert np.allclose(d.features["text"][:, 0], [1000 + c for c in codes])
            assert np.allclose(d.features["visual"][:, 3], [2000 + c for c in codes])
            assert all(x.dtype == np.float32 for x in d.features.values())


@pytest.mark.parametrize("case, message", [
    ("bad row", r"transcripts.csv row 3: expected `video_k, transcript, segment, label`, got \['vidA_9'\]"),
    ("gap", r"video vidA has utterance numbers \[1, 3, 4\] \(gaps or repeats\)"),
    ("no match", r"pickle train video 0 \(3 utterances\) matches 0 transcript videos by its label sequence "
                 r"\(expected exactly one\): .*mosi.bclstm$"),
    ("no valid fold", r"fold 'valid' is empty or names videos that are not in the pickle: \[\]"),
    ("four unknown", r"fold 'valid' is empty or names videos that are not in the pickle: \['v1', 'v2', 'v3'\]$"),
    ("unknown video", r"fold 'valid' is empty or names videos that are not in the pickle: \['vidZ'\]"),
    ("empty fold", r"fold 'test' is empty or names videos that are not in the pickle: \[\]"),
    ("twice", r"the folds must cover the 93 videos once each \(5 listed, 4 distinct, 4 videos\)"),
    ("left out", r"the folds must cover the 93 videos once each \(3 listed, 3 distinct, 4 videos\)"),
    ("nan", r"MOSI/test/dialogue 'test_00', utterance 2, modality audio: NaN or inf in .*bclstm.audio_2way.pickle"),
    ("72-d", r"72-d, expected 73-d"),
])
def test_mosi_clean_bad_files_are_named(tmp_path, case, message):
    """Each malformed input is refused with a message naming the file, row, video or fold."""
    rows = None
    if case in ("bad row", "gap"):
        rows = [[f"vidA_{k}", "x", "1", str(y)] for k, y in zip((1, 2, 3), (1, 0, 1))]
        rows = rows[:2] + [["vidA_9"]] if case == "bad row" else [rows[0], ["vidA_3", "x", "1", "0"], ["vidA_4", "x", "1", "1"]]
    folds = {"unknown video": {"train": ["vidA", "vidC"], "valid": ["vidZ"], "test": ["vidD"]},
             "empty fold": {"train": ["vidA", "vidC"], "valid": ["vidB"], "test": []},
             "twice": {"train": ["vidA", "vidC"], "valid": ["vidB", "vidA"], "test": ["vidD"]},
             "left out": {"train": ["vidA"], "valid": ["vidB"], "test": ["vidD"]},
             "no valid fold": {"train": ["vidA", "vidC"], "test": ["vidD"]},
             "four unknown": {"train": ["vidA", "vidC"], "valid": ["v1", "v2", "v3", "v4"], "test": ["vidD"]}}.get(case)
    if case == "no match":
        rows = [["vidQ_1", "x", "1", "0"]]
    _write_mosi_toy(tmp_path, audio_dim=72 if case == "72-d" else 73, folds=folds, transcript_rows=rows,
                    nan_at=("test", 0, 2) if case == "nan" else None)
    with pytest.raises(DataError, match=message):
        load_dataset("mosi-clean", root=tmp_path)


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


@pytest.mark.parametrize("missing", ["transcripts.csv", "cmu_mosi_standard_folds.json", "text_train.csv"])
def test_mosi_loaders_name_each_missing_file(tmp_path, missing):
    _write_mosi_toy(tmp_path)
    path = next(tmp_path.rglob(missing))
    path.unlink()
    with pytest.raises(DataError, match=f"{missing}.*\n  expected: .*soujanyaporia/multimodal-sentiment-analysis"):
        load_dataset("mosi" if missing == "text_train.csv" else "mosi-clean", root=tmp_path)


@pytest.mark.parametrize("name", ["iemocap", "mosi", "mosi-clean", "iemocap-sdt", "meld-sdt"])
def test_trust_pickle_false_wins_over_the_environment(tmp_path, monkeypatch, name):
    """``trust_pickle=False`` refuses a pickle that asks for a class outside the allow-list even when
    ERC_TRUST_PICKLES=1 says every pickle is trusted (the argument decides, then the environment)."""
    import collections

    from erc_lib.data import UnsafePickleError

    _write_mosi_toy(tmp_path)
    unsafe = (collections.Counter("ab"),) * 7
    for path in (tmp_path / "iemocap" / "cosmic" / "iemocap.pkl", tmp_path / "mosi" / "bclstm" / "audio_2way.pickle",
                 tmp_path / "sdt" / "iemocap_multimodal_features.pkl", tmp_path / "sdt" / "meld_multimodal_features.pkl"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(unsafe, f, protocol=2)
    monkeypatch.setenv("ERC_TRUST_PICKLES", "1")
    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        load_dataset(name, root=tmp_path, trust_pickle=False)


def test_one_row_feature_csv_is_a_matrix(tmp_path):
    from erc_lib.data import _read_feature_csv

    (tmp_path / "a.csv").write_text('"1.5","2.5","1"\n')
    x, y = _read_feature_csv(tmp_path / "a.csv")
    assert x.tolist() == [[1.5, 2.5]] and y.tolist() == [1] and x.dtype == np.float64 and y.dtype == np.int64
    (tmp_path / "b.csv").write_text('"1.5","oops","1"\n')
    with pytest.raises(DataError, match=r"b.csv: not a numeric CSV \(.*\); a damaged or wrong file\? download it again"):
        _read_feature_csv(tmp_path / "b.csv")


def test_bclstm_mosi_names_the_video_of_a_nan(tmp_path):
    from erc_lib.data import load_mosi

    _write_mosi_toy(tmp_path, nan_at=("train", 1, 1))
    with pytest.raises(DataError, match=r"MOSI/train/dialogue 'train_01', utterance 1, modality audio: NaN or inf in "
                                        r".*mosi.bclstm.audio_2way.pickle"):
        load_mosi(tmp_path, dev_videos=1)


def test_mosi_dev_videos_are_scikit_learns_seeded_holdout():
    """The documented rule: ``train_test_split(videos, test_size=10 / 62, random_state=0)`` over the 62
    training videos in pickle order holds out videos 2, 11, 30, 32, 33, 35, 43, 45, 48, 51."""
    require_dataset("mosi")
    data = load_dataset("mosi")
    assert [d.dialogue_id for d in data.splits["dev"]] == [f"train_{i:02d}" for i in (2, 11, 30, 32, 33, 35, 43, 45, 48, 51)]


def test_mosi_csv_order_refuses_far_or_shared_matches():
    """Rows further than ``atol`` (1e-3) from every CSV row, and two pickle rows that match the same
    CSV row, are refused; a row within 1e-4 is matched."""
    rows = np.array([[1.0, 2.0], [5.0, 6.0], [9.0, 1.0]])
    assert mosi_csv_order(rows + 1e-4, rows[[2, 0, 1]]).tolist() == [1, 2, 0]
    with pytest.raises(DataError, match="the audio CSV rows do not match the pickle rows"):
        mosi_csv_order(rows + np.array([0.0, 2e-3]), rows)
    with pytest.raises(DataError, match="do not match"):
        mosi_csv_order(rows[[0, 0, 1]], rows)


@pytest.mark.parametrize("kind", ["iemocap", "meld"])
def test_sdt_dev_holdout_is_seed_0_of_scikit_learn(tmp_path, kind):
    """With 20 train dialogues, train_test_split(sorted ids, test_size=0.1, random_state=0) holds out the
    2nd and 19th (indices 1 and 18); another seed holds out others (seed 1: indices 3 and 16)."""
    (tmp_path / "sdt").mkdir()
    truth = _sdt_pickle_by_hand(tmp_path / "sdt" / f"{kind}_multimodal_features.pkl", kind, n_extra=10)
    data = load_dataset(f"{kind}-sdt", root=tmp_path)
    ordered = sorted(truth["train"])
    assert [d.dialogue_id for d in data.splits["dev"]] == [str(ordered[1]), str(ordered[18])]


def test_tsv_reader_names_the_line_and_shows_80_characters(tmp_path):
    from erc_lib.data import read_tsv_dialogues

    long = "x" * 100
    (tmp_path / "a.txt").write_text(f"Ross\tHi.\tJoyful\n{long}\n")
    with pytest.raises(DataError) as err:
        read_tsv_dialogues(tmp_path / "a.txt", ["Joyful"], "train")
    assert str(err.value) == f"{tmp_path / 'a.txt'}:2: expected 'speaker<TAB>utterance<TAB>label', got '{'x' * 80}'"
    (tmp_path / "b.txt").write_text("Ross\tHi.\t\n")
    with pytest.raises(DataError, match=r"b.txt:1: unknown label ''"):
        read_tsv_dialogues(tmp_path / "b.txt", ["Joyful"], "train")


def test_available_datasets_looks_for_each_datasets_own_file(tmp_path, monkeypatch):
    """The file whose presence says a dataset is there (shared data README layout), one at a time,
    in the registry's order; with no root, ERC_DATA_DIR is read."""
    from erc_lib.data import available_datasets

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


def test_meld_unknown_emotion_is_named(tmp_path):
    folder = tmp_path / "meld" / "official"
    folder.mkdir(parents=True)
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    for split in ("train", "dev", "test"):
        (folder / f"{split}_sent_emo.csv").write_text(header + "1,Hi.,Ross,Joyful,positive,0,0,1,1,a,b\n")
    with pytest.raises(DataError, match=r"train_sent_emo.csv: unknown emotion 'Joyful' \(expected one of \['neutral', "):
        load_dataset("meld", root=tmp_path)
    for split in ("train", "dev", "test"):
        (folder / f"{split}_sent_emo.csv").write_text(header + "1,Hi.,Ross, Joy ,positive,0,0,1,1,a,b\n")
    data = load_dataset("meld", root=tmp_path)
    assert data.name == "meld" and data.splits["dev"][0].labels.tolist() == [4]


@pytest.mark.parametrize("case, message", [
    ("72-d audio", r"audio features are 72-d, expected 73-d"),
    ("99-d text", r"text features are 99-d, expected 100-d"),
    ("99-d video", r"visual features are 99-d, expected 100-d"),
    ("short text CSV", r"MOSI train: text CSV has 6 rows, the pickle 7 utterances"),
    ("video label", r"MOSI test: video CSV labels disagree with the pickle after reordering"),
])
def test_bclstm_mosi_bad_csvs_are_named(tmp_path, case, message):
    from erc_lib.data import load_mosi

    _write_mosi_toy(tmp_path, audio_dim=72 if case == "72-d audio" else 73, text_dim=99 if case == "99-d text" else 100,
                    video_dim=99 if case == "99-d video" else 100, drop_text_row=case == "short text CSV",
                    flip_video_label=case == "video label")
    with pytest.raises(DataError, match=message):
        load_mosi(tmp_path, dev_videos=1)
