"""MOSI loaders (erc_lib/data/mosi.py): the bc-LSTM ``mosi`` (split, CSV re-alignment, dev hold-out)
and ``mosi-clean`` (standard folds, transcripts, pickle audio), on the real files and on constructed
ones, with every malformed input named; and the bc-LSTM MOSI's last-epoch selection."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import require_dataset
from data_files import (MOSI_NAMES, MOSI_TOY, find_dialogue, mosi_code, split_counts, utterance_row,
                        write_mosi_toy)
from erc_lib import zoo
from erc_lib.data import MOSI_CLEAN_NOTES, MOSI_NOTES, DataError, load_dataset, load_mosi, load_pickle, mosi_csv_order
from erc_lib.data.mosi import read_feature_csv
from erc_lib.experiment import run_experiment
from erc_lib.training import TrainConfig
from tune_helpers import synthetic


def test_mosi_split_and_alignment():
    require_dataset("mosi")
    data = load_dataset("mosi")
    c = split_counts(data)
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


def test_mosi_clean_uses_the_standard_folds_every_transcript_and_the_pickle_audio(data_root):
    """mosi-clean: 52 / 10 / 31 standard videos, disjoint, no test video in dev; every one of the
    2199 transcript utterances appears once, with its own label and the pickle's audio row."""
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
    _, train = zoo.settings("bigru", "mosi")
    assert train["selection"] == "last" and train["patience"] is None
    with pytest.raises(ValueError, match="saturated"):
        zoo.settings("sdt", "mosi", tuned=True)
    assert zoo.resolve("sdt", "mosi")[2] == "default"
    assert zoo.settings("bigru", "mosi-clean")[1].get("selection", "dev") == "dev"


def test_last_epoch_selection_never_reads_dev():
    """With selection="last" the selected epoch is the last one, whatever dev says."""
    data = synthetic()
    spec = zoo.model_spec("bigru", data, model_args={"hidden": 16},
                          train_args={"epochs": 5, "selection": "last", "patience": 1})
    fit = run_experiment(data, [spec], [0], TrainConfig(device="cpu", progress=False), progress=False).fit(spec.variant)
    assert fit.best_epoch == 5 and len(fit.history) == 5
    with pytest.raises(ValueError, match="selection"):
        TrainConfig(selection="test")


def test_mosi_known_rows_from_the_pickle_and_the_label_sorted_csvs():
    """audio_2way.pickle test video 0 (20 utterances; labels 1 at utterance 0, 0 at 10 and 19) and the
    bc-LSTM CSV rows that hold the same audio (audio_test.csv rows 435, 733 and 740, 1-based): their
    text and video columns belong to the same utterance. Values copied from the files."""
    require_dataset("mosi")
    data = load_dataset("mosi")
    d = find_dialogue(data, "test", "test_00")
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
    assert utterance_row(d, 0) == ("tmZoasNr4rU", "UM ID LIKE TO QUICKLY TALK ABOUT MACHETE", 1)
    assert utterance_row(d, 10) == ("tmZoasNr4rU", "AND UH ALTHOUGH LIKE I LIKE DARK HUMOR", 0)
    assert utterance_row(d, 19) == ("tmZoasNr4rU", "MAYBE IT COULD HAVE BEEN 20 SECONDS LONGER", 0)
    assert np.allclose(d.features["audio"][[0, 10, 19], :3],
                       [[152.43, 0.42446, 0.056376], [121.78, 0.51343, 0.054571], [137.41, 0.52511, 0.061532]], rtol=1e-5)
    d = data.splits["train"][-1]
    assert d.dialogue_id == "IumbAb8q2dM" and len(d) == 22
    assert utterance_row(d, 0) == ("IumbAb8q2dM", "I ALWAYS LIKE TO READ THE BOOK FIRST", 1)
    assert utterance_row(d, 11) == ("IumbAb8q2dM", "UM GIVES MORE DETAILS SO I CANT WAIT TO GET MY HANDS ON IT NOW", 1)
    assert utterance_row(d, 21) == ("IumbAb8q2dM", "YEAH SO I SUGGEST THAT YOU GUYS ALL WATCH THIS MOVIE", 1)
    assert np.allclose(d.features["audio"][[0, 11, 21], :3],
                       [[212.84, 0.73232, 0.072129], [203.78, 0.775, 0.081031], [280.16, 0.73378, 0.084026]], rtol=1e-5)
    assert [d.dialogue_id for d in data.splits["dev"][:2]] == ["WKA5OygbEKI", "c5xsKMxpXnc"]


