"""CoMPM / EmoNet (erc_lib.models.compm): speaker-behaviour history, global speaker ids,
a fine-tuning step (EmoNet's weighted CE: tests/test_losses.py) (the batches' padding masks and the chunked encoder:
tests/test_compm_encoder.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.compm import EMONET_ABLATION, build_compm, compm_splits
from erc_lib.models.compm_encoder import CoMPMDataset, collate_compm
from erc_lib.data.speakers import speaker_history, speaker_tags, utterance_offsets
from erc_lib.training import TrainConfig

from conftest import require_dataset
from toy_models import recurring_speaker_data

def flat_records(data):
    """Per flat index: (split, dialogue id, speaker)."""
    return [(split, d.dialogue_id, s) for split in ("train", "dev", "test") for d in data.splits[split] for s in d.speakers]


# ----------------------------------------------------------------------------- history
@pytest.mark.parametrize("window", [1, 3, 11, None])
def test_dataset_history_is_past_same_speaker_only(window):
    data = recurring_speaker_data()
    records = flat_records(data)
    offsets = utterance_offsets(data)
    history = speaker_history(data, "dataset", window)
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for j, speaker in enumerate(d.speakers):
                current = offsets[d.dialogue_id] + j
                h = history[d.dialogue_id][j]
                assert all(i < current for i in h), "history holds the current or a future utterance"
                assert h == sorted(h), "history must be oldest first"
                assert all(records[i][2] == speaker for i in h), "history holds another speaker's utterance"
                if window is not None:
                    assert len(h) <= window
                other = {"dev": "test", "test": "dev"}.get(split)
                assert all(records[i][0] != other for i in h), "dev and test must not see each other"
                # the window is the speaker's latest utterances visible from here
                visible = [i for i in range(current) if records[i][2] == speaker and records[i][0] in ("train", split)]
                assert h == (visible[-window:] if window else visible)


def test_history_carried_from_train_and_dialogue_scope_stays_in_dialogue():
    data = recurring_speaker_data()
    offsets = utterance_offsets(data)
    first_test = data.splits["test"][0]
    train_speakers = {s for d in data.splits["train"] for s in d.speakers}
    h = speaker_history(data, "dataset", 11)[first_test.dialogue_id][0]
    assert (len(h) > 0) == (first_test.speakers[0] in train_speakers)
    within = speaker_history(data, "dialogue", None)
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            lo, hi = offsets[d.dialogue_id], offsets[d.dialogue_id] + len(d)
            for j, row in enumerate(within[d.dialogue_id]):
                assert all(lo <= i < lo + j for i in row)
                assert len(row) == d.speakers[:j].count(d.speakers[j])
            assert hi - lo == len(d)


def test_history_never_reads_labels():
    """Relabelling every utterance changes neither the history nor what the PM is fed."""
    data, relabelled = recurring_speaker_data(), recurring_speaker_data()
    for split in relabelled.splits.values():
        for d in split:
            d.labels = (d.labels + 1) % relabelled.n_classes
    assert speaker_history(data, "dataset", 5) == speaker_history(relabelled, "dataset", 5)
    variant = EMONET_ABLATION["+ speaker behaviour"]
    a = compm_splits(data, variant, "frozen", window=5)[:3]
    b = compm_splits(relabelled, variant, "frozen", window=5)[:3]
    for ds_a, ds_b in zip(a, b):
        for i in range(len(ds_a)):
            assert torch.equal(ds_a[i]["history"], ds_b[i]["history"])
            assert torch.equal(ds_a[i]["features"], ds_b[i]["features"])
            assert not torch.equal(ds_a[i]["labels"], ds_b[i]["labels"])


def test_history_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scope"):
        speaker_history(recurring_speaker_data(), "episode")
    with pytest.raises(ValueError, match="window"):
        speaker_history(recurring_speaker_data(), "dataset", 0)


# ----------------------------------------------------------------------------- speaker ids
def test_global_ids_stable_across_splits():
    data = recurring_speaker_data()
    tags, n = speaker_tags(data, global_ids=True)
    seen: dict[str, int] = {}
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for name, tag in zip(d.speakers, tags[d.dialogue_id]):
                assert seen.setdefault(name, int(tag)) == int(tag), f"{name} changes id in {split}"
    assert n == len(seen) and sorted(seen.values()) == list(range(n))
    # a dev/test-only reshuffle does not move train speakers' ids
    data.splits["dev"], data.splits["test"] = data.splits["test"], data.splits["dev"]
    tags2, _ = speaker_tags(data, global_ids=True)
    for d in data.splits["train"]:
        assert np.array_equal(tags[d.dialogue_id], tags2[d.dialogue_id])
    local, n_local = speaker_tags(data, global_ids=False)
    for d in data.splits["train"]:
        assert np.array_equal(local[d.dialogue_id], d.speaker_index) and local[d.dialogue_id].max() < n_local


def test_global_ids_on_emorynlp():
    require_dataset("emorynlp")
    from erc_lib.data import load_dataset

    data = load_dataset("emorynlp")
    tags, _ = speaker_tags(data, global_ids=True)
    ids = {}
    for split in ("train", "dev", "test"):
        for d in data.splits[split]:
            for name, tag in zip(d.speakers, tags[d.dialogue_id]):
                ids.setdefault(name, set()).add(int(tag))
    assert all(len(v) == 1 for v in ids.values())
    test_names = {s for d in data.splits["test"] for s in d.speakers}
    train_names = {s for d in data.splits["train"] for s in d.speakers}
    assert "Monica Geller" in test_names & train_names  # followed across splits


# ----------------------------------------------------------------------------- training
@pytest.mark.slow  # runs all-MiniLM-L6-v2, a language model
def test_finetune_forward_backward(tokenizer):
    data = recurring_speaker_data((2, 1, 1))
    for finetune in ("full", "lora"):
        train = compm_splits(data, "+ normalised weighted CE", "finetune", window=3, max_context_tokens=24,
                             max_utterance_tokens=8)[0]
        model = build_compm(data, "+ normalised weighted CE", "finetune", finetune=finetune)
        batch = collate_compm([train[0], train[1]], pad_id=tokenizer.pad_token_id)
        out = model(batch)
        assert out["logits"].shape == (2, batch.mask.shape[1], data.n_classes)
        terms = model.loss(out, batch)
        assert torch.isfinite(terms["total"])
        terms["total"].backward()
        trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        assert all(p.grad is not None for n, p in trained if n.startswith("classifier"))
        enc_grads = [p.grad.abs().sum().item() for n, p in trained if n.startswith("context_model") and p.grad is not None]
        assert enc_grads and max(enc_grads) > 0, "the context encoder gets no gradient"
        if finetune == "lora":
            assert all("lora_" in n for n, _ in trained if n.startswith(("context_model", "memory_encoder")))


def test_frozen_training_learns_synthetic_labels():
    """Features carry the label: a few epochs must beat the majority class on test."""
    data = recurring_speaker_data((24, 8, 8), dim=16)
    config = TrainConfig(epochs=5, lr=5e-3, batch_size=8, device="cpu", progress=False, seed=0)
    row = "+ normalised weighted CE"
    spec = RunSpec(row, lambda: build_compm(data, row, d_model=32, n_heads=2, pm_hidden=16),
                   lambda: compm_splits(data, row, window=3))
    result = run_experiment(data, [spec], 1, config, progress=False).fit(row)
    y = np.concatenate([d.labels for d in data.splits["test"]])
    majority = 100 * np.bincount(y).max() / len(y)
    assert result.test["accuracy"] > majority + 10
    assert len(result.history) >= 1 and all(np.isfinite(h["train_total"]) for h in result.history)


def test_narrow_memory_gets_the_thesis_projection():
    data = recurring_speaker_data()
    assert isinstance(build_compm(data, "CoMPM", d_model=32, n_heads=2).pm_projection, torch.nn.Identity)
    wide = build_compm(data, "CoMPM", d_model=32, n_heads=2, pm_hidden=16).pm_projection
    assert isinstance(wide, torch.nn.Linear) and (wide.in_features, wide.out_features) == (16, 32)


def test_bad_inputs_raise():
    data = recurring_speaker_data()
    with pytest.raises(ValueError, match="encoder_mode"):
        compm_splits(data, "CoMPM", "half-frozen")
    with pytest.raises(ValueError, match="ablation row"):
        compm_splits(data, "CoMPM + magic", "frozen")
    del data.splits["dev"][0].features["text"]
    with pytest.raises(KeyError, match="add_text_features"):
        compm_splits(data, "CoMPM", "frozen")
    with pytest.raises(ValueError, match="exactly one"):
        CoMPMDataset([], {}, {})


def test_chunk_tokens_is_validated():
    with pytest.raises(ValueError, match="chunk_tokens"):
        build_compm(recurring_speaker_data(), "CoMPM", d_model=32, n_heads=2, chunk_tokens=0)
