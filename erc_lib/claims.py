"""The published claims this study tests, how each is measured, and its verdict.

A :class:`Claim` names two rows of a notebook's experiment (A, the side the paper says is
better, and B), the claimed direction, and the published A - B where the paper gives one (with
the dataset it was measured on). :func:`evaluate_claims` measures A - B on the test dialogues
with a paired bootstrap 95% interval (:func:`erc_lib.experiment.paired_difference`, whole
dialogues and seeds resampled), computes the smallest effect that comparison could detect
(:func:`detectable_effect`) and gives one verdict (:func:`verdict`):

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

A published size counts only on the dataset it was published on (``iemocap-sdt`` and
``iemocap`` are both IEMOCAP) *and* in the setting it was published in: the same modalities and
the same label scheme (:data:`MEASURED_SETTINGS`, :attr:`Claim.published_settings`). SDT's +2.98 for
self-distillation is a text + audio + visual figure, so it is weighed on the SDT pickles' IEMOCAP
(``iemocap-sdt``), not on the text-only ``iemocap``; elsewhere the row says "other dataset" or
"other setting" and sizes are not compared.

A claim is evaluated only from full-size runs with at least :data:`MIN_SEEDS` seeds; a smoke or
short run gives ``not measured at full size`` (:func:`evaluate_claims` with ``smoke=True``).
Every notebook stores its evaluated claims in its results JSON; :func:`collect_claims` gathers
the full-size ones into ``results/claims.json`` for the report.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .paths import results_dir, write_json

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
NOT_MEASURED = "not measured at full size"
#: Fewest seeds per row for a claim's verdict.
MIN_SEEDS = 5
#: The smallest difference (weighted F1 points) treated as worth detecting when no size is published.
MEANINGFUL_POINTS = 2.0
#: z-values of a two-sided 5% test with 80% power: detectable effect = (z_0.975 + z_0.80) x standard error.
Z_ALPHA, Z_POWER = 1.959964, 0.841621


#: The setting each dataset name is measured in here: (modalities, label scheme). A claim whose rows
#: use fewer modalities than the dataset has names them in :attr:`Claim.modalities`.
MEASURED_SETTINGS = {
    "iemocap": ("text", "IEMOCAP 6 classes"), "iemocap-sdt": ("text+audio+visual", "IEMOCAP 6 classes"),
    "meld": ("text", "MELD 7 emotions"), "meld-sdt": ("text+audio+visual", "MELD 7 emotions"),
    "emorynlp": ("text", "EmoryNLP 7 emotions"), "mosi-clean": ("text+audio", "MOSI binary sentiment"),
    "mosi": ("text+audio+visual", "MOSI binary sentiment"),
}


def measured_setting(dataset: str, modalities: str | None = None) -> tuple[str, str]:
    """``(modalities, label scheme)`` a claim is measured in on ``dataset`` (its rows use
    ``modalities`` when given, e.g. MiSTER-E's ``"text+audio"``, else all of the dataset's).

    Raises: KeyError naming the dataset when it has no entry in :data:`MEASURED_SETTINGS`."""
    if dataset not in MEASURED_SETTINGS:
        raise KeyError(f"no measured setting for dataset {dataset!r}; known: {sorted(MEASURED_SETTINGS)}")
    available, labels = MEASURED_SETTINGS[dataset]
    if modalities is None:
        return available, labels
    used = [m for m in modalities.split("+") if m in available.split("+")]
    return "+".join(used), labels


def base_dataset(name: str) -> str:
    """The dataset a name measures (``iemocap-sdt`` -> ``iemocap``, ``mosi-clean`` -> ``mosi``):
    published sizes are compared only within one base dataset."""
    return name.replace("-sdt", "").replace("-clean", "")


@dataclass(frozen=True)
class Claim:
    """One published claim, as a comparison of two rows.

    Attributes:
        id: short identifier.
        paper: the paper making it.
        text: the claim in words.
        notebook: the notebook that measures it.
        a, b: row (variant) names; ``{full}`` is replaced by the notebook's full-model name.
        datasets: where it is measured (the first present one counts, others are reported too).
        sign: the claimed sign of A - B (+1: A better).
        published: the published figure, in words, with its source (:mod:`erc_lib.published`).
        published_differences: the published A - B in weighted F1 points, by base dataset
            (:func:`base_dataset`), e.g. ``{"iemocap": 2.98}``; empty when no figure is published.
        output: which prediction is compared: ``y_pred`` (the model's) or a kept output such as
            ``logits_text`` (a student head).
        published_settings: the setting of each published size, by base dataset:
            ``(modalities, label scheme)`` as in :data:`MEASURED_SETTINGS`; a size is compared only
            where it equals :func:`measured_setting` (a size without a setting is never compared).
        modalities: the modalities the claim's rows use where fewer than the dataset's
            (``"text+audio"`` for MiSTER-E's speech and text experts), else None.
    """

    id: str
    paper: str
    text: str
    notebook: str
    a: str
    b: str
    datasets: tuple[str, ...]
    sign: int = 1
    published: str = ""
    published_differences: dict = field(default_factory=dict)
    output: str = "y_pred"
    published_settings: dict = field(default_factory=dict)
    modalities: str | None = None

    def published_size(self, dataset: str) -> float | None:
        """The published A - B on ``dataset``'s base dataset in the setting measured there, or None
        (none published on that dataset, or published in another setting: :meth:`setting_note`)."""
        base = base_dataset(dataset)
        if base not in self.published_differences or self.setting_note(dataset):
            return None
        return self.published_differences[base]

    def setting_note(self, dataset: str) -> str:
        """Empty when a size published on ``dataset``'s base dataset was measured in the setting we
        measure (or none is published there); else why it is not compared, e.g. ``"published with
        text+audio+visual, 6 classes; here text"``."""
        base = base_dataset(dataset)
        if base not in self.published_differences:
            return ""
        ours = measured_setting(dataset, self.modalities)
        theirs = self.published_settings.get(base)
        if theirs is None:
            return "the published setting is not recorded"
        if tuple(theirs) == ours:
            return ""
        return f"published with {theirs[0]} ({theirs[1]}); measured here with {ours[0]} ({ours[1]})"


CLAIMS: tuple[Claim, ...] = (
    Claim("sdt-sd-fused", "SDT", "Self-distillation improves the fused (teacher) prediction", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs 71.10 w/o self-distillation [SDT, as quoted in SEED000 Table 7]",
          published_differences={"iemocap": 2.98},
          published_settings={"iemocap": ("text+audio+visual", "IEMOCAP 6 classes")}),
    Claim("sdt-sd-students", "SDT", "Self-distillation improves the unimodal (text) student", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="stated in SDT Sec. 4 (no per-student figure published)", output="logits_text"),
    Claim("sdt-multimodal", "SDT", "The multimodal model beats its best unimodal version", "03_sdt",
          "{full}", "{best_unimodal}", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs text 66.58 [SDT, as quoted in SEED000 Table 7]",
          published_differences={"iemocap": 7.50},
          published_settings={"iemocap": ("text+audio+visual", "IEMOCAP 6 classes")}),
    Claim("sdt-bios", "SDT + bios (seed 000)", "LLM-written speaker descriptions improve SDT", "04_sdt_bios",
          "SDT + bios", "SDT", ("iemocap", "meld", "emorynlp"),
          published="IEMOCAP 45.96 vs 45.26 [SEED000 Table 10]", published_differences={"iemocap": 0.70},
          published_settings={"iemocap": ("text+audio", "IEMOCAP 6 classes with happy+excited merged and an 'other' class")}),
    Claim("emonet-beats-compm", "EmoNet", "EmoNet beats CoMPM", "05_emonet", "{emonet}", "CoMPM",
          ("emorynlp",), published="EmoryNLP 39.18 vs 37.85 [EMONET thesis Table 5-1]",
          published_differences={"emorynlp": 1.33},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    Claim("emonet-global-id", "EmoNet", "Global speaker IDs alone hurt, by about 8 points", "05_emonet",
          "+ global speaker ID", "CoMPM", ("emorynlp",), sign=-1,
          published="EmoryNLP 29.43 vs 37.85 [EMONET thesis Table 5-1]", published_differences={"emorynlp": -8.42},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    Claim("emonet-behaviour", "EmoNet", "The speaker-behaviour window recovers the global-ID loss", "05_emonet",
          "+ speaker behaviour", "+ global speaker ID", ("emorynlp",),
          published="EmoryNLP 36.96 vs 29.43 [EMONET thesis Table 5-1]", published_differences={"emorynlp": 7.53},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    Claim("emonet-weighted-ce", "EmoNet", "Normalised weighted cross-entropy helps", "05_emonet",
          "+ normalised weighted CE", "+ speaker behaviour", ("emorynlp",),
          published="EmoryNLP 39.18 vs 36.96 [EMONET thesis Table 5-1]", published_differences={"emorynlp": 2.22},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    *(Claim(f"mister-e-vs-{e}", "MiSTER-E", f"MiSTER-E beats its {e} expert alone", "06_mister_e", "MiSTER-E",
            f"{e} expert alone", ("mosi-clean", "iemocap-sdt", "meld-sdt"), published="Fig. 5b [MISTERE] (bars, no table)",
            modalities="text+audio")
      for e in ("speech", "text", "multimodal")),
    Claim("mister-e-vs-monolithic", "MiSTER-E", "MiSTER-E beats a monolithic model without experts", "06_mister_e",
          "MiSTER-E", "monolithic", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP 70.9 vs 67.8, MELD 69.5 vs 67.9 [MISTERE Sec. 4.5]",
          published_differences={"iemocap": 3.1, "meld": 1.6}, modalities="text+audio",
          published_settings={"iemocap": ("text+audio", "IEMOCAP 6 classes"), "meld": ("text+audio", "MELD 7 emotions")}),
    Claim("mister-e-aux-losses", "MiSTER-E", "The auxiliary losses (per-expert focal, contrastive, KL) help",
          "06_mister_e", "MiSTER-E", "No-Loss-MoE", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (No-Loss-MoE below MiSTER-E)", modalities="text+audio"),
    Claim("mister-e-logit-gate", "MiSTER-E", "Gating the experts' logits beats gating their features",
          "06_mister_e", "MiSTER-E", "feat-MoE", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (feat-MoE below MiSTER-E)", modalities="text+audio"),
)


def detectable_effect(standard_error: float) -> float:
    """The smallest |A - B| (points) this comparison detects with 80% power at the two-sided 5%
    level: ``(z_0.975 + z_0.80) * standard_error`` = 2.80 x the bootstrap standard error.

    Raises: ValueError for a negative or non-finite standard error."""
    if not math.isfinite(standard_error) or standard_error < 0:
        raise ValueError(f"standard_error must be a finite number >= 0, got {standard_error!r}")
    return (Z_ALPHA + Z_POWER) * standard_error


def stable_comparison(compare, n_resamples: int | None = None, verdict_possible: bool = True) -> dict:
    """A comparison to judge: ``compare(n_resamples, bootstrap_seed) -> paired bootstrap dict``
    (:func:`erc_lib.experiment.paired_difference` or a cross-validated one) run at bootstrap seed 0
    with ``n_resamples`` (None: :func:`resamples_for` a first 1,000-resample standard error), plus
    ``intervals_by_seed``: the interval under each of :data:`BOUNDARY_SEEDS` bootstrap seeds, which
    :func:`verdict` must agree on (else :data:`BOUNDARY`). Where no verdict is possible (fewer than
    :data:`MIN_SEEDS` seeds, a smoke run) the interval is only read: 1,000 resamples, seed 0 alone."""
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
    from scipy.stats import norm

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


def evaluate_claims(notebook: str, experiment, dataset: str, names: dict | None = None,
                    baseline: str = "BiGRU (context)", n_resamples: int | None = None) -> list[dict]:
    """Measure every claim of ``notebook`` that ``experiment`` holds both rows of on ``dataset`` (and,
    for a claim on a head such as ``logits_text``, whose rows have that head: an audio-only SDT has
    no text student, so that claim is not measured there).

    Args:
        notebook: e.g. ``"03_sdt"``.
        experiment: an :class:`erc_lib.experiment.Experiment`.
        dataset: the dataset the rows were trained on.
        names: values for the ``{...}`` placeholders of the row names (``full``, ``best_unimodal``).
        baseline: the row of the context baseline on the same inputs (reported beside the claim).
        n_resamples: bootstrap resamples (>= 1000 for a reported interval); None (default): as many
            as put each interval edge's Monte-Carlo error below :data:`MC_ERROR_POINTS`
            (:func:`resamples_for` on a first 1,000-resample standard error).

    Returns: one JSON-able dict per measured claim (the format of ``results/claims.json``) with
    the interval, ``published_size`` (this dataset's published A - B or None),
    ``published_elsewhere`` (a size exists for another dataset only), ``detectable_effect``
    (points), the verdict and its reason. Rows with fewer than :data:`MIN_SEEDS` seeds get the
    verdict :data:`NOT_MEASURED` (the interval is kept for reading, never for a verdict). The
    comparison also stores the interval under each of :data:`BOUNDARY_SEEDS` bootstrap seeds
    (``intervals_by_seed``); a verdict that differs between them is :data:`BOUNDARY`.
    """
    from .experiment import paired_difference

    have = {v for (d, v, _) in experiment.fits if d == dataset}
    out = []
    for claim in CLAIMS:
        if claim.notebook != notebook or dataset not in claim.datasets:
            continue
        a, b = (claim.a.format(**(names or {})), claim.b.format(**(names or {})))
        if a not in have or b not in have:
            continue
        if claim.output != "y_pred" and any(claim.output not in f.test_outputs for v in (a, b)
                                            for f in experiment.seed_fits(v, dataset)):
            continue  # the rows have no such head (the text student of an audio-only SDT)
        compare = lambda resamples, seed: paired_difference(experiment, a, experiment, b, dataset,  # noqa: E731
                                                            n_resamples=resamples, seed=seed, output=claim.output)
        seeds = min(len(experiment.seed_fits(a, dataset)), len(experiment.seed_fits(b, dataset)))
        comparison = stable_comparison(compare, n_resamples, verdict_possible=seeds >= MIN_SEEDS)
        intervals = comparison["intervals_by_seed"]
        out.append({
            **{k: v for k, v in asdict(claim).items() if k not in ("a", "b", "datasets")},
            "dataset": dataset, "a": a, "b": b, "metric": "weighted_f1",
            "ours": _row_summary(experiment, a, dataset, claim.output),
            "other": _row_summary(experiment, b, dataset, claim.output),
            "baseline": _row_summary(experiment, baseline, dataset) if baseline in have else None,
            "comparison": {**{k: comparison[k] for k in ("difference", "ci_low", "ci_high", "standard_error",
                                                         "n_resamples", "n_dialogues", "n_seeds_a", "n_seeds_b")},
                           "bootstrap_seed": 0, "intervals_by_seed": intervals},
            **_judgement(claim, dataset, {**comparison, "intervals_by_seed": intervals},
                         min(comparison["n_seeds_a"], comparison["n_seeds_b"])),
            "source_results": notebook})
    return out


def versus_baseline(experiment, variant: str, dataset: str, baseline: str = "BiGRU (context)") -> str:
    """One sentence: does ``variant`` beat the context baseline on the same inputs, by how much,
    with the paired bootstrap 95% interval (the question every paper model must answer)."""
    from .experiment import paired_difference

    c = paired_difference(experiment, variant, experiment, baseline, dataset)
    gap = f"{c['difference']:+.2f} weighted F1 (95% interval [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}])"
    if c["ci_low"] > 0:
        return f"{variant} beats the {baseline} on the same inputs by {gap}."
    if c["ci_high"] < 0:
        return f"{variant} trails the {baseline} on the same inputs: {gap}."
    return f"{variant} and the {baseline} cannot be told apart on these inputs: {gap} includes zero."


def claims_table(claims: list[dict]) -> "pd.DataFrame":
    """The claims a notebook measured, one row each: claim, dataset, A - B, its 95% interval, the
    published A - B on this dataset ("other dataset" when the figure is for another one, "–" when
    none is published), the detectable effect, the verdict and the published figure."""
    import pandas as pd

    def published(c):
        if c.get("published_size") is not None:
            return f"{c['published_size']:+.2f}"
        return "other dataset" if c.get("published_elsewhere") else "–"

    return pd.DataFrame([{"claim": c["text"], "dataset": c["dataset"], "A": c["a"], "B": c["b"],
                          "A − B": f"{c['comparison']['difference']:+.2f}",
                          "95% CI": f"[{c['comparison']['ci_low']:+.2f}, {c['comparison']['ci_high']:+.2f}]",
                          "published A − B": published(c),
                          "detectable": f"{c['detectable_effect']:.2f}" if c.get("detectable_effect") is not None else "–",
                          "verdict": c["verdict"], "published": c["published"]} for c in claims])


def verdict_summary(claims: list[dict]) -> tuple["pd.DataFrame", str]:
    """``(counts, reading)``: how many claims got each verdict (every verdict listed, zeros
    included, then :data:`BOUNDARY` and :data:`NOT_MEASURED`) and a one-paragraph reading of them for the front page."""
    import pandas as pd

    words = [c["verdict"] for c in claims]
    order = list(VERDICTS) + [BOUNDARY, NOT_MEASURED]
    counts = pd.DataFrame({"verdict": order, "claims": [words.count(w) for w in order]})
    n = len(claims)
    if not n:
        return counts, "No claim has been measured yet: run the notebooks at full size (configs/full.yaml)."
    c = dict(zip(counts.verdict, counts.claims))
    parts = [f"Of {n} claim measurements, {c['holds']} hold"]
    if c["smaller than published"]:
        parts.append(f"{c['smaller than published']} point the claimed way but are smaller than published")
    if c["published effect ruled out"]:
        parts.append(f"{c['published effect ruled out']} rule out an effect as large as published "
                     "(our interval includes zero and excludes the published A − B)")
    if c["contradicted"]:
        parts.append(f"{c['contradicted']} are contradicted (the interval excludes zero on the other side)")
    if c["underpowered"]:
        parts.append(f"{c['underpowered']} are underpowered (the test cannot tell zero from the published or a "
                     f"{MEANINGFUL_POINTS:g}-point effect; each row says how many test dialogues would)")
    if c["no effect found"]:
        parts.append(f"{c['no effect found']} found no effect although the test could detect one "
                     "(no size published for that dataset)")
    if c[BOUNDARY]:
        parts.append(f"{c[BOUNDARY]} are on the boundary between two verdicts (the verdict changes with the bootstrap's "
                     f"own random seed over {BOUNDARY_SEEDS} seeds, so neither is given)")
    if c[NOT_MEASURED]:
        parts.append(f"{c[NOT_MEASURED]} are not measured at full size (fewer than {MIN_SEEDS} seeds or a smoke "
                     "run) and carry no verdict")
    text = "; ".join(parts) + ". "
    text += ("Every interval is a paired bootstrap 95% interval over test dialogues and seeds; a published size is "
             "compared only on the dataset and in the setting (modalities, labels) it was published in, and our "
             "inputs (frozen sentence encoders, "
             "CPU-sized models) are not the papers', so a ruled-out effect is ruled out on our inputs.")
    return counts, text


def _row_summary(experiment, variant: str, dataset: str, output: str = "y_pred") -> dict:
    fits = experiment.seed_fits(variant, dataset)
    if output == "y_pred":
        scores = [f.test["weighted_f1"] for f in fits]
    else:
        from .metrics import classification_metrics

        scores = [classification_metrics(f.test_outputs["y_true"], f.test_outputs[output].argmax(-1),
                                         list(f.test["per_class_f1"]))["weighted_f1"] for f in fits]
    return {"variant": variant, "output": output, "mean": float(np.mean(scores)),
            "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, "n_seeds": len(scores)}


def rejudge(stored: dict) -> dict | None:
    """A stored claim measurement judged again by today's :func:`verdict` from its numbers (the
    interval, the seeds, this dataset's published size; the standard error from the interval width,
    ``(high - low) / 3.92``, when the run predates it), so every verdict on the front page follows
    one rule. Returns None for a claim no longer measured on that dataset (e.g. bc-LSTM MOSI, whose
    dev cannot select epochs or settings) or no longer in :data:`CLAIMS`."""
    claim = next((c for c in CLAIMS if c.id == stored.get("id")), None)
    if claim is None or stored.get("dataset") not in claim.datasets:
        return None
    comp = dict(stored["comparison"])
    se = comp.get("standard_error")
    if se is None:
        se = (comp["ci_high"] - comp["ci_low"]) / (2 * Z_ALPHA)
    seeds = min(comp.get("n_seeds_a", stored.get("ours", {}).get("n_seeds", 0)),
                comp.get("n_seeds_b", stored.get("other", {}).get("n_seeds", 0)))
    return {**stored, "published_differences": dict(claim.published_differences),
            **_judgement(claim, stored["dataset"], {**comp, "standard_error": se}, seeds)}


def recompute_comparison(stored: dict, results: dict, dialogue_lengths: list[int], n_classes: int) -> dict:
    """A stored claim's comparison computed again from the predictions its results JSON stores.

    Args:
        stored: one claim row of ``results/claims.json`` (its ``dataset``, ``a``, ``b``, ``output``
            and ``comparison``: ``n_resamples`` and ``bootstrap_seed``, 0 when absent).
        results: the results JSON it came from (``source_results``): ``test_truth``,
            ``test_predictions`` and, for a kept output such as ``logits_text``,
            ``test_output_predictions``.
        dialogue_lengths: the test dialogues' utterance counts from the loader (checked against
            the stored ones, so stored predictions sit on the dialogues they claim).
        n_classes: the dataset's number of classes.

    Returns: the :func:`erc_lib.metrics.paired_bootstrap` dict (``difference``, ``ci_low``,
    ``ci_high``, ``standard_error``, ...), equal to the stored one when nothing drifted.

    Raises:
        KeyError: a prediction the claim reads is not stored (named: variant, seed, output).
        ValueError: the stored dialogue lengths are not the loader's.
    """
    from .metrics import paired_bootstrap

    dataset, output, comp = stored["dataset"], stored.get("output", "y_pred"), stored["comparison"]
    truth = results["test_truth"][dataset]
    if list(truth["dialogue_lengths"]) != list(dialogue_lengths):
        raise ValueError(f"{stored['id']} on {dataset}: the stored test dialogue lengths are not the loader's")

    def predictions(variant: str, n_seeds: int) -> list[list[int]]:
        out = []
        for seed in range(n_seeds):
            key = f"{dataset}|{variant}|{seed}"
            try:
                out.append(results["test_predictions"][key] if output == "y_pred" else
                           results["test_output_predictions"][key][output])
            except KeyError:
                raise KeyError(f"{stored['id']} on {dataset}: no stored {output} predictions of {variant!r} seed {seed}") from None
        return out

    return paired_bootstrap(truth["labels"], predictions(stored["a"], comp["n_seeds_a"]),
                            predictions(stored["b"], comp["n_seeds_b"]), dialogue_lengths, n_classes,
                            n_resamples=comp["n_resamples"], seed=comp.get("bootstrap_seed", 0))


def rejudge_cv(stored: dict) -> dict | None:
    """A stored cross-validated claim row (:func:`erc_lib.crossval.evaluate_claims_cv`) judged again
    by today's rule: its pooled comparison and its standard-split (fold 0) comparison, and whether the
    two verdicts differ. None for a claim no longer in :data:`CLAIMS` on that dataset."""
    claim = next((c for c in CLAIMS if c.id == stored.get("id")), None)
    if claim is None or stored.get("dataset") not in claim.datasets:
        return None
    seeds = lambda comp: min(comp["n_seeds_a"], comp["n_seeds_b"])  # noqa: E731
    pooled = _judgement(claim, stored["dataset"], stored["comparison"], seeds(stored["comparison"]))
    standard = _judgement(claim, stored["dataset"], stored["standard"]["comparison"], seeds(stored["standard"]["comparison"]))
    return {**stored, **pooled, "standard": {**stored["standard"], **standard},
            "verdicts_differ": pooled["verdict"] != standard["verdict"]}


def judge_comparison(claim: Claim, dataset: str, comparison: dict, seeds: int) -> dict:
    """The verdict part of a claim row (``published_size``, ``published_elsewhere``,
    ``published_setting_differs``, ``detectable_effect``, ``verdict``, ``reason``) for a
    ``comparison`` measured elsewhere (e.g. a cross-validated one, :mod:`erc_lib.crossval`), by the
    one rule of :func:`evaluate_claims` and :func:`rejudge`."""
    return _judgement(claim, dataset, comparison, seeds)


def _judgement(claim: Claim, dataset: str, comparison: dict, seeds: int) -> dict:
    """The judged part of a claim row: the published size on ``dataset`` (or "published elsewhere"),
    the detectable effect, the verdict (:data:`NOT_MEASURED` below :data:`MIN_SEEDS` seeds) and its
    reason, from ``comparison`` (``difference``, ``ci_low``, ``ci_high``, ``standard_error``,
    ``n_dialogues``). One rule for :func:`evaluate_claims` and :func:`rejudge`."""
    published = claim.published_size(dataset)
    detectable = detectable_effect(comparison["standard_error"])
    if seeds < MIN_SEEDS:
        word, reason = NOT_MEASURED, f"{seeds} seed(s); a verdict needs >= {MIN_SEEDS} seeds at full size"
    else:
        word, reason = verdict(comparison["ci_low"], comparison["ci_high"], claim.sign, published, detectable,
                               comparison.get("n_dialogues"))
        by_seed = [verdict(low, high, claim.sign, published, detectable, comparison.get("n_dialogues"))[0]
                   for low, high in comparison.get("intervals_by_seed") or []]
        if len(set(by_seed)) > 1:
            counts = {w: by_seed.count(w) for w in dict.fromkeys(by_seed)}
            word, reason = BOUNDARY, (f"{BOUNDARY} between " + " and ".join(f"'{w}' ({n} of {len(by_seed)} bootstrap seeds)"
                                                                            for w, n in counts.items())
                                      + f"; with bootstrap seed 0: {reason}")
    elsewhere = published is None and bool(claim.published_differences)
    other_setting = claim.setting_note(dataset)
    note = (f"; published A - B {published:+.2f} on this dataset, same setting" if published is not None else
            f"; the published figure is in another setting ({other_setting}), sizes not compared" if other_setting else
            f"; the published figure is on another dataset ({', '.join(claim.published_differences)}), "
            "sizes not compared" if elsewhere else "")
    return {"published_size": published, "published_elsewhere": elsewhere, "published_setting_differs": bool(other_setting),
            "detectable_effect": round(detectable, 2),
            "verdict": word, "reason": f"ours A - B {comparison['difference']:+.2f}: {reason}{note}"}


def collect_claims(write: bool = True, folder=None) -> list[dict]:
    """Every claim measured by the complete, full-size results files directly under ``results/``
    (smoke runs write to ``results/smoke/`` and are never read here; a file whose parameters say
    ``smoke`` is skipped too, as is one not marked complete: both are listed in ``missing_results``).
    Written to ``results/claims.json``; claims no full-size run measured are listed in
    ``unmeasured`` with the verdict :data:`NOT_MEASURED`; cross-validated claims (a results file's
    ``cross_validation``, :func:`rejudge_cv`) under ``claims_cv``. ``folder``: default the full-size results
    folder (``results_dir(smoke=False)``, whatever this process's smoke setting)."""
    import json
    from pathlib import Path

    from .results import STATUS_COMPLETE

    claims, claims_cv, missing, sources = [], [], [], []
    folder = Path(folder) if folder is not None else results_dir(smoke=False)
    for path in sorted(folder.glob("[0-9][0-9]_*.json")):
        if path.name.endswith(".previous.json"):
            continue
        payload = json.loads(path.read_text())
        if payload.get("status") != STATUS_COMPLETE:
            missing.append({"file": path.name, "status": payload.get("status", "missing")})
            continue
        if payload.get("parameters", {}).get("smoke"):
            missing.append({"file": path.name, "status": "smoke run (never read for claims)"})
            continue
        sources.append(path.stem)
        for c in payload.get("claims", []):
            judged = rejudge(c)
            if judged is not None:
                claims.append({**judged, "source_results": path.stem, "smoke": False})
        for c in (payload.get("cross_validation") or {}).get("claims", []):
            judged = rejudge_cv(c)
            if judged is not None:
                claims_cv.append({**judged, "source_results": path.stem})
    measured = {c["id"] for c in claims if c["verdict"] != NOT_MEASURED}
    unmeasured = [{"id": c.id, "paper": c.paper, "claim": c.text, "notebook": c.notebook, "verdict": NOT_MEASURED}
                  for c in CLAIMS if c.id not in measured]
    if write:
        from datetime import datetime, timezone

        write_json(folder / "claims.json", {
            "status": STATUS_COMPLETE, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": sources, "missing_results": missing, "unmeasured": unmeasured,
            "claims": sorted(claims, key=lambda c: (c["paper"], c["id"], c["dataset"])),
            "claims_cv": sorted(claims_cv, key=lambda c: (c["paper"], c["id"], c["dataset"]))})
    return claims
