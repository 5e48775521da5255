"""The published claims this study tests, how each is measured, and its verdict.

A :class:`Claim` names two rows of a notebook's experiment (A, the side the paper says is
better, and B) and the direction (and for "about N points" claims, the size) the paper states.
:func:`evaluate_claims` measures A - B on the test dialogues with a paired bootstrap 95%
interval (:func:`erc_lib.experiment.paired_difference`, whole dialogues and seeds resampled)
and gives a verdict:

* ``holds``: the interval excludes zero on the claimed side (and contains the claimed size, when
  a size is claimed);
* ``not confirmed``: the claimed side, but the claimed size lies outside the interval;
* ``contradicted``: the interval excludes zero on the other side;
* ``inconclusive``: the interval includes zero, whatever the sign of the mean difference.

Every notebook stores its evaluated claims in its results JSON; :func:`collect_claims` gathers
them into ``results/claims.json`` for the report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .paths import results_dir, write_json

VERDICTS = ("holds", "not confirmed", "contradicted", "inconclusive")


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
        size: the claimed size of A - B in points, when the paper states one ("about 8 points").
        published: the published figure, in words, with its source (:mod:`erc_lib.published`).
        published_difference: the published A - B, when it exists.
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
    size: float | None = None
    published: str = ""
    published_difference: float | None = None
    output: str = "y_pred"


CLAIMS: tuple[Claim, ...] = (
    Claim("sdt-sd-fused", "SDT", "Self-distillation improves the fused (teacher) prediction", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs 71.10 w/o self-distillation [SDT, as quoted in SEED000 Table 7]",
          published_difference=2.98),
    Claim("sdt-sd-students", "SDT", "Self-distillation improves the unimodal (text) student", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi", "iemocap-sdt", "meld-sdt"),
          published="stated in SDT Sec. 4 (no per-student figure published)", output="logits_text"),
    Claim("sdt-multimodal", "SDT", "The multimodal model beats its best unimodal version", "03_sdt",
          "{full}", "{best_unimodal}", ("mosi", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs text 66.58 [SDT, as quoted in SEED000 Table 7]", published_difference=7.50),
    Claim("sdt-bios", "SDT + bios (seed 000)", "LLM-written speaker descriptions improve SDT", "04_sdt_bios",
          "SDT + bios", "SDT", ("iemocap", "meld", "emorynlp"),
          published="IEMOCAP 45.96 vs 45.26 [SEED000 Table 10]", published_difference=0.70),
    Claim("emonet-beats-compm", "EmoNet", "EmoNet beats CoMPM", "05_emonet", "{emonet}", "CoMPM",
          ("emorynlp",), published="EmoryNLP 39.18 vs 37.85 [EMONET thesis Table 5-1]", published_difference=1.33),
    Claim("emonet-global-id", "EmoNet", "Global speaker IDs alone hurt, by about 8 points", "05_emonet",
          "+ global speaker ID", "CoMPM", ("emorynlp",), sign=-1, size=8.42,
          published="EmoryNLP 29.43 vs 37.85 [EMONET thesis Table 5-1]", published_difference=-8.42),
    Claim("emonet-behaviour", "EmoNet", "The speaker-behaviour window recovers the global-ID loss", "05_emonet",
          "+ speaker behaviour", "+ global speaker ID", ("emorynlp",),
          published="EmoryNLP 36.96 vs 29.43 [EMONET thesis Table 5-1]", published_difference=7.53),
    Claim("emonet-weighted-ce", "EmoNet", "Normalised weighted cross-entropy helps", "05_emonet",
          "+ normalised weighted CE", "+ speaker behaviour", ("emorynlp",),
          published="EmoryNLP 39.18 vs 36.96 [EMONET thesis Table 5-1]", published_difference=2.22),
    *(Claim(f"mister-e-vs-{e}", "MiSTER-E", f"MiSTER-E beats its {e} expert alone", "06_mister_e", "MiSTER-E",
            f"{e} expert alone", ("mosi", "iemocap-sdt", "meld-sdt"), published="Fig. 5b [MISTERE] (bars, no table)")
      for e in ("speech", "text", "multimodal")),
    Claim("mister-e-vs-monolithic", "MiSTER-E", "MiSTER-E beats a monolithic model without experts", "06_mister_e",
          "MiSTER-E", "monolithic", ("mosi", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP 70.9 vs 67.8, MELD 69.5 vs 67.9 [MISTERE Sec. 4.5]", published_difference=3.1),
    Claim("mister-e-aux-losses", "MiSTER-E", "The auxiliary losses (per-expert focal, contrastive, KL) help",
          "06_mister_e", "MiSTER-E", "No-Loss-MoE", ("mosi", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (No-Loss-MoE below MiSTER-E)"),
    Claim("mister-e-logit-gate", "MiSTER-E", "Gating the experts' logits beats gating their features",
          "06_mister_e", "MiSTER-E", "feat-MoE", ("mosi", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (feat-MoE below MiSTER-E)"),
)


def verdict(ci_low: float, ci_high: float, sign: int, size: float | None = None) -> tuple[str, str]:
    """``(verdict, reason)`` for an interval of A - B (see the module docstring)."""
    interval = f"95% interval [{ci_low:+.2f}, {ci_high:+.2f}]"
    if ci_low <= 0 <= ci_high:
        return "inconclusive", f"the {interval} includes zero"
    if (1 if ci_low > 0 else -1) != sign:
        return "contradicted", f"the {interval} excludes zero on the other side"
    if size is not None and not ci_low <= sign * size <= ci_high:
        return "not confirmed", f"the claimed direction, but the claimed size {sign * size:+.2f} lies outside the {interval}"
    return "holds", f"the {interval} excludes zero on the claimed side"


def evaluate_claims(notebook: str, experiment, dataset: str, names: dict | None = None,
                    baseline: str = "BiGRU (context)", n_resamples: int = 1000) -> list[dict]:
    """Measure every claim of ``notebook`` that ``experiment`` holds both rows of on ``dataset``.

    Args:
        notebook: e.g. ``"03_sdt"``.
        experiment: an :class:`erc_lib.experiment.Experiment`.
        dataset: the dataset the rows were trained on.
        names: values for the ``{...}`` placeholders of the row names (``full``, ``best_unimodal``).
        baseline: the row of the context baseline on the same inputs (reported beside the claim).
        n_resamples: bootstrap resamples (>= 1000 for a reported interval).

    Returns: one JSON-able dict per measured claim (the format of ``results/claims.json``).
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
        comparison = paired_difference(experiment, a, experiment, b, dataset, n_resamples=n_resamples,
                                       output=claim.output)
        word, reason = verdict(comparison["ci_low"], comparison["ci_high"], claim.sign, claim.size)
        published = (f"; published A - B {claim.published_difference:+.2f}" if claim.published_difference is not None
                     else "")
        out.append({
            **{k: v for k, v in asdict(claim).items() if k not in ("a", "b", "datasets")},
            "dataset": dataset, "a": a, "b": b, "metric": "weighted_f1",
            "ours": _row_summary(experiment, a, dataset, claim.output),
            "other": _row_summary(experiment, b, dataset, claim.output),
            "baseline": _row_summary(experiment, baseline, dataset) if baseline in have else None,
            "comparison": {k: comparison[k] for k in ("difference", "ci_low", "ci_high", "n_resamples", "n_dialogues")},
            "verdict": word, "reason": f"ours A - B {comparison['difference']:+.2f}: {reason}{published}",
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
    """The claims a notebook measured, one row each: claim, dataset, A - B, its 95% interval,
    verdict and the published figure."""
    import pandas as pd

    return pd.DataFrame([{"claim": c["text"], "dataset": c["dataset"], "A": c["a"], "B": c["b"],
                          "A − B": f"{c['comparison']['difference']:+.2f}",
                          "95% CI": f"[{c['comparison']['ci_low']:+.2f}, {c['comparison']['ci_high']:+.2f}]",
                          "verdict": c["verdict"], "published": c["published"]} for c in claims])


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


def collect_claims(write: bool = True) -> list[dict]:
    """Every claim measured by the complete results files under ``results/`` (files not marked
    complete are skipped and listed in ``missing``); written to ``results/claims.json``."""
    import json

    from .results import STATUS_COMPLETE

    claims, missing, sources = [], [], []
    for path in sorted(results_dir().glob("[0-9][0-9]_*.json")):
        if path.name.endswith(".previous.json"):
            continue
        payload = json.loads(path.read_text())
        if payload.get("status") != STATUS_COMPLETE:
            missing.append({"file": path.name, "status": payload.get("status", "missing")})
            continue
        sources.append(path.stem)
        for c in payload.get("claims", []):
            claims.append({**c, "source_results": path.stem, "smoke": bool(payload.get("parameters", {}).get("smoke"))})
    measured = {c["id"] for c in claims}
    unmeasured = [{"id": c.id, "paper": c.paper, "claim": c.text, "notebook": c.notebook} for c in CLAIMS
                  if c.id not in measured]
    if write:
        from datetime import datetime, timezone

        write_json(results_dir() / "claims.json", {
            "status": STATUS_COMPLETE, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": sources, "missing_results": missing, "unmeasured": unmeasured,
            "claims": sorted(claims, key=lambda c: (c["paper"], c["id"], c["dataset"]))})
    return claims
