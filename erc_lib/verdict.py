"""The verdict rule: one word for a 95% interval of A - B against the claimed sign and the published
size (:func:`verdict`), the smallest effect a comparison detects (:func:`detectable_effect`), the
resamples an interval needs (:func:`resamples_for`) and the stability of a verdict over bootstrap seeds
(:func:`stable_comparison`). The verdicts:

* ``holds``: the interval excludes zero on the claimed side and contains the published size
  (or lies beyond it, or no size is published for this dataset);
* ``smaller than published``: the interval excludes zero on the claimed side but lies below
  the published size;
* ``published effect ruled out``: the interval includes zero and excludes the published size;
* ``contradicted``: the interval excludes zero on the other side;
* ``underpowered``: the interval includes both zero and the published size, or no size is
  published for this dataset and the detectable effect is larger than
  :data:`MEANINGFUL_POINTS`; the reason says how many test dialogues would be needed;
* ``no effect found``: no size is published for this dataset, the test could detect
  :data:`MEANINGFUL_POINTS` points, and the interval includes zero (an effect as large as the
  detectable one is ruled out; the claim has no published size to compare with);
* ``on the boundary``: the verdict changes with the bootstrap's own random seed (over
  :data:`BOUNDARY_SEEDS` seeds), so neither verdict is given; the reason names both and how often.

Each interval uses enough resamples that the Monte-Carlo error of its edges is below
:data:`MC_ERROR_POINTS` (:func:`resamples_for`).
"""
from __future__ import annotations

import math

from scipy.stats import norm

VERDICTS = ("holds", "smaller than published", "published effect ruled out", "contradicted", "underpowered",
            "no effect found")
#: What a claim gets instead of one of :data:`VERDICTS` when that verdict changes with the bootstrap's
#: own random seed.
BOUNDARY = "on the boundary"
#: Bootstrap seeds a verdict must survive (0 .. BOUNDARY_SEEDS - 1); seed 0's interval is the one shown.
BOUNDARY_SEEDS = 20
#: Largest Monte-Carlo error (points) allowed on an interval edge: sets the number of resamples.
MC_ERROR_POINTS = 0.05
#: Most resamples per interval (an edge's Monte-Carlo error then stays below 0.05 points up to a
#: standard error of about 7 points).
MAX_RESAMPLES = 100_000
#: The smallest difference (weighted F1 points) treated as worth detecting when no size is published.
MEANINGFUL_POINTS = 2.0
#: z-values of a two-sided 5% test with 80% power: detectable effect = (z_0.975 + z_0.80) x standard error.
Z_ALPHA, Z_POWER = 1.959964, 0.841621


def detectable_effect(standard_error: float) -> float:
    """The smallest |A - B| (points) this comparison detects with 80% power at the two-sided 5%
    level: ``(z_0.975 + z_0.80) * standard_error`` = 2.80 x the bootstrap standard error.

    Raises: ValueError for a negative or non-finite standard error."""
    if not math.isfinite(standard_error) or standard_error < 0:
        raise ValueError(f"standard_error must be a finite number >= 0, got {standard_error!r}")
    return (Z_ALPHA + Z_POWER) * standard_error


def stable_comparison(compare, n_resamples: int | None = None, verdict_possible: bool = True) -> dict:
    """A comparison to judge: ``compare(n_resamples, bootstrap_seed) -> paired bootstrap dict``
    (:func:`erc_lib.differences.paired_difference` or a cross-validated one) run at bootstrap seed 0
    with ``n_resamples`` (None: :func:`resamples_for` a first 1,000-resample standard error), plus
    ``intervals_by_seed``: the interval under each of :data:`BOUNDARY_SEEDS` bootstrap seeds, which
    :func:`verdict` must agree on (else :data:`BOUNDARY`). Where no verdict is possible (fewer than
    :data:`erc_lib.claims.MIN_SEEDS` seeds, a smoke run) the interval is only read: 1,000 resamples, seed 0 alone."""
    if not verdict_possible:
        first = compare(n_resamples or 1000, 0)
        return {**first, "bootstrap_seed": 0, "intervals_by_seed": [[first["ci_low"], first["ci_high"]]]}
    resamples = n_resamples or resamples_for(compare(1000, 0)["standard_error"])
    first = compare(resamples, 0)
    intervals = [[first["ci_low"], first["ci_high"]]] + [
        [c["ci_low"], c["ci_high"]] for c in (compare(resamples, seed) for seed in range(1, BOUNDARY_SEEDS))]
    return {**first, "bootstrap_seed": 0, "intervals_by_seed": intervals}


