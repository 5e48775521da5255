"""Every model by name: its settings for a dataset and a :class:`~erc_lib.experiment.RunSpec`.

:func:`settings` merges, lowest first: the model's ``all`` row of ``configs/defaults.yaml``
(the per-dataset defaults table), its dataset row, the tuned configuration
``configs/tuned/<model>_<dataset>.yaml`` (with ``tuned=True``, written by
:mod:`erc_lib.tune`) and the caller's overrides. :func:`model_spec` turns a model name, a
dataset and those settings into a spec for :func:`erc_lib.experiment.run_experiment`. The
notebooks, the tuner and the benchmark all build their models here, so "the same model" means
the same code and the same settings everywhere.

Models: ``logreg`` and ``bigru`` (:mod:`erc_lib.models.baselines`), ``sdt``
(:mod:`erc_lib.models.sdt`), ``mister_e`` (:mod:`erc_lib.models.mister_e`), ``compm``, ``emonet``
(the last EmoNet ablation row; both frozen-encoder, sharing CoMPM's defaults) and
``compm_finetune`` (:mod:`erc_lib.models.compm`, the fine-tuned encoder).
"""
from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import yaml

from .data import SATURATED_DEV, ERCData, canonical_modalities
from .experiment import RunSpec
from .paths import REPO_ROOT
from .ranges import check_settings

MODELS = ("logreg", "bigru", "sdt", "mister_e", "compm", "emonet", "compm_finetune")
CONFIG_DIR = REPO_ROOT / "configs"
MODEL_NAMES = {"logreg": "logistic regression (no context)", "bigru": "BiGRU (context)", "sdt": "SDT",
               "mister_e": "MiSTER-E", "compm": "CoMPM", "emonet": "EmoNet", "compm_finetune": "CoMPM"}
#: The EmoNet ablation row each CoMPM-family model name trains by default.
DEFAULT_ROWS = {"compm": "CoMPM", "emonet": "+ normalised weighted CE", "compm_finetune": "CoMPM"}


def read_yaml(path: Path) -> dict:
    """The YAML mapping in ``path`` (``{}`` for an empty file).

    Raises:
        ValueError: naming the file, when it is not valid YAML.
        FileNotFoundError: when ``path`` does not exist."""
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None


def inputs_key(inputs: list[str] | None) -> str:
    """A short name of an input selection for file names: ``None`` -> ``""``, ``["speech", "text"]``
    -> ``"_st"``, ``["text", "audio"]`` -> ``"_ta"`` (first letters, in the given order)."""
    return "" if not inputs else "_" + "".join(m[0] for m in inputs)


def tuned_path(model: str, dataset: str, inputs: list[str] | None = None) -> Path:
    """``configs/tuned/<model>_<dataset>[_<inputs>].yaml`` (inputs only when they are not the
    model's default for the dataset, e.g. the baselines on MiSTER-E's speech + text)."""
    return CONFIG_DIR / "tuned" / f"{model}_{dataset}{inputs_key(inputs)}.yaml"


def has_tuned(model: str, dataset: str, inputs: list[str] | None = None) -> bool:
    """Whether :func:`tuned_path` exists."""
    return tuned_path(model, dataset, inputs).exists()


