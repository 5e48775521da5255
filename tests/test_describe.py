"""Notebook 01's tables (erc_lib/data/describe.py): splits, label shares, dialogue lengths and top speakers, by hand
on the constructed dataset of tests/toy_data.py; no data folder is named in the error."""
from __future__ import annotations

import pytest

from erc_lib.data import DataError
from erc_lib.data.describe import label_table, length_table, load_present, split_table, top_speakers
from toy_data import speaker_layout_data

# speaker_layout_data(): train d1 (Ann Bob Ann Ann), d2 (Bob Ann); dev d3 (Cy Bob); test d4 (Bob Ann Ann), d5 (Cy);
# utterance k in file order has label k % 3: train 0 1 2 0 1 2, dev 0 1, test 2 0 1 2.


def test_split_table_counts_dialogues_utterances_and_speakers_by_hand():
    table = split_table({"c": speaker_layout_data()})
    assert table["split"].tolist() == ["train", "dev", "test", "all"]
    assert table["dialogues"].tolist() == [2, 1, 2, 5]
    assert table["utterances"].tolist() == [6, 2, 4, 12]
    assert table["speakers"].tolist() == [2, 2, 3, 3]                 # Ann Bob | Cy Bob | Bob Ann Cy | all three
    assert table["utterances / dialogue"].tolist() == [3.0, 2.0, 2.0, 2.4]
    assert set(table["dataset"]) == {"c"}


def test_label_table_gives_each_labels_count_and_share_per_split():
    table = label_table({"c": speaker_layout_data()}).set_index(["split", "label"])
    assert table["count"].to_dict() == {("train", "a"): 2, ("train", "b"): 2, ("train", "c"): 2,
                                        ("dev", "a"): 1, ("dev", "b"): 1, ("dev", "c"): 0,
                                        ("test", "a"): 1, ("test", "b"): 1, ("test", "c"): 2}
    assert table["share %"].tolist() == [33.3, 33.3, 33.3, 50.0, 50.0, 0.0, 25.0, 25.0, 50.0]


def test_length_table_has_one_row_per_dialogue():
    table = length_table({"c": speaker_layout_data()})
    assert table["split"].tolist() == ["train", "train", "dev", "test", "test"]
    assert table["utterances"].tolist() == [4, 2, 2, 3, 1]
    assert table["speakers"].tolist() == [2, 2, 2, 2, 1]


def test_top_speakers_are_ranked_by_utterances_with_their_share():
    table = top_speakers({"c": speaker_layout_data()}, n=2)          # Ann 6, Bob 4, Cy 2 of 12 utterances
    assert table["speaker"].tolist() == ["Ann", "Bob"]
    assert table["utterances"].tolist() == [6, 4]
    assert table["share of utterances %"].tolist() == [50.0, 33.3]
    assert len(top_speakers({"c": speaker_layout_data()})) == 3      # n = 8 by default: every speaker


def test_no_data_folder_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="ERC_DATA_DIR") as err:
        load_present(["iemocap", "mosi"])
    assert str(tmp_path / "nowhere") in str(err.value)