def resamples_for(standard_error: float, confidence: float = 0.95, mc_error: float = MC_ERROR_POINTS) -> int:
    """Bootstrap resamples that put the Monte-Carlo standard error of an interval edge below
    ``mc_error`` points, at least 1,000 and at most :data:`MAX_RESAMPLES`.

    An edge is the ``p`` = (1 - confidence) / 2 quantile of the resampled differences; the standard
    error of a sample quantile from ``R`` draws is ``sqrt(p (1 - p) / R) / f(q_p)`` (Davison &
    Hinkley 1997, Bootstrap Methods and their Application, Sec. 2.5.2), with the density ``f`` of a
    normal of the bootstrap's standard error: ``R = (sqrt(p (1 - p)) / phi(z_p) * se / mc_error)^2``
    (2.67 x se / 0.05, squared, at 95%).

    Raises: ValueError for a negative or non-finite standard error or a non-positive ``mc_error``."""
    if not math.isfinite(standard_error) or standard_error < 0 or mc_error <= 0:
        raise ValueError(f"need a finite standard error >= 0 and mc_error > 0, got {standard_error!r}, {mc_error!r}")
    p = (1 - confidence) / 2
    factor = math.sqrt(p * (1 - p)) / norm.pdf(norm.ppf(p))
    return int(min(MAX_RESAMPLES, max(1000, math.ceil((factor * standard_error / mc_error) ** 2))))


def dialogues_needed(n_dialogues: int, detectable: float, target: float) -> int:
    """Test dialogues needed to detect ``target`` points, scaling the standard error as
    ``1 / sqrt(n_dialogues)`` from a comparison on ``n_dialogues`` that detects ``detectable``."""
    return int(math.ceil(n_dialogues * (detectable / abs(target)) ** 2)) if target else 0


def verdict(ci_low: float, ci_high: float, sign: int, published: float | None = None,
            detectable: float | None = None, n_dialogues: int | None = None) -> tuple[str, str]:
    """``(verdict, reason)`` for a 95% interval of A - B (see the module docstring).

    Args:
        ci_low, ci_high: the interval, points (``ci_low <= ci_high``).
        sign: the claimed sign of A - B (+1 or -1).
        published: the published A - B on this dataset (points), or None when none is published
            here (another dataset's figure is passed as None: sizes are not compared across datasets).
        detectable: the smallest effect this comparison detects (:func:`detectable_effect`), points.
        n_dialogues: test dialogues of the comparison (for "how many would be needed").

    Raises: ValueError for ``ci_low > ci_high`` or a sign other than +1 / -1.
    """
    if ci_low > ci_high:
        raise ValueError(f"ci_low {ci_low} > ci_high {ci_high}")
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    interval = f"95% interval [{ci_low:+.2f}, {ci_high:+.2f}]"
    includes_zero = ci_low <= 0 <= ci_high
    if not includes_zero and (1 if ci_low > 0 else -1) != sign:
        return "contradicted", f"the {interval} excludes zero on the other side"
    if published is not None:
        contains = ci_low <= published <= ci_high
        if not includes_zero:
            if contains:
                return "holds", f"the {interval} excludes zero on the claimed side and contains the published {published:+.2f}"
            beyond = (ci_low > published) if sign > 0 else (ci_high < published)
            if beyond:
                return "holds", f"the {interval} excludes zero and lies beyond the published {published:+.2f}"
            return "smaller than published", (f"the {interval} excludes zero on the claimed side but also the "
                                              f"published {published:+.2f}: the effect is smaller than published")
        if not contains:
            return "published effect ruled out", (f"the {interval} includes zero and excludes the published "
                                                  f"{published:+.2f}: an effect as large as published is ruled out")
        return "underpowered", f"the {interval} includes both zero and the published {published:+.2f}" +             _needed(detectable, published, n_dialogues)
    if not includes_zero:
        return "holds", f"the {interval} excludes zero on the claimed side (no size published for this dataset)"
    if detectable is None or detectable > MEANINGFUL_POINTS:
        return "underpowered", (f"the {interval} includes zero and no size is published for this dataset"
                                + _needed(detectable, sign * MEANINGFUL_POINTS, n_dialogues))
    return "no effect found", (f"the {interval} includes zero although this test detects {detectable:.2f} points "
                               f"(no size is published for this dataset)")


def _needed(detectable: float | None, target: float, n_dialogues: int | None) -> str:
    if detectable is None:
        return ""
    if not n_dialogues or detectable <= abs(target):
        return f"; this test detects {detectable:.2f} points"
    need = dialogues_needed(n_dialogues, detectable, target)
    return (f"; this test detects {detectable:.2f} points: detecting {abs(target):.2f} needs about {need} test "
            f"dialogues instead of {n_dialogues} (standard error ~ 1/sqrt(dialogues); more seeds narrow only the "
            "seed part)")
