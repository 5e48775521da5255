"""The benchmark's data (erc_lib/bench/synthetic.py): random features keep everything else, subsets keep the length
spread, fixed-length dialogues, bios seeded by the dialogue id, IEMOCAP's shape without its file."""
from __future__ import annotations

import numpy as np

from erc_lib.bench.synthetic import (BIOS_DIM, FEATURE_DIMS, fixed_length_data, iemocap_shaped, random_bios,
                                     sample_dialogues, with_random_features)
from erc_lib.data import Dialogue
from toy_models import spread_data


def test_random_features_keep_ids_speakers_texts_and_labels_and_are_seeded():
    data = spread_data()
    random = with_random_features(data, {"audio": 3, "text": 2}, seed=1)
    for split in ("train", "dev", "test"):
        for old, new in zip(data.splits[split], random.splits[split]):
            assert (new.dialogue_id, new.speakers, new.texts) == (old.dialogue_id, old.speakers, old.texts)
            np.testing.assert_array_equal(new.labels, old.labels)
            assert {m: x.shape for m, x in new.features.items()} == {"audio": (len(old), 3), "text": (len(old), 2)}
            assert new.features["audio"].dtype == np.float32
    again = with_random_features(data, {"audio": 3, "text": 2}, seed=1)
    np.testing.assert_array_equal(again.splits["dev"][0].features["audio"], random.splits["dev"][0].features["audio"])
    other = with_random_features(data, {"audio": 3, "text": 2}, seed=2)
    assert not np.array_equal(other.splits["dev"][0].features["audio"], random.splits["dev"][0].features["audio"])
    assert with_random_features(data).feature_dims() == FEATURE_DIMS == {"text": 384, "audio": 1582}


def test_a_subset_spreads_over_the_sorted_training_lengths():
    data = spread_data(n_dialogues=9)                         # train lengths 2 + (5 i mod 9): 2 7 3 8 4 9 5 10 6
    subset = sample_dialogues(data, 3, n_eval=1)
    # sorted lengths 2..10 at positions 0, 4, 8 -> lengths 2, 6, 10 (dialogues 0, 8, 7), kept in file order
    assert [d.dialogue_id for d in subset.splits["train"]] == ["train0", "train7", "train8"]
    assert [len(d) for d in subset.splits["train"]] == [2, 10, 6]
    assert [d.dialogue_id for d in subset.splits["dev"]] == ["dev0"] and len(subset.splits["test"]) == 1
    assert len(sample_dialogues(data, None).splits["train"]) == 9 == len(sample_dialogues(data, 20).splits["train"])


def test_fixed_length_dialogues_have_iemocap_speakers_every_class_in_turn_and_the_base_widths():
    base = spread_data()
    data = fixed_length_data(base, 5, 4)
    assert [len(data.splits[s]) for s in ("train", "dev", "test")] == [4, 1, 1]
    d = data.splits["train"][1]
    assert len(d) == 5 and d.speakers == ["Ses02_M", "Ses02_F", "Ses02_M", "Ses02_F", "Ses02_M"]
    assert d.labels.tolist() == [0, 1, 2, 0, 1] and data.feature_dims() == base.feature_dims() == {"text": 6}
    assert data.name == base.name and data.label_names == base.label_names


def test_bios_are_fixed_per_dialogue_id():
    bios = random_bios()["bios"]
    a = Dialogue("Ses01F_impro01", ["A", "B"], ["x", "y"], np.array([0, 1]))
    b = Dialogue("Ses01F_impro02", ["A", "B"], ["x", "y"], np.array([0, 1]))
    assert bios(a).shape == (2, BIOS_DIM) and bios(a).dtype == np.float32
    np.testing.assert_array_equal(bios(a), random_bios()["bios"](a))
    assert not np.array_equal(bios(a), bios(b))
    assert random_bios(4)["bios"](a).shape == (2, 4)


def test_without_the_iemocap_file_synthetic_dialogues_of_its_split_sizes_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_DATA_DIR", str(tmp_path))
    data, note = iemocap_shaped({"text": 2})
    assert "IEMOCAP file not found" in note
    assert {s: len(ds) for s, ds in data.splits.items()} == {"train": 108, "dev": 12, "test": 31}
    lengths = [len(d) for ds in data.splits.values() for d in ds]
    assert 8 <= min(lengths) and max(lengths) <= 110 and data.n_classes == 6 and data.feature_dims() == {"text": 2}
