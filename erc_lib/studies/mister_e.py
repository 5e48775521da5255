"""Notebook 06's analysis of MiSTER-E beyond the paper's model: the comparison rows it trains,
each expert's own head scored alone, the gate weights (Fig. 5) and the case dialogue (Fig. 6 / 9)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import classification_metrics
from ..models.mister_e import EXPERTS


def expert_head_rows(data, fits: dict, label: str = "mister_e", model_name: str = "MiSTER-E") -> list[dict]:
    """Test rows for each expert's own classifier inside a trained mixture (Fig. 5b), at the
    mixture's dev-selected epoch: variant ``"<label> / <expert> head"``, one per seed."""
    rows = []
    for (_, name, seed), fit in fits.items():
        if name != label:
            continue
        y = fit.test_outputs["y_true"]
        for e in EXPERTS:
            key = f"logits_{e}"
            if key not in fit.test_outputs:
                continue
            m = classification_metrics(y, fit.test_outputs[key].argmax(-1), data.label_names)
            rows.append({"dataset": data.name, "model": model_name, "variant": f"{label} / {e} head",
                         "seed": seed, "split": "test", "weighted_f1": m["weighted_f1"], "accuracy": m["accuracy"],
                         "macro_f1": m["macro_f1"], "per_class_f1": m["per_class_f1"], "best_epoch": fit.best_epoch})
    return rows


#: The comparison rows of the paper (Fig. 5b, Sec. 4.5, 4.7): row label -> MiSTERE variant.
MISTER_E_ROWS = {"MiSTER-E": "mister_e", "speech expert alone": "speech", "text expert alone": "text",
                 "multimodal expert alone": "multimodal", "monolithic": "monolithic", "feat-MoE": "feat_moe",
                 "No-Loss-MoE": "no_loss_moe"}


def gate_weights(experiment, variants=("MiSTER-E", "feat-MoE", "No-Loss-MoE")):
    """Per-utterance test gate weights of the gated ``variants`` at each run's dev-selected
    epoch, as a long DataFrame: ``variant``, ``seed``, ``expert``, ``gate weight`` (Fig. 5a)."""
    frames = [pd.DataFrame(f.test_outputs["gate"], columns=list(EXPERTS)).assign(variant=v, seed=s)
              for (_, v, s), f in experiment.fits.items() if v in variants and f.test_outputs["gate"].shape[1] == 3]
    if not frames:
        return pd.DataFrame(columns=["variant", "seed", "expert", "gate weight"])
    return pd.concat(frames).melt(id_vars=["variant", "seed"], var_name="expert", value_name="gate weight")


def case_dialogue(fit, data):
    """The test dialogue whose gate weights vary most, utterance by utterance (Fig. 6 / 9): each
    expert's prediction, the mixture's, the truth and the weights β. Returns ``(dialogue_id,
    DataFrame)``; raises KeyError when ``fit`` has no per-expert outputs (not a gated model)."""
    out = fit.test_outputs
    lengths = [len(d) for d in data.splits["test"]]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    spread = [out["gate"][a:b].std(0).sum() if b - a > 1 else 0.0 for a, b in zip(starts[:-1], starts[1:])]
    pick = int(np.argmax(spread))
    a, b = starts[pick], starts[pick + 1]
    names = np.array(data.label_names)
    table = pd.DataFrame({"utterance": np.arange(1, b - a + 1),
                          **{f"{e} expert": names[out[f"logits_{e}"][a:b].argmax(-1)] for e in EXPERTS},
                          "MiSTER-E": names[out["y_pred"][a:b]], "true": names[out["y_true"][a:b]],
                          **{f"β {e}": out["gate"][a:b, i].round(2) for i, e in enumerate(EXPERTS)}})
    texts = data.splits["test"][pick].texts
    if any(texts):
        table.insert(1, "text", [t[:60] for t in texts])
    return data.splits["test"][pick].dialogue_id, table
