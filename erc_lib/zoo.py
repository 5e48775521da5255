"""Every model by name: its settings for a dataset and a :class:`~erc_lib.experiment.RunSpec`.

:func:`settings` merges, lowest first: the model's ``all`` row of ``configs/defaults.yaml``
(the per-dataset defaults table), its dataset row, the tuned configuration
``configs/tuned/<model>_<dataset>.yaml`` (with ``tuned=True``, written by
:mod:`erc_lib.tune`) and the caller's overrides. :func:`model_spec` turns a model name, a
dataset and those settings into a spec for :func:`erc_lib.experiment.run_experiment`. The
notebooks, the tuner and the benchmark all build their models here, so "the same model" means
the same code and the same settings everywhere.

The model table :data:`MODELS` holds one :class:`ModelEntry` per model name: its display name,
builder, config class, value rules and search space (both beside the config class in the model's
own module), its row of ``configs/defaults.yaml`` and how its spec is made. Every lookup by model
name (:func:`model_spec`, :func:`settings`, :mod:`erc_lib.tune`, the notebooks' override checks)
reads this table. Models: ``logreg`` and ``bigru`` (:mod:`erc_lib.models.baselines`), ``sdt``
(:mod:`erc_lib.models.sdt`), ``mister_e`` (:mod:`erc_lib.models.mister_e`), ``compm``, ``emonet``
(the last EmoNet ablation row; both frozen-encoder, sharing CoMPM's defaults) and
``compm_finetune`` (:mod:`erc_lib.models.compm`, the fine-tuned encoder).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import yaml

from .data import SATURATED_DEV, ERCData, canonical_modalities
from .experiment import RunSpec
from .features.text import encoder_fingerprint
from .models import baselines, compm, mister_e, sdt
from .paths import REPO_ROOT
from .ranges import Rule, check_settings

CONFIG_DIR = REPO_ROOT / "configs"


@dataclass(frozen=True)
class ModelEntry:
    """One model of the table :data:`MODELS`.

    Attributes:
        name: the model name (``configs/defaults.yaml`` section, tuned-file prefix, fit-cache key).
        display: the display name (the ``model`` column of results, e.g. ``"SDT"``).
        builder: the builder (``builder(data, inputs, **model_args)``; CoMPM: ``(data, row, mode, ...)``).
        config: the config dataclass whose fields ``model_args`` set (None: the builder's arguments are all).
        rules: builder argument -> :class:`~erc_lib.ranges.Rule` (beside ``config`` in its module).
        space: the :mod:`erc_lib.tune` search space, or None with ``untuned`` saying why.
        make_spec: ``make_spec(entry, data, inputs, name, args, keep, common) -> RunSpec`` (:func:`model_spec`).
        defaults: its section of ``configs/defaults.yaml`` (EmoNet shares CoMPM's).
        experts: its inputs are MiSTER-E expert names (``speech``/``text``), not dataset modalities.
        row, encoder_mode: CoMPM family: the EmoNet ablation row trained by default and the encoder mode.
        untuned: why the model has no search space.
        paper_size: ``paper_size(data) -> (model_args, train_args)``: the paper's size (the
            benchmark's "paper" size), beside the config in the model's module; None: no size to set
            (logistic regression; the fine-tuned encoder fixes CoMPM's width).
    """

    name: str
    display: str
    builder: Callable
    config: type | None
    rules: dict[str, Rule]
    space: dict | None
    make_spec: Callable
    defaults: str = ""
    experts: bool = False
    row: str | None = None
    encoder_mode: str | None = None
    untuned: str | None = None
    paper_size: Callable | None = None

    def __post_init__(self):
        if not self.defaults:
            object.__setattr__(self, "defaults", self.name)


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
    entry = model_entry(model)
    table = read_yaml(CONFIG_DIR / "defaults.yaml").get(entry.defaults, {})
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
    check_settings(model, m, t, entry.rules)  # every value in its range before any training (erc_lib.ranges)
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
    for model in BASELINES:
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
    if model_entry(model).experts:
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
    entry = model_entry(model)
    args = dict(model_args or {})
    inputs = list(inputs) if inputs is not None else default_inputs(model, data)
    name = variant or entry.display
    common = dict(model=model_name or entry.display, train=dict(train_args or {}), columns=dict(columns or {}),
                  identity={"model": model, "model_args": copy.deepcopy(args), "inputs": inputs})  # the fit cache's key
    return entry.make_spec(entry, data, inputs, name, args, keep, common)


def modality_spec(entry: ModelEntry, data: ERCData, inputs: list[str], name: str, args: dict,
                  keep: tuple[str, ...] | None, common: dict) -> RunSpec:
    """The spec of a model that reads the dataset's modalities ``inputs`` (the baselines)."""
    return RunSpec(name, partial(entry.builder, data, inputs, **args), inputs, **common)


def sdt_spec(entry: ModelEntry, data: ERCData, inputs: list[str], name: str, args: dict,
             keep: tuple[str, ...] | None, common: dict) -> RunSpec:
    """SDT's spec: modality codes or names are one model; keeps every student's logits and the gate."""
    names = sdt.parse_modalities(inputs)
    common["identity"]["inputs"] = names  # "ta" and ["text", "audio"] are one model
    return RunSpec(name, partial(entry.builder, data, names, **args), names,
                   keep=keep if keep is not None else tuple(f"logits_{m}" for m in names) + ("gate",), **common)


def mister_e_spec(entry: ModelEntry, data: ERCData, inputs: list[str], name: str, args: dict,
                  keep: tuple[str, ...] | None, common: dict) -> RunSpec:
    """MiSTER-E's spec: expert inputs, the experts' outputs kept for the variant."""
    variant_name = args.get("variant", "text" if inputs == ["text"] else "mister_e")
    return RunSpec(name, partial(entry.builder, data, inputs, **args), mister_e.expert_features(inputs),
                   keep=keep if keep is not None else mister_e.kept_outputs(variant_name), **common)


def compm_spec(entry: ModelEntry, data: ERCData, inputs: list[str], name: str, args: dict,
               keep: tuple[str, ...] | None, common: dict) -> RunSpec:
    """The CoMPM family's spec: the EmoNet ``row`` and speaker ``window`` come out of ``args``; the
    fine-tuned encoder is keyed by its content."""
    mode = entry.encoder_mode
    row, window = args.pop("row", entry.row), args.pop("window", 11)
    token_args = {k: args.pop(k) for k in ("max_context_tokens", "max_utterance_tokens") if k in args}
    encoder = args.get("encoder", "all-MiniLM-L6-v2")
    if mode == "finetune":  # the encoder's weights are trained here: key them by content, not name
        common["identity"]["encoder"] = encoder_fingerprint(encoder)
    return RunSpec(name, partial(entry.builder, data, row, mode, **args),
                   partial(compm.compm_splits, data, row, mode, window, encoder, **token_args), keep=keep or (), **common)


_COMPM = dict(builder=compm.build_compm, config=compm.CoMPMConfig, rules=compm.COMPM_RULES, make_spec=compm_spec)
#: The model table: model name -> :class:`ModelEntry`, in the order the models are listed everywhere.
MODELS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("logreg", "logistic regression (no context)", baselines.build_logistic_regression, None,
               baselines.LOGREG_RULES, baselines.LOGREG_SEARCH_SPACE, modality_spec),
    ModelEntry("bigru", "BiGRU (context)", baselines.build_bigru, baselines.BiGRUConfig, baselines.BIGRU_RULES,
               baselines.BIGRU_SEARCH_SPACE, modality_spec, paper_size=lambda data: baselines.BIGRU_PAPER_SIZE),
    ModelEntry("sdt", "SDT", sdt.build_sdt, sdt.SDTConfig, sdt.SDT_RULES, sdt.SEARCH_SPACE, sdt_spec,
               paper_size=lambda data: sdt.PAPER_SIZE),
    ModelEntry("mister_e", "MiSTER-E", mister_e.build_mister_e, mister_e.MiSTEREConfig, mister_e.MISTER_E_RULES,
               mister_e.SEARCH_SPACE, mister_e_spec, experts=True, paper_size=lambda data: mister_e.PAPER_SIZE),
    ModelEntry("compm", "CoMPM", space=compm.SEARCH_SPACE, row="CoMPM", encoder_mode="frozen", **_COMPM,
               paper_size=compm.paper_size),
    ModelEntry("emonet", "EmoNet", space=compm.EMONET_SEARCH_SPACE, defaults="compm", row="+ normalised weighted CE",
               encoder_mode="frozen", **_COMPM),
    ModelEntry("compm_finetune", "CoMPM", space=None, row="CoMPM", encoder_mode="finetune", **_COMPM,
               untuned="it fine-tunes the encoder (GPU only) with the authors' recipe; tune the frozen mode 'compm' "
                       "instead"),
)}
#: Model name -> display name (read from :data:`MODELS`).
MODEL_NAMES = {name: entry.display for name, entry in MODELS.items()}
#: The models of the rows that open every results table (:func:`baseline_specs`).
BASELINES = ("logreg", "bigru")


def model_entry(model: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``model``. Raises ValueError for an unknown model (naming the known ones)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {tuple(MODELS)}")
    return MODELS[model]
