"""The benchmark's models (:data:`MODELS`) and the :class:`~erc_lib.experiment.RunSpec` of a model at a size."""
from __future__ import annotations

from .. import zoo
from ..data import ERCData
from ..experiment import RunSpec
from .sizes import MODELS, SIZES, ZOO_MODEL, SizeFn
from .synthetic import BIOS_DIM, random_bios



def bench_spec(model: str, size: str, data: ERCData, train_overrides: dict, sizes: dict[str, SizeFn] | None = None) -> RunSpec:
    """The :class:`~erc_lib.experiment.RunSpec` of ``model`` at ``size`` (:func:`erc_lib.zoo.model_spec`
    with the dataset's notebook settings, the size's overrides and ``train_overrides``).

    Raises ValueError for an unknown model or size."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    sizes = sizes or SIZES
    if size not in sizes:
        raise ValueError(f"unknown size {size!r}; expected one of {list(sizes)}")
    zoo_model = ZOO_MODEL[model]
    entry = zoo.model_entry(zoo_model)
    model_args, train_args = zoo.settings(zoo_model, data.name)
    size_model, size_train = sizes[size](model, data)
    model_args.update(size_model)
    train_args.update(size_train)
    # MiSTER-E reads its experts, the CoMPM family its own token batches, every other model the text
    inputs = ["speech", "text"] if entry.experts else None if entry.row else ["text"]
    if model == "sdt_bios":
        model_args["bios_dim"] = BIOS_DIM
    spec = zoo.model_spec(zoo_model, data, inputs, variant=f"{model}/{size}", model_args=model_args,
                          train_args={**train_args, **train_overrides}, keep=())
    if model == "sdt_bios":
        spec.extra = random_bios()
    return spec
