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
