"""IEMOCAP loader (erc_lib/data/iemocap.py): split counts and known rows of COSMIC's pickle."""
from __future__ import annotations

import numpy as np

from conftest import require_dataset
from data_files import find_dialogue, split_counts, utterance_row
from erc_lib.data import load_dataset


def test_iemocap_split_counts():
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    assert {s: c[0] for s, c in split_counts(data).items()} == {"train": 108, "dev": 12, "test": 31}
    assert sum(c[1] for c in split_counts(data).values()) == 7433
    assert split_counts(data)["test"][1] == 1623
    assert data.n_classes == 6
    # SDT's hard-coded IEMOCAP class weights are the inverse train(+dev) frequencies 504/839/1324/933/742/1468
    labels = np.concatenate([d.labels for s in ("train", "dev") for d in data.splits[s]])
    assert np.bincount(labels).tolist() == [504, 839, 1324, 933, 742, 1468]
    # speakers are session-level identities
    assert set(data.speaker_vocab()) == {f"Ses0{k}_{g}" for k in range(1, 6) for g in "MF"}


def test_iemocap_known_rows_from_the_cosmic_pickle():
    """COSMIC's iemocap.pkl: Ses05M_impro03 is the first test dialogue (58 utterances), Ses04F_script02_1
    the first valid (dev) dialogue (50), Ses03F_impro06 the first train dialogue. Labels: 0 hap, 3 ang,
    4 exc; speakers 'M'/'F' named by session; runs of spaces in the transcripts collapse to one."""
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    assert [d.dialogue_id for d in data.splits["train"][:1] + data.splits["dev"][:1] + data.splits["test"][:1]] == \
        ["Ses03F_impro06", "Ses04F_script02_1", "Ses05M_impro03"]
    d = find_dialogue(data, "test", "Ses05M_impro03")
    assert len(d) == 58
    assert utterance_row(d, 0) == ("Ses05_M", "Guess what?", 4)
    assert utterance_row(d, 29) == ("Ses05_F", "Yeah. of course.", 4)
    assert utterance_row(d, 57) == ("Ses05_M", "Thank you.", 0)
    d = find_dialogue(data, "dev", "Ses04F_script02_1")
    assert len(d) == 50
    assert utterance_row(d, 0) == ("Ses04_M", "What time is it? They're supposed to run around midnight. This is great isn't "
                                     "it? Look at this night we've got here. It couldn't be better.", 0)
    assert utterance_row(d, 25) == ("Ses04_M", "This is the big night for these guys. Life's last orgy.", 4)
    assert utterance_row(d, 49) == ("Ses04_F", "It's ridiculous.", 3)
    assert d.speaker_index[[0, 49]].tolist() == [0, 1]
    assert data.label_names[4] == "excited" and data.label_names[3] == "angry" and data.label_names[0] == "happy"
