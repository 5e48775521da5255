"""The benchmark's model sizes: the notebook's (no overrides) and the papers' (:data:`SIZES`)."""
from __future__ import annotations

from typing import Callable

from .. import zoo
from ..data import ERCData

#: The benchmark's models, in its own order: every model of the table (:data:`erc_lib.zoo.MODELS`) but EmoNet
#: (CoMPM's network with other settings), plus ``sdt_bios`` (SDT with random speaker descriptions).
MODELS = ("logreg", "bigru", "sdt", "sdt_bios", "compm", "compm_finetune", "mister_e")
#: Benchmark model -> its model in the table.
ZOO_MODEL = {**{m: m for m in zoo.MODELS if m != "emonet"}, "sdt_bios": "sdt"}

SizeFn = Callable[[str, ERCData], tuple[dict, dict]]


def notebook_size(model: str, data: ERCData) -> tuple[dict, dict]:
    """No overrides: the notebook's settings (``configs/defaults.yaml`` via :func:`erc_lib.zoo.settings`)."""
    return {}, {}


def paper_size(model: str, data: ERCData) -> tuple[dict, dict]:
    """``(model_args, train_args)`` overrides for the papers' sizes: the model table's
    ``paper_size`` (:class:`erc_lib.zoo.ModelEntry`, written beside each model's config); ``({}, {})``
    for a model without one (logistic regression, the fine-tuned CoMPM whose encoder fixes the width)."""
    size = zoo.model_entry(ZOO_MODEL[model]).paper_size
    model_args, train_args = size(data) if size is not None else ({}, {})
    return dict(model_args), dict(train_args)


SIZES: dict[str, SizeFn] = {"notebook": notebook_size, "paper": paper_size}
#: Models with only one meaningful size.
SIZELESS = ("logreg", "compm_finetune")
