"""Search spaces: each model's space from the model table (:data:`erc_lib.zoo.MODELS`, defined beside
the model's config class) and how a trial draws settings from one."""
from __future__ import annotations

import optuna

from .. import zoo

_PRIMITIVE = (type(None), bool, int, float, str)


def search_space(model: str) -> dict:
    """The search space of ``model`` (its entry's ``space`` in :data:`erc_lib.zoo.MODELS`):
    ``{"model": {name: spec}, "train": {name: spec}}``.

    Raises: ValueError for an unknown model or one without a space (``compm_finetune`` trains
        the encoder on a GPU; it is run with the authors' recipe, not tuned)."""
    if model not in zoo.MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {tuple(zoo.MODELS)}")
    entry = zoo.MODELS[model]
    if entry.space is None:
        raise ValueError(f"model {model!r} has no search space: {entry.untuned}")
    return entry.space


def sample(trial: optuna.Trial, space: dict) -> tuple[dict, dict]:
    """``(model_args, train_args)`` drawn by ``trial`` from ``space`` (parameters are named
    ``model.<name>`` / ``train.<name>``; ``("choice", [...])`` with non-scalar options, e.g.
    SDT's ``gammas`` lists, is suggested by index). Raises ValueError for an unknown spec kind."""
    out = []
    for part in ("model", "train"):
        values = {}
        for name, spec in (space.get(part) or {}).items():
            key, kind = f"{part}.{name}", spec[0]
            if kind in ("log", "float"):
                values[name] = trial.suggest_float(key, spec[1], spec[2], log=kind == "log")
            elif kind == "int":
                values[name] = trial.suggest_int(key, spec[1], spec[2])
            elif kind == "choice" and all(isinstance(c, _PRIMITIVE) for c in spec[1]):
                values[name] = trial.suggest_categorical(key, list(spec[1]))
            elif kind == "choice":
                values[name] = spec[1][trial.suggest_categorical(key + "#index", list(range(len(spec[1]))))]
            else:
                raise ValueError(f"search space entry {key}: unknown kind {kind!r} (expected log, float, int, choice)")
        out.append(values)
    return out[0], out[1]