def test_mosi_clean_on_constructed_files_keeps_utterance_order_and_alignment(tmp_path):
    data = load_dataset("mosi-clean", root=write_mosi_toy(tmp_path))
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
            assert np.allclose(d.features["audio"][:, 0], [mosi_code(src, i, u) for u in range(len(d))])


def test_bclstm_mosi_on_constructed_files_realigns_the_label_sorted_csvs(tmp_path):
    data = load_mosi(write_mosi_toy(tmp_path), dev_videos=1)
    assert data.name == "mosi" and data.notes == MOSI_NOTES
    assert [d.dialogue_id for d in data.splits["test"]] == ["test_00"]
    assert sorted(d.dialogue_id for s in ("train", "dev") for d in data.splits[s]) == ["train_00", "train_01", "train_02"]
    assert len(data.splits["dev"]) == 1
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            src, i = ("test" if split == "test" else "train"), int(d.dialogue_id[-2:])
            codes = [mosi_code(src, i, u) for u in range(len(d))]
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
    write_mosi_toy(tmp_path, audio_dim=72 if case == "72-d" else 73, folds=folds, transcript_rows=rows,
                    nan_at=("test", 0, 2) if case == "nan" else None)
    with pytest.raises(DataError, match=message):
        load_dataset("mosi-clean", root=tmp_path)


@pytest.mark.parametrize("missing", ["transcripts.csv", "cmu_mosi_standard_folds.json", "text_train.csv"])
def test_mosi_loaders_name_each_missing_file(tmp_path, missing):
    write_mosi_toy(tmp_path)
    path = next(tmp_path.rglob(missing))
    path.unlink()
    with pytest.raises(DataError, match=f"{missing}.*\n  expected: .*soujanyaporia/multimodal-sentiment-analysis"):
        load_dataset("mosi" if missing == "text_train.csv" else "mosi-clean", root=tmp_path)


def test_one_row_feature_csv_is_a_matrix(tmp_path):
    (tmp_path / "a.csv").write_text('"1.5","2.5","1"\n')
    x, y = read_feature_csv(tmp_path / "a.csv")
    assert x.tolist() == [[1.5, 2.5]] and y.tolist() == [1] and x.dtype == np.float64 and y.dtype == np.int64
    (tmp_path / "b.csv").write_text('"1.5","oops","1"\n')
    with pytest.raises(DataError, match=r"b.csv: not a numeric CSV \(.*\); a damaged or wrong file\? download it again"):
        read_feature_csv(tmp_path / "b.csv")


def test_bclstm_mosi_names_the_video_of_a_nan(tmp_path):
    write_mosi_toy(tmp_path, nan_at=("train", 1, 1))
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


@pytest.mark.parametrize("case, message", [
    ("72-d audio", r"audio features are 72-d, expected 73-d"),
    ("99-d text", r"text features are 99-d, expected 100-d"),
    ("99-d video", r"visual features are 99-d, expected 100-d"),
    ("short text CSV", r"MOSI train: text CSV has 6 rows, the pickle 7 utterances"),
    ("video label", r"MOSI test: video CSV labels disagree with the pickle after reordering"),
])
def test_bclstm_mosi_bad_csvs_are_named(tmp_path, case, message):
    write_mosi_toy(tmp_path, audio_dim=72 if case == "72-d audio" else 73, text_dim=99 if case == "99-d text" else 100,
                    video_dim=99 if case == "99-d video" else 100, drop_text_row=case == "short text CSV",
                    flip_video_label=case == "video label")
    with pytest.raises(DataError, match=message):
        load_mosi(tmp_path, dev_videos=1)
