"""The verdict rule (erc_lib.verdict), by hand: every verdict reachable with inclusive boundaries, the
detectable effect and the dialogues a test would need, the resamples that bound an interval edge's
Monte-Carlo error, and the twenty-bootstrap-seed comparison a verdict must survive."""
from __future__ import annotations

import math

import pytest

from erc_lib.verdict import (BOUNDARY_SEEDS, MAX_RESAMPLES, detectable_effect, dialogues_needed, resamples_for,
                             stable_comparison, verdict)


@pytest.mark.parametrize("low, high, sign, published, detectable, expected", [
    (0.5, 2.0, 1, None, 1.0, "holds"),                       # no size published: excludes zero on the claimed side
    (1.0, 4.0, 1, 2.98, 1.0, "holds"),                       # contains the published size
    (5.0, 9.0, 1, 2.98, 1.0, "holds"),                       # beyond it
    (-9.0, -7.0, -1, -8.42, 1.0, "holds"),
    (0.2, 1.5, 1, 2.98, 1.0, "smaller than published"),
    (-3.0, -1.0, -1, -8.42, 1.0, "smaller than published"),
    (-1.8, 0.8, 1, 2.98, 1.0, "published effect ruled out"),
    (-3.05, 2.39, -1, -8.42, 3.0, "published effect ruled out"),
    (-2.0, -0.5, 1, None, 1.0, "contradicted"), (1.0, 3.0, -1, -8.42, 1.0, "contradicted"),
    (-2.0, -0.5, 1, 2.98, 1.0, "contradicted"),
    (-1.0, 4.0, 1, 2.98, 3.0, "underpowered"),               # includes zero and the published size
    (-0.5, 2.0, 1, None, 2.5, "underpowered"),               # no size, cannot detect 2 points
    (-0.5, 1.0, 1, None, 1.5, "no effect found"),            # no size, could detect 2 points, found none
    (0.0, 2.0, 1, None, 3.0, "underpowered"),                # boundary: zero inside counts as "includes"
    (-1.0, 2.98, 1, 2.98, 1.0, "underpowered"),              # boundary: the published size on the edge is inside
])
def test_each_verdict_is_reachable_and_boundaries_are_inclusive(low, high, sign, published, detectable, expected):
    word, reason = verdict(low, high, sign, published, detectable, 31)
    assert word == expected and f"[{low:+.2f}, {high:+.2f}]" in reason


def test_verdict_rejects_a_reversed_interval_and_a_bad_sign():
    with pytest.raises(ValueError, match="ci_low"):
        verdict(1.0, 0.0, 1)
    with pytest.raises(ValueError, match="sign"):
        verdict(0.0, 1.0, 0)


def test_underpowered_says_how_many_dialogues_would_be_needed():
    word, reason = verdict(-1.0, 4.0, 1, 2.0, detectable=4.0, n_dialogues=31)
    assert word == "underpowered" and "124 test dialogues instead of 31" in reason   # 31 * (4 / 2)^2


def test_detectable_effect_is_2_8_standard_errors():
    """80% power at the two-sided 5% level: (z_0.975 + z_0.80) = 1.95996 + 0.84162 = 2.80158."""
    assert detectable_effect(1.0) == pytest.approx(2.80158, abs=1e-4)
    assert detectable_effect(0.5) == pytest.approx(1.40079, abs=1e-4)
    with pytest.raises(ValueError):
        detectable_effect(-1.0)
    assert dialogues_needed(31, 4.0, 2.0) == 124 and dialogues_needed(100, 1.0, 2.0) == 25


def test_resamples_put_an_interval_edges_monte_carlo_error_below_five_hundredths():
    """By hand (Davison & Hinkley Sec. 2.5.2): the 2.5% quantile of R draws has standard error
    sqrt(0.025 x 0.975 / R) / f(q); for a normal of standard error se, f(q) = phi(1.96) / se =
    0.058445 / se, so R = (0.156125 / 0.058445 x se / 0.05)^2 = (53.43 se)^2."""
    assert resamples_for(1.12) == math.ceil((0.156125 / 0.058445 * 1.12 / 0.05) ** 2) == 3581
    assert resamples_for(0.1) == 1000 and resamples_for(0.0) == 1000        # never fewer than 1,000
    assert resamples_for(50.0) == MAX_RESAMPLES
    with pytest.raises(ValueError, match="finite standard error"):
        resamples_for(float("nan"))


def test_dialogues_needed_and_detectable_effect_by_hand():
    assert detectable_effect(0.0) == 0.0 and detectable_effect(2.0) == pytest.approx(5.60317, abs=1e-5)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"^standard_error must be a finite number >= 0, got {bad!r}$"):
            detectable_effect(bad)
    assert dialogues_needed(31, 2.801585, 2.0) == 61          # ceil(60.83)
    assert dialogues_needed(31, 2.801585, -2.0) == 61         # the target's sign does not matter
    assert dialogues_needed(10, 3.0, 1.0) == 90 and dialogues_needed(10, 1.0, 1.0) == 10
    assert dialogues_needed(10, 3.0, 0.0) == 0


def test_stable_comparison_sizes_its_resamples_and_judges_twenty_bootstrap_seeds():
    """A fake comparison whose standard error is 1.12 points: without a verdict (smoke, < 5 seeds) one
    1,000-resample interval at bootstrap seed 0 is read; with one, a first 1,000-resample pass sizes
    the resamples (resamples_for(1.12) = 3581) and seeds 0 .. 19 each give an interval."""
    calls = []

    def compare(resamples, seed):
        calls.append((resamples, seed))
        return {"ci_low": -1.0 - seed / 100, "ci_high": 2.0 + seed / 100, "standard_error": 1.12, "difference": 0.5}

    read = stable_comparison(compare, verdict_possible=False)
    assert calls == [(1000, 0)] and read["intervals_by_seed"] == [[-1.0, 2.0]] and read["bootstrap_seed"] == 0
    calls.clear()
    judged = stable_comparison(compare)
    assert BOUNDARY_SEEDS == 20 and calls == [(1000, 0), (3581, 0)] + [(3581, s) for s in range(1, 20)]
    assert judged["intervals_by_seed"] == [[-1.0 - s / 100, 2.0 + s / 100] for s in range(20)]
    calls.clear()
    stable_comparison(compare, n_resamples=2500)                      # a given count is used as is
    assert calls == [(2500, s) for s in range(20)]


def test_resamples_for_its_confidence_and_bound_and_refuses_nonsense():
    """By hand: at 90% the edge is the 5% quantile, sqrt(0.05 x 0.95) / phi(1.6449) = 0.217945 / 0.103136
    = 2.11319, so se 2 needs ceil((2.11319 x 2 / 0.05)^2) = ceil(7144.8) = 7145 resamples; at 95% with half
    the bound, ceil((2.67131 x 2 / 0.025)^2) = ceil(45669.9) = 45670 (four times the 11418 of a 0.05 bound)."""
    assert resamples_for(2.0, confidence=0.90) == 7145
    assert resamples_for(2.0, mc_error=0.025) == 45670 and resamples_for(2.0) == 11418
    for bad in ({"standard_error": -0.1}, {"standard_error": float("inf")}, {"standard_error": 1.0, "mc_error": 0.0}):
        with pytest.raises(ValueError, match="finite standard error >= 0 and mc_error > 0"):
            resamples_for(**bad)
