"""MELD loader (erc_lib/data/meld.py): split counts, text cleaning, known rows of the official CSVs
and an unknown emotion."""
from __future__ import annotations

import pytest

from conftest import require_dataset
from data_files import find_dialogue, split_counts, utterance_row
from erc_lib.data import DataError, load_dataset


def test_meld_split_counts_and_text_cleaning():
    require_dataset("meld")
    data = load_dataset("meld")
    assert {s: c[1] for s, c in split_counts(data).items()} == {"train": 9989, "dev": 1109, "test": 2610}
    assert sum(c[0] for c in split_counts(data).values()) == 1432
    texts = [t for d in data.splits["train"] for t in d.texts]
    assert not any(ch in t for t in texts for ch in "\u2019\x92\u2026")
    assert "Chandler" in data.speaker_vocab()


def test_meld_known_rows_from_the_official_csvs():
    """dev_sent_emo.csv, Dialogue_ID 15 (10 utterances, Utterance_ID 0-9); Dialogue_ID 49 skips
    Utterance_ID 4 and 5 (the loader keeps the 13 rows in Utterance_ID order, no gaps filled);
    test Dialogue_ID 3 (7 utterances). Curly apostrophes become ASCII."""
    require_dataset("meld")
    data = load_dataset("meld")
    assert [d.dialogue_id for d in data.splits["dev"]] == [f"dev_{k}" for k in range(114)]
    d = find_dialogue(data, "dev", "dev_15")
    assert len(d) == 10
    assert utterance_row(d, 0) == ("Rachel", "Thank you. Oh Joey and look at this crib! It's so cute!", MELD_JOY)
    assert utterance_row(d, 5) == ("Joey", "I don't know.", MELD_NEUTRAL)
    assert utterance_row(d, 9) == ("Joey", "Ooh! Ah! Okay!", MELD_FEAR)
    d = find_dialogue(data, "dev", "dev_49")
    assert len(d) == 13
    assert [utterance_row(d, i)[0] for i in (0, 1, 3, 4, 12)] == ["Ross", "Susan", "Susan", "Phoebe", "Phoebe"]
    assert d.labels.tolist()[:5] == [6, 1, 6, 6, 6]  # anger surprise anger anger anger
    d = find_dialogue(data, "test", "test_3")
    assert len(d) == 7
    assert utterance_row(d, 0) == ("Steve", "Oh, okay, I get it.", 0)
    assert utterance_row(d, 3) == ("Ross", "Yes but too me he's just, man.", 0)
    assert utterance_row(d, 6) == ("Phoebe", "Yeah. I really like his glasses.", 0)
    assert data.splits["train"][0].dialogue_id == "train_0" and data.splits["test"][0].dialogue_id == "test_0"


MELD_NEUTRAL, MELD_FEAR, MELD_JOY = 0, 2, 4  # neutral surprise fear sadness joy disgust anger


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


def test_meld_utterances_follow_utterance_id_and_dialogues_dialogue_id(tmp_path):
    """The loader's contract (docstring): dialogues ordered by ``Dialogue_ID`` and each dialogue's
    utterances by ``Utterance_ID``, whatever order the CSV rows come in. A constructed CSV with the
    rows shuffled (dialogue 1 before dialogue 0, utterances 2, 0, 1): the expected dialogues are
    written out by hand."""
    folder = tmp_path / "meld" / "official"
    folder.mkdir(parents=True)
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    rows = ("1,Bye.,Ross,sadness,negative,1,1,1,1,a,b\n"
            "2,Third.,Monica,anger,negative,0,2,1,1,a,b\n"
            "3,First.,Rachel,joy,positive,0,0,1,1,a,b\n"
            "4,Hello.,Joey,neutral,neutral,1,0,1,1,a,b\n"
            "5,Second.,Ross,surprise,positive,0,1,1,1,a,b\n")
    for split in ("train", "dev", "test"):
        (folder / f"{split}_sent_emo.csv").write_text(header + rows)
    data = load_dataset("meld", root=tmp_path)
    for split in ("train", "dev", "test"):
        first, second = data.splits[split]
        assert (first.dialogue_id, second.dialogue_id) == (f"{split}_0", f"{split}_1")
        assert [utterance_row(first, i) for i in range(3)] == [("Rachel", "First.", 4), ("Ross", "Second.", 1),
                                                               ("Monica", "Third.", 6)]
        assert [utterance_row(second, i) for i in range(2)] == [("Joey", "Hello.", 0), ("Ross", "Bye.", 3)]
