"""The benchmark's model sizes: the notebook's (no overrides) and the papers' (:data:`SIZES`)."""
from __future__ import annotations

from typing import Callable

from ..data import ERCData

SizeFn = Callable[[str, ERCData], tuple[dict, dict]]


def notebook_size(model: str, data: ERCData) -> tuple[dict, dict]:
    """No overrides: the notebook's settings (``configs/defaults.yaml`` via :func:`erc_lib.zoo.settings`)."""
    return {}, {}


def paper_size(model: str, data: ERCData) -> tuple[dict, dict]:
    """``(model_args, train_args)`` overrides for the papers' sizes.

    SDT: d_model 1024, 8 heads, d_ff 1024, batch 16 (IEMOCAP). MiSTER-E: CAN 1024 (BiGRU
    2 x 512), 3 GRU layers, batch 16. CoMPM frozen: CoM width = the encoder's (the text
    features' width) and the GRU as wide (CoMPM). BiGRU baseline: 512 per direction (as
    MiSTER-E's BiGRU). CoMPM fine-tuned: the encoder fixes the width (no override).
    Logistic regression has no size.
    """
    if model in ("sdt", "sdt_bios"):
        return {"d_model": 1024, "n_heads": 8, "d_ff": 1024}, {"batch_size": 16}
    if model == "mister_e":
        return {"can_hidden": 1024, "gru_layers": 3}, {"batch_size": 16}
    if model == "compm":
        return {"d_model": data.feature_dims()["text"], "pm_hidden": None}, {}
    if model == "bigru":
        return {"hidden": 512}, {}
    return {}, {}


SIZES: dict[str, SizeFn] = {"notebook": notebook_size, "paper": paper_size}
#: Models with only one meaningful size.
SIZELESS = ("logreg", "compm_finetune")
