"""Reference computations written out with loops, shared by the tests that check the losses and models against them."""
from __future__ import annotations

import math

import numpy as np


def softmax(row: list[float], temperature: float = 1.0) -> list[float]:
    """softmax(row / T) with ``math.exp``: ``exp(v_c / T) / sum_k exp(v_k / T)`` for one row of logits
    (temperature ``T`` defaults to 1, where ``v / 1.0 == v`` exactly)."""
    e = [math.exp(v / temperature) for v in row]
    return [v / sum(e) for v in e]


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
