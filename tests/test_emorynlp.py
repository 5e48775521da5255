"""EmoryNLP loader (erc_lib/data/emorynlp.py): split counts, known rows of CoMPM's files and the
tab-separated reader's errors."""
from __future__ import annotations

import pytest

from conftest import require_dataset
from data_files import find_dialogue, split_counts, utterance_row
from erc_lib.data import DataError, load_dataset, read_tsv_dialogues


def test_emorynlp_split_counts():
    require_dataset("emorynlp")
    data = load_dataset("emorynlp")
    assert split_counts(data) == {"train": (713, 9934), "dev": (99, 1344), "test": (85, 1328)}
    assert data.label_names == ["Joyful", "Mad", "Neutral", "Peaceful", "Powerful", "Sad", "Scared"]


def test_emorynlp_known_rows_from_the_compm_files():
    """EMORY_test.txt: the first scene (17 utterances) and the 43rd (10); EMORY_dev.txt: the first
    scene (9). Labels 0 Joyful 1 Mad 2 Neutral 3 Peaceful 4 Powerful 5 Sad 6 Scared."""
    require_dataset("emorynlp")
    data = load_dataset("emorynlp")
    assert data.name == "emorynlp"
    d = find_dialogue(data, "test", "test_0")
    assert len(d) == 17
    assert utterance_row(d, 0) == ("Ross Geller", "I'm supposed to attach a brackety thing to the side things, using a bunch "
                          "of these little worm guys. I have no brackety thing, I see no whim guys whatsoever and- I "
                          "cannot feel my legs.", 1)
    assert utterance_row(d, 8) == ("Chandler Bing", "All finished!", 0)
    assert utterance_row(d, 16) == ("Chandler Bing", "Oh my God!", 1)
    d = find_dialogue(data, "test", "test_42")
    assert len(d) == 10
    assert utterance_row(d, 0)[0] == "Joey Tribbiani" and utterance_row(d, 0)[2] == 6
    assert utterance_row(d, 5) == ("Monica Geller", "And yet, we're still poking him.", 6)
    assert utterance_row(d, 9) == ("Joey Tribbiani", "Hey, that's never gonna make it all the way over here, buddy!", 4)
    d = find_dialogue(data, "dev", "dev_0")
    assert len(d) == 9
    assert utterance_row(d, 0) == ("Rachel Green", "Coffee.", 2)
    assert utterance_row(d, 5) == ("Monica Geller", "Aww, thank you. Uh Rach?", 6)
    assert utterance_row(d, 8) == ("Rachel Green", "Oh! That's why. I'm sorry!", 2)
    assert data.splits["train"][0].dialogue_id == "train_0"


def test_tsv_reader_rejects_unknown_label(tmp_path):
    folder = tmp_path / "emorynlp" / "compm"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / f"EMORY_{split}.txt").write_text("Ross\tHi.\tJoyful\nRachel\tHey!\tEcstatic\n\n")
    with pytest.raises(DataError, match="unknown label 'Ecstatic'"):
        load_dataset("emorynlp", root=tmp_path)


def test_tsv_reader_names_the_line_and_shows_80_characters(tmp_path):
    long = "x" * 100
    (tmp_path / "a.txt").write_text(f"Ross\tHi.\tJoyful\n{long}\n")
    with pytest.raises(DataError) as err:
        read_tsv_dialogues(tmp_path / "a.txt", ["Joyful"], "train")
    assert str(err.value) == f"{tmp_path / 'a.txt'}:2: expected 'speaker<TAB>utterance<TAB>label', got '{'x' * 80}'"
    (tmp_path / "b.txt").write_text("Ross\tHi.\t\n")
    with pytest.raises(DataError, match=r"b.txt:1: unknown label ''"):
        read_tsv_dialogues(tmp_path / "b.txt", ["Joyful"], "train")
