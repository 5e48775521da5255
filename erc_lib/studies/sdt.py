"""Notebook 03's analysis of SDT beyond the paper's model: the ablation rows it trains
(variant name -> :func:`erc_lib.models.sdt.build_sdt` arguments) and each run's student heads scored alone."""
from __future__ import annotations

import itertools

from ..metrics import classification_metrics
from ..models.sdt import MODALITY_CODES, parse_modalities


def sdt_ablation_variants(modalities: str, full_ablation: bool = True) -> dict[str, dict]:
    """The paper's ablation rows for the modalities at hand: variant name -> keyword
    arguments for :func:`erc_lib.models.sdt.build_sdt` (``modalities`` plus loss switches).

    With ``full_ablation``: every single modality, every pair, all of them (SDT's modality
    ablation / seed Table 7); always: all modalities without self-distillation (no KL term,
    the unimodal CE terms stay) and with the fused task loss only (g2 = g3 = 0).
    """
    codes = "".join(m[0] for m in parse_modalities(modalities))
    label = lambda c: "+".join(MODALITY_CODES[x] for x in c)
    subsets = [codes]
    if full_ablation:
        subsets = ["".join(c) for r in range(1, len(codes) + 1) for c in itertools.combinations(codes, r)]
    variants = {label(c): {"modalities": c} for c in subsets}
    variants[f"{label(codes)} w/o self-distillation"] = {"modalities": codes, "self_distillation": False}
    variants[f"{label(codes)} fused loss only"] = {"modalities": codes, "self_distillation": False,
                                                    "gammas": (1.0, 0.0, 0.0)}
    return variants


def student_rows(experiment, label_names: list[str]) -> list[dict]:
    """Each run's student heads (the per-modality classifiers) scored alone on test at the
    run's dev-selected epoch (the question of the seed report's Tables 9 / 11): one row per
    dataset, variant, student modality and seed with ``weighted_f1``."""
    rows = []
    for (dataset, variant, seed), fit in experiment.fits.items():
        y = fit.test_outputs["y_true"]
        for key in sorted(k for k in fit.test_outputs if k.startswith("logits_")):
            f1 = classification_metrics(y, fit.test_outputs[key].argmax(-1), label_names)["weighted_f1"]
            rows.append({"dataset": dataset, "variant": variant, "student": key[len("logits_"):], "seed": seed,
                         "weighted_f1": f1})
    return rows