def settings(model: str, dataset: str, tuned: bool = False, model_args: dict | None = None,
             train_args: dict | None = None, inputs: list[str] | None = None) -> tuple[dict, dict]:
    """``(model_args, train_args)`` for ``model`` on ``dataset`` (see the module docstring);
    ``inputs`` selects the tuned file of a non-default input selection. On a dataset whose dev
    cannot rank settings (:data:`erc_lib.data.SATURATED_DEV`: the bc-LSTM MOSI) training selects
    the last epoch (``selection="last"``, no early stopping) and no tuned file is read.

    Raises:
        ValueError: unknown model, ``tuned=True`` without a tuned file (the message says how
            to make one) or on a dataset in :data:`erc_lib.data.SATURATED_DEV`; a setting outside
            its range or unknown (:func:`erc_lib.ranges.check_settings`: field, value, range).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    table = read_yaml(CONFIG_DIR / "defaults.yaml").get("compm" if model == "emonet" else model, {})
    m, t = {}, {}
    for row in (table.get("all", {}), table.get(dataset, {})):
        m.update(copy.deepcopy(row.get("model", {}) or {}))
        t.update(copy.deepcopy(row.get("train", {}) or {}))
    if dataset in SATURATED_DEV:  # dev cannot rank epochs or settings: the last epoch, stated, dev never read
        t.update({"selection": "last", "patience": None})
        if tuned:
            raise ValueError(f"no tuned settings for {dataset!r}: {SATURATED_DEV[dataset]}; use tuned=False")
    if tuned:
        path = tuned_path(model, dataset, inputs)
        if not path.exists():
            flag = f" --inputs {' '.join(inputs)}" if inputs else ""
            raise ValueError(f"no tuned configuration {path}; run `python -m erc_lib.tune --model {model} "
                             f"--dataset {dataset}{flag}` first, or use tuned=False")
        best = read_yaml(path)
        m.update(best.get("model", {}) or {})
        t.update(best.get("train", {}) or {})
    m.update(model_args or {})
    t.update(train_args or {})
    check_settings(model, m, t)  # every value in its range before any training (erc_lib.ranges)
    return m, t


def resolve(model: str, dataset: str, use_tuned: bool = True, inputs: list[str] | None = None,
            model_args: dict | None = None, train_args: dict | None = None) -> tuple[dict, dict, str]:
    """:func:`settings` with the tuned configuration when ``use_tuned`` and it exists:
    ``(model_args, train_args, "tuned" | "default")``."""
    tuned = use_tuned and has_tuned(model, dataset, inputs)
    m, t = settings(model, dataset, tuned, model_args, train_args, inputs)
    return m, t, "tuned" if tuned else "default"


def baseline_specs(data: ERCData, dataset: str, inputs: list[str], use_tuned: bool = True,
                   train_args: dict | None = None, columns: dict | None = None,
                   with_defaults: bool = True) -> list[RunSpec]:
    """The rows that open every results table: the no-context logistic regression and the context
    BiGRU on ``inputs`` (dataset modalities), tuned when a tuned file exists; then, when a tuned
    file was used and ``with_defaults``, the same two with their default settings
    (``"<name>, default settings"``), so every table shows what tuning changed on test."""
    inputs = canonical_modalities(inputs)  # one order: the same inputs share fits and numbers across notebooks
    key = inputs if sorted(inputs) != sorted(data.modalities) else None
    specs, defaults = [], []
    for model in ("logreg", "bigru"):
        m, t, source = resolve(model, dataset, use_tuned, key, train_args=train_args)
        specs.append(model_spec(model, data, inputs, model_args=m, train_args=t,
                                columns={**(columns or {}), "settings": source}))
        if source == "tuned" and with_defaults:
            dm, dt = settings(model, dataset, False, None, train_args, key)
            defaults.append(model_spec(model, data, inputs, default_row(MODEL_NAMES[model]), model_args=dm,
                                       train_args=dt, columns={**(columns or {}), "settings": "default"}))
    return specs + defaults


def default_row(name: str) -> str:
    """The row label of a model run with its default settings beside its tuned row:
    ``"BiGRU (context)"`` -> ``"BiGRU (context, default settings)"``, ``"SDT"`` -> ``"SDT (default settings)"``."""
    return f"{name[:-1]}, default settings)" if name.endswith(")") else f"{name} (default settings)"


def default_inputs(model: str, data: ERCData) -> list[str]:
    """The inputs a model reads by default: MiSTER-E's experts (``speech``/``text``, or ``text``
    on text-only data), every modality of the dataset for the others."""
    if model == "mister_e":
        return ["speech", "text"] if "audio" in data.modalities else ["text"]
    return list(data.modalities)


def model_spec(model: str, data: ERCData, inputs: list[str] | None = None, variant: str | None = None,
               model_args: dict | None = None, train_args: dict | None = None, columns: dict | None = None,
               keep: tuple[str, ...] | None = None, model_name: str | None = None) -> RunSpec:
    """A :class:`~erc_lib.experiment.RunSpec` for ``model`` on ``data``.

    Args:
        model: one of :data:`MODELS`.
        data: the dataset (features of ``inputs`` present; see
            :func:`erc_lib.features.text.prepare_dataset`).
        inputs: modalities (``text``/``audio``/``visual``; MiSTER-E: ``speech``/``text``); default
            :func:`default_inputs`.
        variant: the row label (default: the model's display name).
        model_args: builder keyword arguments (usually from :func:`settings`). For ``compm`` /
            ``compm_finetune`` the EmoNet ablation row goes in ``row`` (default ``"CoMPM"``) and the
            speaker window in ``window``.
        train_args: :class:`erc_lib.training.TrainConfig` overrides.
        columns, keep: passed to the spec.
        model_name: the ``model`` column (default: the model's display name, e.g. ``"SDT"``).

    The spec's ``identity`` (the fit cache's key, :mod:`erc_lib.fitcache`) is ``model``,
    ``model_args`` and ``inputs`` (plus the encoder's fingerprint for ``compm_finetune``).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    args = dict(model_args or {})
    inputs = list(inputs) if inputs is not None else default_inputs(model, data)
    name = variant or MODEL_NAMES[model]
    common = dict(model=model_name or MODEL_NAMES[model], train=dict(train_args or {}), columns=dict(columns or {}),
                  identity={"model": model, "model_args": copy.deepcopy(args), "inputs": inputs})  # the fit cache's key
    if model == "logreg":
        from .models.baselines import build_logistic_regression

        return RunSpec(name, partial(build_logistic_regression, data, inputs, **args), inputs, **common)
    if model == "bigru":
        from .models.baselines import build_bigru

        return RunSpec(name, partial(build_bigru, data, inputs, **args), inputs, **common)
    if model == "sdt":
        from .models.sdt import build_sdt, parse_modalities

        names = parse_modalities(inputs)
        common["identity"]["inputs"] = names  # "ta" and ["text", "audio"] are one model
        return RunSpec(name, partial(build_sdt, data, names, **args), names,
                       keep=keep if keep is not None else tuple(f"logits_{m}" for m in names) + ("gate",), **common)
    if model == "mister_e":
        from .models.mister_e import build_mister_e, expert_features, kept_outputs

        variant_name = args.get("variant", "text" if inputs == ["text"] else "mister_e")
        return RunSpec(name, partial(build_mister_e, data, inputs, **args), expert_features(inputs),
                       keep=keep if keep is not None else kept_outputs(variant_name), **common)
    from .models.compm import build_compm, compm_splits

    mode = "finetune" if model == "compm_finetune" else "frozen"
    row, window = args.pop("row", DEFAULT_ROWS[model]), args.pop("window", 11)
    token_args = {k: args.pop(k) for k in ("max_context_tokens", "max_utterance_tokens") if k in args}
    encoder = args.get("encoder", "all-MiniLM-L6-v2")
    if mode == "finetune":  # the encoder's weights are trained here: key them by content, not name
        from .features.text import encoder_fingerprint

        common["identity"]["encoder"] = encoder_fingerprint(encoder)
    return RunSpec(name, partial(build_compm, data, row, mode, **args),
                   partial(compm_splits, data, row, mode, window, encoder, **token_args), keep=keep or (), **common)
