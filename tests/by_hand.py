"""Reference computations written out with loops, shared by the tests that check the losses against them."""
from __future__ import annotations

import math

import numpy as np


def supcon_by_hand(z: list[np.ndarray], y: list[int], tau: float) -> float:
    """Khosla et al. / MiSTER-E Eq. 14 with loops: mean over anchors that have a positive of
    -1/|P(a)| sum_p log(exp(z_a.z_p/tau) / sum_{q != a} exp(z_a.z_q/tau))."""
    z = [v / np.linalg.norm(v) for v in z]
    losses = []
    for a in range(len(z)):
        pos = [p for p in range(len(z)) if p != a and y[p] == y[a]]
        if not pos:
            continue
        denom = sum(math.exp(z[a] @ z[q] / tau) for q in range(len(z)) if q != a)
        losses.append(-sum(math.log(math.exp(z[a] @ z[p] / tau) / denom) for p in pos) / len(pos))
    return float(np.mean(losses))
