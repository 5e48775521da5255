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
  detectable one is ruled out; the claim has no published size to compare with).

A published size counts only on the dataset it was published on (``iemocap-sdt`` and
``iemocap`` are both IEMOCAP); elsewhere the row says "other dataset" and sizes are not compared.

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
NOT_MEASURED = "not measured at full size"
#: Fewest seeds per row for a claim's verdict.
MIN_SEEDS = 5
#: The smallest difference (weighted F1 points) treated as worth detecting when no size is published.
MEANINGFUL_POINTS = 2.0
#: z-values of a two-sided 5% test with 80% power: detectable effect = (z_0.975 + z_0.80) x standard error.
Z_ALPHA, Z_POWER = 1.959964, 0.841621


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

    def published_size(self, dataset: str) -> float | None:
        """The published A - B on ``dataset``'s base dataset, or None (none published there)."""
        return self.published_differences.get(base_dataset(dataset))


CLAIMS: tuple[Claim, ...] = (
    Claim("sdt-sd-fused", "SDT", "Self-distillation improves the fused (teacher) prediction", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs 71.10 w/o self-distillation [SDT, as quoted in SEED000 Table 7]",
          published_differences={"iemocap": 2.98}),
    Claim("sdt-sd-students", "SDT", "Self-distillation improves the unimodal (text) student", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="stated in SDT Sec. 4 (no per-student figure published)", output="logits_text"),
    Claim("sdt-multimodal", "SDT", "The multimodal model beats its best unimodal version", "03_sdt",
          "{full}", "{best_unimodal}", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs text 66.58 [SDT, as quoted in SEED000 Table 7]",
          published_differences={"iemocap": 7.50}),
    Claim("sdt-bios", "SDT + bios (seed 000)", "LLM-written speaker descriptions improve SDT", "04_sdt_bios",
          "SDT + bios", "SDT", ("iemocap", "meld", "emorynlp"),
          published="IEMOCAP 45.96 vs 45.26 [SEED000 Table 10]", published_differences={"iemocap": 0.70}),
    Claim("emonet-beats-compm", "EmoNet", "EmoNet beats CoMPM", "05_emonet", "{emonet}", "CoMPM",
          ("emorynlp",), published="EmoryNLP 39.18 vs 37.85 [EMONET thesis Table 5-1]",
          published_differences={"emorynlp": 1.33}),
    Claim("emonet-global-id", "EmoNet", "Global speaker IDs alone hurt, by about 8 points", "05_emonet",
          "+ global speaker ID", "CoMPM", ("emorynlp",), sign=-1,
          published="EmoryNLP 29.43 vs 37.85 [EMONET thesis Table 5-1]", published_differences={"emorynlp": -8.42}),
    Claim("emonet-behaviour", "EmoNet", "The speaker-behaviour window recovers the global-ID loss", "05_emonet",
          "+ speaker behaviour", "+ global speaker ID", ("emorynlp",),
          published="EmoryNLP 36.96 vs 29.43 [EMONET thesis Table 5-1]", published_differences={"emorynlp": 7.53}),
    Claim("emonet-weighted-ce", "EmoNet", "Normalised weighted cross-entropy helps", "05_emonet",
          "+ normalised weighted CE", "+ speaker behaviour", ("emorynlp",),
          published="EmoryNLP 39.18 vs 36.96 [EMONET thesis Table 5-1]", published_differences={"emorynlp": 2.22}),
    *(Claim(f"mister-e-vs-{e}", "MiSTER-E", f"MiSTER-E beats its {e} expert alone", "06_mister_e", "MiSTER-E",
            f"{e} expert alone", ("mosi-clean", "iemocap-sdt", "meld-sdt"), published="Fig. 5b [MISTERE] (bars, no table)")
      for e in ("speech", "text", "multimodal")),
    Claim("mister-e-vs-monolithic", "MiSTER-E", "MiSTER-E beats a monolithic model without experts", "06_mister_e",
          "MiSTER-E", "monolithic", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP 70.9 vs 67.8, MELD 69.5 vs 67.9 [MISTERE Sec. 4.5]",
          published_differences={"iemocap": 3.1, "meld": 1.6}),
    Claim("mister-e-aux-losses", "MiSTER-E", "The auxiliary losses (per-expert focal, contrastive, KL) help",
          "06_mister_e", "MiSTER-E", "No-Loss-MoE", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (No-Loss-MoE below MiSTER-E)"),
    Claim("mister-e-logit-gate", "MiSTER-E", "Gating the experts' logits beats gating their features",
          "06_mister_e", "MiSTER-E", "feat-MoE", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (feat-MoE below MiSTER-E)"),
)


def detectable_effect(standard_error: float) -> float:
    """The smallest |A - B| (points) this comparison detects with 80% power at the two-sided 5%
    level: ``(z_0.975 + z_0.80) * standard_error`` = 2.80 x the bootstrap standard error.

    Raises: ValueError for a negative or non-finite standard error."""
    if not math.isfinite(standard_error) or standard_error < 0:
        raise ValueError(f"standard_error must be a finite number >= 0, got {standard_error!r}")
    return (Z_ALPHA + Z_POWER) * standard_error


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
                    baseline: str = "BiGRU (context)", n_resamples: int = 1000) -> list[dict]:
    """Measure every claim of ``notebook`` that ``experiment`` holds both rows of on ``dataset`` (and,
    for a claim on a head such as ``logits_text``, whose rows have that head: an audio-only SDT has
    no text student, so that claim is not measured there).

    Args:
        notebook: e.g. ``"03_sdt"``.
        experiment: an :class:`erc_lib.experiment.Experiment`.
        dataset: the dataset the rows were trained on.
        names: values for the ``{...}`` placeholders of the row names (``full``, ``best_unimodal``).
        baseline: the row of the context baseline on the same inputs (reported beside the claim).
        n_resamples: bootstrap resamples (>= 1000 for a reported interval).

    Returns: one JSON-able dict per measured claim (the format of ``results/claims.json``) with
    the interval, ``published_size`` (this dataset's published A - B or None),
    ``published_elsewhere`` (a size exists for another dataset only), ``detectable_effect``
    (points), the verdict and its reason. Rows with fewer than :data:`MIN_SEEDS` seeds get the
    verdict :data:`NOT_MEASURED` (the interval is kept for reading, never for a verdict).
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
        comparison = paired_difference(experiment, a, experiment, b, dataset, n_resamples=n_resamples,
                                       output=claim.output)
        out.append({
            **{k: v for k, v in asdict(claim).items() if k not in ("a", "b", "datasets")},
            "dataset": dataset, "a": a, "b": b, "metric": "weighted_f1",
            "ours": _row_summary(experiment, a, dataset, claim.output),
            "other": _row_summary(experiment, b, dataset, claim.output),
            "baseline": _row_summary(experiment, baseline, dataset) if baseline in have else None,
            "comparison": {k: comparison[k] for k in ("difference", "ci_low", "ci_high", "standard_error",
                                                      "n_resamples", "n_dialogues", "n_seeds_a", "n_seeds_b")},
            **_judgement(claim, dataset, comparison, min(comparison["n_seeds_a"], comparison["n_seeds_b"])),
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
    included, then :data:`NOT_MEASURED`) and a one-paragraph reading of them for the front page."""
    import pandas as pd

    words = [c["verdict"] for c in claims]
    order = list(VERDICTS) + [NOT_MEASURED]
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
    if c[NOT_MEASURED]:
        parts.append(f"{c[NOT_MEASURED]} are not measured at full size (fewer than {MIN_SEEDS} seeds or a smoke "
                     "run) and carry no verdict")
    text = "; ".join(parts) + ". "
    text += ("Every interval is a paired bootstrap 95% interval over test dialogues and seeds; a published size is "
             "compared only on the dataset it was published on, and our inputs (frozen sentence encoders, "
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
    elsewhere = published is None and bool(claim.published_differences)
    note = (f"; published A - B {published:+.2f} on this dataset" if published is not None else
            f"; the published figure is on another dataset ({', '.join(claim.published_differences)}), "
            "sizes not compared" if elsewhere else "")
    return {"published_size": published, "published_elsewhere": elsewhere, "detectable_effect": round(detectable, 2),
            "verdict": word, "reason": f"ours A - B {comparison['difference']:+.2f}: {reason}{note}"}


def collect_claims(write: bool = True, folder=None) -> list[dict]:
    """Every claim measured by the complete, full-size results files directly under ``results/``
    (smoke runs write to ``results/smoke/`` and are never read here; a file whose parameters say
    ``smoke`` is skipped too, as is one not marked complete: both are listed in ``missing_results``).
    Written to ``results/claims.json``; claims no full-size run measured are listed in
    ``unmeasured`` with the verdict :data:`NOT_MEASURED`. ``folder``: default the full-size results
    folder (``results_dir(smoke=False)``, whatever this process's smoke setting)."""
    import json
    from pathlib import Path

    from .results import STATUS_COMPLETE

    claims, missing, sources = [], [], []
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
    measured = {c["id"] for c in claims if c["verdict"] != NOT_MEASURED}
    unmeasured = [{"id": c.id, "paper": c.paper, "claim": c.text, "notebook": c.notebook, "verdict": NOT_MEASURED}
                  for c in CLAIMS if c.id not in measured]
    if write:
        from datetime import datetime, timezone

        write_json(folder / "claims.json", {
            "status": STATUS_COMPLETE, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": sources, "missing_results": missing, "unmeasured": unmeasured,
            "claims": sorted(claims, key=lambda c: (c["paper"], c["id"], c["dataset"]))})
    return claims
