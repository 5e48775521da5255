"""h_desc per utterance (erc_lib/features/bios/embedding.py) and SDT's SE = V_s(s) + W h_desc (seed
Sec. 4.4, Eq. 6-7)."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from bios_fakes import toy_data
from erc_lib.data import DataError, DialogueDataset, collate_dialogues
from erc_lib.features.bios import bios_extra
from erc_lib.models.sdt import build_sdt


def test_bios_extra_gives_each_utterance_its_speakers_vector():
    data = toy_data()
    d = data.splits["train"][2]
    table = {(d.dialogue_id, s): np.full(4, i, dtype=np.float32) for i, s in enumerate(dict.fromkeys(d.speakers))}
    x = bios_extra(table)(d)
    assert x.shape == (len(d), 4)
    assert x[:, 0].tolist() == [{"Anna": 0, "Ben": 1, "Cleo": 2}[s] for s in d.speakers]
    with pytest.raises(DataError, match="no speaker description"):
        bios_extra(table)(data.splits["train"][0])


def _batch(data, bios_dim=6, seed=0):
    rng = np.random.default_rng(seed)
    table = {(d.dialogue_id, s): rng.normal(size=bios_dim).astype(np.float32)
             for ds in data.splits.values() for d in ds for s in set(d.speakers)}
    ds = DialogueDataset(data.splits["train"], ["text"], data.speaker_vocab(), {"bios": bios_extra(table)})
    return collate_dialogues([ds[i] for i in range(len(ds))])


def test_speaker_encoding_shape_and_padding():
    data = toy_data()
    batch = _batch(data)
    torch.manual_seed(0)
    model = build_sdt(data, "t", bios_dim=6, d_model=16, n_heads=2).eval()
    se = model.speaker_encoding(batch)
    B, L = batch.mask.shape
    assert batch.extra["bios"].shape == (B, L, 6) and se.shape == (B, L, 16)
    # W h_desc is added only at real utterances; padding keeps the (zero) padding embedding
    assert torch.all(se[~batch.mask] == 0)
    expected = model.speaker_embedding(batch.speakers) + model.bios_projection(batch.extra["bios"])
    assert torch.allclose(se[batch.mask], expected[batch.mask])


def test_bios_is_a_no_op_when_switched_off():
    data = toy_data()
    batch = _batch(data)
    torch.manual_seed(0)
    plain = build_sdt(data, "t", d_model=16, n_heads=2).eval()
    with_bios = build_sdt(data, "t", bios_dim=6, d_model=16, n_heads=2).eval()
    missing, unexpected = with_bios.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["bios_projection.weight"] and not unexpected
    torch.nn.init.zeros_(with_bios.bios_projection.weight)
    with torch.no_grad():
        a, b = plain(batch), with_bios(batch)
        assert torch.equal(a["logits"], b["logits"])
        torch.nn.init.normal_(with_bios.bios_projection.weight)  # and a non-zero W does change them
        assert not torch.allclose(a["logits"], with_bios(batch)["logits"])
    with pytest.raises(ValueError, match="extra"):
        batch.extra = {}
        with_bios(batch)
