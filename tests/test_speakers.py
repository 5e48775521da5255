"""Speaker identities and histories (erc_lib.data.speakers) on a constructed dataset whose every
answer is written by hand.

The dataset (flat utterance index in brackets, file order train -> dev -> test):

    train  d1: Ann[0] Bob[1] Ann[2] Ann[3]      d2: Bob[4] Ann[5]
    dev    d3: Cy[6]  Bob[7]
    test   d4: Bob[8] Ann[9] Ann[10]            d5: Cy[11]
"""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.data import Dialogue
from erc_lib.data.speakers import speaker_history, speaker_tags, utterance_offsets, utterance_table
from toy_data import speaker_layout_data


def test_offsets_and_the_utterance_table_follow_file_order():
    data = speaker_layout_data()
    assert utterance_offsets(data) == {"d1": 0, "d2": 4, "d3": 6, "d4": 8, "d5": 11}
    assert utterance_table(data) == [f"t{i}" for i in range(12)]
    table = utterance_table(data, "text")
    assert table.dtype == np.float32 and table.shape == (12, 2)
    assert table[:, 0].tolist() == list(range(12)) and table[:, 1].tolist() == [-i for i in range(12)]
    with pytest.raises(KeyError):
        utterance_table(data, "audio")


def test_dataset_histories_by_hand_no_window():
    """EmoNet's speaker behaviour: the speaker's earlier utterances across dialogues; dev and test
    each continue from the end of train (test never sees dev: Bob's dev turn 7 and Cy's 6 are
    absent from test)."""
    assert speaker_history(speaker_layout_data(), "dataset", None) == {
        "d1": [[], [], [0], [0, 2]],
        "d2": [[1], [0, 2, 3]],
        "d3": [[], [1, 4]],
        "d4": [[1, 4], [0, 2, 3, 5], [0, 2, 3, 5, 9]],
        "d5": [[]],
    }


def test_dataset_histories_by_hand_window_2():
    assert speaker_history(speaker_layout_data(), "dataset", 2) == {
        "d1": [[], [], [0], [0, 2]],
        "d2": [[1], [2, 3]],
        "d3": [[], [1, 4]],
        "d4": [[1, 4], [3, 5], [5, 9]],
        "d5": [[]],
    }
    default = speaker_history(speaker_layout_data())                # EmoNet's N = 11 past utterances
    assert default == speaker_history(speaker_layout_data(), "dataset", None)   # no speaker has more than 11 here


def test_dialogue_histories_by_hand():
    """CoMPM: the speaker's previous turns in the same dialogue only."""
    assert speaker_history(speaker_layout_data(), "dialogue", None) == {
        "d1": [[], [], [0], [0, 2]], "d2": [[], []], "d3": [[], []], "d4": [[], [], [9]], "d5": [[]]}
    assert speaker_history(speaker_layout_data(), "dialogue", 1) == {
        "d1": [[], [], [0], [2]], "d2": [[], []], "d3": [[], []], "d4": [[], [], [9]], "d5": [[]]}


def test_a_dev_dialogue_before_test_changes_nothing_in_test():
    data = speaker_layout_data()
    before = speaker_history(data, "dataset", None)
    data.splits["dev"].append(Dialogue("d3b", ["Ann", "Bob"], ["x", "y"], np.zeros(2, np.int64),
                                       {"text": np.zeros((2, 2), np.float32)}))
    after = speaker_history(data, "dataset", None)
    shift = lambda rows: [[i + 2 if i >= 8 else i for i in r] for r in rows]   # test's flat indices move by 2
    assert after["d3b"] == [[0, 2, 3, 5], [1, 4, 7]]
    assert after["d4"] == shift(before["d4"]) and after["d5"] == before["d5"]


@pytest.mark.parametrize("scope, window, message", [("global", 11, r"^unknown history scope 'global'; expected one of \('dialogue', 'dataset'\)$"),
                                                    ("dataset", 0, "^window must be >= 1 or None, got 0$"),
                                                    ("dialogue", -1, "^window must be >= 1 or None, got -1$")])
def test_bad_history_arguments_fail_before_work(scope, window, message):
    with pytest.raises(ValueError, match=message):
        speaker_history(speaker_layout_data(), scope, window)


def test_speaker_tags_by_hand():
    tags, n = speaker_tags(speaker_layout_data(), global_ids=True)           # Ann 0, Bob 1, Cy 2 in file order
    assert n == 3 and {k: v.tolist() for k, v in tags.items()} == {
        "d1": [0, 1, 0, 0], "d2": [1, 0], "d3": [2, 1], "d4": [1, 0, 0], "d5": [2]}
    assert all(v.dtype == np.int64 for v in tags.values())
    tags, n = speaker_tags(speaker_layout_data(), global_ids=False)          # per dialogue, order of first turn
    assert n == 2 and {k: v.tolist() for k, v in tags.items()} == {
        "d1": [0, 1, 0, 0], "d2": [0, 1], "d3": [0, 1], "d4": [0, 1, 1], "d5": [0]}
    assert all(v.dtype == np.int64 for v in tags.values())
