"""The models' shared layers (erc_lib/models/layers.py): sinusoidal positions by the formula, and packing the
real utterances of a padded batch into rows and back."""
from __future__ import annotations

import math

import pytest
import torch

from erc_lib.models.layers import PackedUtterances, SinusoidalPositionalEncoding


@pytest.mark.parametrize("d_model", [6, 5])
def test_sinusoidal_positions_match_the_formula(d_model):
    """Vaswani et al. Sec. 3.5, by hand: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same),
    for even and odd d; the first n rows for n utterances, at most max_len (1024 by default)."""
    pe = SinusoidalPositionalEncoding(d_model, max_len=8)
    table = pe(8)
    assert table.shape == (8, d_model)
    for p in range(8):
        for j in range(d_model):
            angle = p / 10000 ** ((j - j % 2) / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[p, j].item() == pytest.approx(expected, abs=1e-6), (p, j)
    assert torch.equal(pe(3), table[:3])
    with pytest.raises(ValueError, match="sequence of 9 utterances exceeds max_len 8"):
        pe(9)
    default = SinusoidalPositionalEncoding(d_model)
    assert default(1024).shape == (1024, d_model)
    with pytest.raises(ValueError, match="exceeds max_len 1024"):
        default(1025)
    assert "pe" not in default.state_dict()  # fixed, not learned: never saved with the weights


def test_packed_utterances_round_trip_and_errors():
    mask = torch.tensor([[True, True, False], [True, False, True]])
    utterances = PackedUtterances(mask)
    x = torch.arange(6.0).reshape(2, 3, 1)
    rows = utterances.pack(x)
    assert len(utterances) == 4 and rows.flatten().tolist() == [0.0, 1.0, 3.0, 5.0]
    assert torch.equal(utterances.unpack(rows), x * mask.unsqueeze(-1))
    with pytest.raises(ValueError, match="does not match"):
        utterances.pack(torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="3 rows for 4 real utterances"):
        utterances.unpack(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="bool"):
        PackedUtterances(mask.long())
