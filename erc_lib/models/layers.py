"""Building blocks shared by more than one paper model."""
from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sinusoidal position encoding (Vaswani et al. 2017, Sec. 3.5).

    ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``.

    Args:
        d_model: feature size d (even or odd).
        max_len: longest sequence supported.
    """

    def __init__(self, d_model: int, max_len: int = 1024):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, n_positions: int) -> torch.Tensor:
        """Returns ``(n_positions, d_model)``; raises ValueError past ``max_len``."""
        if n_positions > self.pe.shape[0]:
            raise ValueError(f"sequence of {n_positions} utterances exceeds max_len {self.pe.shape[0]}")
        return self.pe[:n_positions]


class PackedUtterances:
    """The real utterances of a padded batch, for computing position-wise layers on them only.

    A padded batch ``(batch, L, ...)`` spends every position-wise layer (projections,
    feed-forward networks, gates, classifiers) on its padding too; packing gathers the
    ``n_real`` real utterances into ``(n_real, ...)`` rows, so those layers cost what the
    dialogues hold, and unpacking scatters rows back (zeros at padding) where a layer needs
    the dialogue layout (attention over a dialogue's utterances).

    Args:
        mask: ``(batch, L)`` bool, True at real utterances (any pattern, not only a prefix).

    Attributes:
        index: ``(n_real,)`` int64 flat positions ``b * L + i`` of the real utterances, in order.
        mask: the mask given.

    On a GPU, finding the real positions reads the mask on the host once per batch.
    """

    def __init__(self, mask: torch.Tensor):
        if mask.dim() != 2 or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a (batch, L) bool tensor, got {tuple(mask.shape)} {mask.dtype}")
        self.mask = mask
        self.index = mask.reshape(-1).nonzero().squeeze(1)

    def __len__(self) -> int:
        return int(self.index.numel())

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, L, *rest)`` -> ``(n_real, *rest)``."""
        if x.shape[:2] != self.mask.shape:
            raise ValueError(f"tensor of shape {tuple(x.shape)} does not match the mask {tuple(self.mask.shape)}")
        return x.reshape(-1, *x.shape[2:]).index_select(0, self.index)

    def unpack(self, rows: torch.Tensor) -> torch.Tensor:
        """``(n_real, *rest)`` -> ``(batch, L, *rest)``, zeros at padding."""
        if rows.shape[0] != len(self):
            raise ValueError(f"{rows.shape[0]} rows for {len(self)} real utterances")
        full = rows.new_zeros(self.mask.numel(), *rows.shape[1:]).index_copy(0, self.index, rows)
        return full.view(*self.mask.shape, *rows.shape[1:])
