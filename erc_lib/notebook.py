"""What every numbered notebook does first and last: check its parameters, set up the
device, mark its results file as running, and at the end write it as complete.

A notebook's second cell is one call::

    nb = start("03_sdt", globals())

which, before any work:

1. reads the notebook's parameters (the names in :data:`NOTEBOOKS`) from its namespace, where
   papermill put them, and refuses a name papermill injected that the notebook does not declare
   (papermill itself only warns; :func:`injected_parameters`);
2. validates them (types, ranges, allowed values, every key of ``model_overrides`` and
   ``train_overrides`` against :mod:`erc_lib.ranges`, the modalities a dataset has;
   :class:`ParameterError` lists every problem with the allowed values), *then* merges smoke
   sizes into them (``smoke=True`` or ``ERC_SMOKE=1``; :func:`apply_smoke`: a smoke size fills in
   ``model_overrides`` / ``train_overrides``, never replaces the user's settings), so smoke never
   hides an invalid value;
3. checks that the results, figures and cache folders are writable;
4. resolves the device (a clear error when CUDA is asked for and absent) and the CPU threads;
5. marks ``results/<name>.json`` as ``running`` (:func:`erc_lib.results.mark_running`).

``nb.finish(experiment, **extra)`` writes the results JSON atomically with status ``complete``.

From :func:`start` on, an exception in any cell is reported errors-first (:func:`short_errors`):
its type and message on the first line, then the last few frames, also on the kernel's own
stderr, so a ``papermill`` user reads it before papermill's long traceback.
"""
from __future__ import annotations

import ast
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
import yaml

from .data import DATASETS
from .paths import cache_dir, check_writable, figures_dir, results_dir, smoke_from_env, use_smoke_folders
from .ranges import TRAIN_RULES, Rule, problems as setting_problems
from .results import mark_running, write_results
from .runtime import DEVICES, setup
from .tables import reader_frame
from .zoo import MODELS

TEXT_DATASETS = ("iemocap", "meld", "emorynlp")
#: The modality codes (``t`` text, ``a`` audio, ``v`` visual) each dataset has (:mod:`erc_lib.data`'s table).
DATASET_MODALITIES = {"iemocap": "t", "meld": "t", "emorynlp": "t", "mosi": "tav", "mosi-clean": "ta",
                      "iemocap-sdt": "tav", "meld-sdt": "tav"}
#: The model whose builder arguments a notebook's ``model_overrides`` set (its rules in :data:`erc_lib.zoo.MODELS`).
OVERRIDE_MODELS = {"03_sdt": "sdt", "04_sdt_bios": "sdt", "05_emonet": "compm", "06_mister_e": "mister_e"}


class ParameterError(ValueError):
    """One or more notebook parameters are invalid; the message lists each with what is allowed."""


def _common() -> dict[str, Rule]:
    return {"device": Rule(str, choices=DEVICES), "smoke": Rule(bool), "cpu_threads": Rule(int, low=0, nullable=True)}


EPOCHS, SEEDS = Rule(int, low=1, high=10_000), Rule(int, low=1, high=100)
#: The claims' rows on every fold as well (:mod:`erc_lib.crossval`): notebooks 03, 05 and 06.
CROSS_VALIDATION = {"cross_validation": Rule(bool)}
LR, BATCH = Rule(float, low=1e-9, high=1.0, nullable=True), Rule(int, low=1, high=4096, nullable=True)
PATIENCE = Rule(int, low=1, nullable=True)
ENCODER = Rule(str)


@dataclass(frozen=True)
class NotebookSpec:
    """A numbered notebook's parameters, its smoke sizes and how its results file is named.

    Attributes:
        params: parameter name -> :class:`~erc_lib.ranges.Rule` (exactly the names of its ``parameters`` cell).
        smoke: values that ``smoke=True`` sets (after validation).
        suffix: the parameters whose values name the results file (``03_sdt_<dataset>``), in order.
        unnamed: suffix values left out of the name (``{"encoder_mode": "frozen"}``: the frozen run of
            05 is ``05_emonet_emorynlp``, the fine-tuned one ``05_emonet_emorynlp_finetune``).
    """

    params: dict[str, Rule]
    smoke: dict[str, Any] = field(default_factory=dict)
    suffix: tuple[str, ...] = ()
    unnamed: dict[str, Any] = field(default_factory=dict)


NOTEBOOKS: dict[str, NotebookSpec] = {
    "01_data": NotebookSpec(
        {"datasets": Rule(list, item=Rule(str, choices=DATASETS), min_items=1), "smoke": Rule(bool)},
        smoke={"datasets": ["iemocap", "mosi"]}),
    "02_features": NotebookSpec(
        {**_common(), "feature_sets": Rule(list, item=Rule(str), min_items=1), "n_jobs": Rule(int, low=-1),
         "timing_files": Rule(int, low=1), "cv_C": Rule(list, item=Rule(float), min_items=1),
         "text_datasets": Rule(list, item=Rule(str, choices=TEXT_DATASETS)), "encoder": ENCODER,
         "lora_epochs": EPOCHS, "lora_patience": PATIENCE, "lora_lr": Rule(float, low=1e-9, high=1.0), "lora_rank": Rule(int, low=1, high=1024),
         "lora_seeds": SEEDS, "max_length": Rule(int, low=4, high=4096),
         "lora_train_utterances": Rule(int, low=1, nullable=True),
         "embedding_layer": Rule(str, choices=("fc1", "pooled")),
         "context_models": Rule(list, item=Rule(str, choices=("logreg", "bigru", "sdt", "mister_e")), min_items=1),
         "seeds": SEEDS, "use_tuned": Rule(bool)},
        smoke={"feature_sets": ["eGeMAPSv02", "IS09"], "timing_files": 10, "cv_C": [0.1], "text_datasets": ["iemocap"],
               "lora_epochs": 1, "lora_seeds": 1, "seeds": 1, "lora_train_utterances": 200, "use_tuned": False}),
    "03_sdt": NotebookSpec(
        {**_common(), **CROSS_VALIDATION, "dataset": Rule(str, choices=DATASETS), "modalities": Rule(str, pattern="tav"),
         "seeds": SEEDS, "epochs": Rule(int, low=1, high=10_000, nullable=True), "use_tuned": Rule(bool),
         "full_ablation": Rule(bool), "model_overrides": Rule(dict), "train_overrides": Rule(dict),
         "encoder": ENCODER},
        smoke={"seeds": 1, "epochs": 2, "full_ablation": False, "use_tuned": False,
               "model_overrides": {"d_model": 32, "n_heads": 4}, "train_overrides": {"patience": None}},
        suffix=("dataset",)),
    "06_mister_e": NotebookSpec(
        {**_common(), **CROSS_VALIDATION, "dataset": Rule(str, choices=DATASETS), "seeds": SEEDS,
         "epochs": Rule(int, low=1, high=10_000, nullable=True), "use_tuned": Rule(bool), "sweeps": Rule(bool),
         "model_overrides": Rule(dict), "train_overrides": Rule(dict), "encoder": ENCODER},
        smoke={"seeds": 1, "epochs": 3, "use_tuned": False, "sweeps": False, "train_overrides": {"patience": None}},
        suffix=("dataset",)),
    "05_emonet": NotebookSpec(
        {**_common(), **CROSS_VALIDATION, "dataset": Rule(str, choices=("emorynlp", "meld")),
         "encoder_mode": Rule(str, choices=("frozen", "finetune")), "encoder": ENCODER,
         "finetune": Rule(str, choices=("full", "lora")), "seeds": SEEDS,
         "epochs": Rule(int, low=1, high=10_000, nullable=True), "use_tuned": Rule(bool),
         "window": Rule(int, low=1, high=1000, nullable=True), "max_context_tokens": Rule(int, low=8, high=4096),
         "run_meld": Rule(bool), "window_sweep": Rule(bool), "windows": Rule(list, item=Rule(int), min_items=1),
         "sweep_seeds": SEEDS, "model_overrides": Rule(dict), "train_overrides": Rule(dict)},
        smoke={"seeds": 1, "epochs": 3, "use_tuned": False, "sweep_seeds": 1, "windows": [1, 11],
               "train_overrides": {"patience": None}},
        suffix=("dataset", "encoder_mode"), unnamed={"encoder_mode": "frozen"}),
    "04_sdt_bios": NotebookSpec(
        {**_common(), **CROSS_VALIDATION, "dataset": Rule(str, choices=("iemocap", "meld", "emorynlp")), "generator": Rule(str),
         "seeds": SEEDS, "epochs": Rule(int, low=1, high=10_000, nullable=True), "use_tuned": Rule(bool),
         "max_dialogues": Rule(int, low=1, nullable=True), "max_conversation_tokens": Rule(int, low=16, nullable=True),
         "truncation": Rule(str, choices=("speaker", "start")), "max_new_tokens": Rule(int, low=1, high=4096),
         "generation_batch_size": Rule(int, low=1, high=1024), "standardize_bios": Rule(bool),
         "model_overrides": Rule(dict), "train_overrides": Rule(dict)},
        smoke={"max_dialogues": 3, "epochs": 2, "seeds": 1, "use_tuned": False, "max_conversation_tokens": 96,
               "max_new_tokens": 12, "model_overrides": {"d_model": 32, "n_heads": 4}},
        suffix=("dataset",)),
}


@dataclass
class NotebookRun:
    """A notebook run in progress: validated parameters, the device, the results name."""

    notebook: str
    params: dict
    device: torch.device
    result_name: str
    started: float = field(default_factory=time.perf_counter)

    @property
    def smoke(self) -> bool:
        return bool(self.params.get("smoke"))

    @property
    def seconds(self) -> float:
        """Wall time since :func:`start`."""
        return time.perf_counter() - self.started

    def finish(self, experiment=None, rows: list[dict] | None = None, **extra) -> None:
        """Write ``results/<result_name>.json`` (status ``complete``): the experiment's rows,
        histories, test predictions and truth (if any), ``rows``, ``extra`` and the wall time."""
        payload = experiment.to_json() if experiment is not None else {"rows": []}
        all_rows = payload.pop("rows") + list(rows or [])
        path = write_results(self.result_name, self.params, all_rows, **payload, **extra,
                             wall_seconds=self.seconds, device=str(self.device))
        print(f"wrote {path} ({self.seconds / 60:.1f} min)")


def result_name(notebook: str, params: dict) -> str:
    """The name of the results file a run of ``notebook`` with ``params`` (all of them) writes:
    ``<notebook>[_<value>...]`` (:attr:`NotebookSpec.suffix`), e.g. ``03_sdt_mosi``."""
    spec = NOTEBOOKS.get(notebook)
    if spec is None:
        return notebook
    values = [str(params[k]) for k in spec.suffix if spec.unnamed.get(k, object()) != params[k]]
    return "_".join([notebook, *values])


def setting_hint(notebook: str, name: str, value: Any = None, form: str = "papermill") -> str | None:
    """How to pass ``name`` when it is not a parameter of ``notebook`` but a model or training
    setting (the rules of the notebook's model in :data:`erc_lib.zoo.MODELS`, :data:`erc_lib.ranges.TRAIN_RULES`)
    that its ``model_overrides`` / ``train_overrides`` take, with the allowed range; None otherwise.

    ``form``: ``"papermill"`` (``-y "model_overrides: {dropout: 0.3}"``) or ``"config"`` (the
    report config's ``parameters:`` mapping)."""
    spec = NOTEBOOKS.get(notebook)
    if spec is None:
        return None
    model = OVERRIDE_MODELS.get(notebook)
    model_rules = MODELS[model].rules if model in MODELS else {}
    for key, rules, what in (("model_overrides", model_rules, f"a setting of the {model} model"),
                             ("train_overrides", TRAIN_RULES, "a training setting")):
        if key in spec.params and name in rules:
            try:
                pair = yaml.safe_dump({name: "VALUE" if value is None else value}, default_flow_style=True,
                                      width=1000).strip()
            except yaml.YAMLError:
                pair = f"{{{name}: VALUE}}"
            how = (f'pass it as -y "{key}: {pair}"' if form == "papermill"
                   else f"put it in the run's parameters as {key}: {pair}")
            return f"{name!r} is {what}, not a notebook parameter: {how} ({rules[name].describe()})"
    return None


def override_problems(notebook: str, params: dict) -> list[str]:
    """Every key of ``params["model_overrides"]`` / ``params["train_overrides"]`` that the
    notebook's model (:data:`OVERRIDE_MODELS`) or :class:`erc_lib.training.TrainConfig` does not
    know or whose value lies outside its range (:mod:`erc_lib.ranges`), one line each."""
    found = []
    model = OVERRIDE_MODELS.get(notebook)
    if isinstance(params.get("model_overrides"), dict) and model in MODELS:
        found += setting_problems(MODELS[model].rules, params["model_overrides"], "model_overrides")
    if isinstance(params.get("train_overrides"), dict):
        found += setting_problems(TRAIN_RULES, params["train_overrides"], "train_overrides")
    return found


def parameter_problems(notebook: str, params: dict) -> list[str]:
    """The problems of the values in ``params`` that ``notebook`` declares: type and range
    (:class:`erc_lib.ranges.Rule`), the keys and values of ``model_overrides`` / ``train_overrides``
    (:func:`override_problems`) and a modality selection of which the dataset has none
    (:data:`DATASET_MODALITIES`; the notebook keeps the requested modalities the dataset has).
    Unknown names are not checked here (:func:`validate` does)."""
    spec = NOTEBOOKS[notebook]
    found = [p for k, rule in spec.params.items() if k in params for p in [rule.problem(k, params[k])] if p]
    found += override_problems(notebook, params)
    codes, dataset = params.get("modalities"), params.get("dataset")
    if isinstance(codes, str) and dataset in DATASET_MODALITIES and not found:
        if not any(c in DATASET_MODALITIES[dataset] for c in codes):
            found.append(f"modalities={codes!r}: {dataset} has none of them (it has {DATASET_MODALITIES[dataset]!r}; "
                         "'v' needs mosi, iemocap-sdt or meld-sdt)")
    return found


def unknown_problem(notebook: str, name: str, value: Any = None, form: str = "papermill") -> str:
    """The line that refuses the unknown parameter ``name``: how to pass it when it is a model or
    training setting (:func:`setting_hint`), else the notebook's parameters."""
    hint = setting_hint(notebook, name, value, form)
    return hint or f"unknown parameter {name!r} (this notebook takes {sorted(NOTEBOOKS[notebook].params)})"


def validate(notebook: str, params: dict) -> dict:
    """Check ``params`` against :data:`NOTEBOOKS` ``[notebook]`` (:func:`parameter_problems`);
    return them unchanged.

    Raises:
        KeyError: unknown notebook.
        ParameterError: unknown or missing names, or invalid values (all listed at once).
    """
    spec = NOTEBOOKS[notebook]
    problems = [unknown_problem(notebook, k, params[k]) for k in params if k not in spec.params]
    problems += [f"missing parameter {k!r}" for k in spec.params if k not in params]
    problems += parameter_problems(notebook, params)
    if problems:
        raise ParameterError(f"{notebook}: bad parameters:\n  - " + "\n  - ".join(problems))
    return dict(params)


def apply_smoke(notebook: str, params: dict) -> dict:
    """``params`` with the notebook's smoke sizes (:attr:`NotebookSpec.smoke`): a scalar smoke
    size replaces the value; a mapping (``model_overrides``, ``train_overrides``) is merged, the
    user's own keys kept over the smoke sizes (a ``dropout`` passed with ``smoke=True`` stays).
    The result is checked again (:func:`parameter_problems`). Raises :class:`ParameterError`."""
    merged = dict(params)
    for key, size in NOTEBOOKS[notebook].smoke.items():
        user = params.get(key)
        merged[key] = {**size, **user} if isinstance(size, dict) and isinstance(user, dict) else size
    problems = parameter_problems(notebook, merged)
    if problems:
        raise ParameterError(f"{notebook}: bad parameters with the smoke sizes:\n  - " + "\n  - ".join(problems))
    return merged


#: The first line of the cell papermill injects (``papermill.translators.PythonTranslator.codify``).
PAPERMILL_HEADER = "# Parameters"
#: Set by the report runner: it prints a failing run's error itself, so kernels stay quiet.
QUIET_ENV = "ERC_RUNNER"


def injected_parameters(namespace: dict) -> list[str]:
    """The names assigned in the cell papermill injected into this kernel (``[]`` when none).

    papermill runs its ``injected-parameters`` cell, which starts with ``# Parameters``, right
    after the notebook's ``parameters`` cell; IPython keeps every executed cell's source in the
    input history (``In`` in the notebook's namespace), so the names come from parsing that cell.
    """
    history = namespace.get("In") or namespace.get("_ih") or []
    cells = [src for src in history if isinstance(src, str) and src.lstrip().startswith(PAPERMILL_HEADER)]
    if not cells:
        return []
    try:
        tree = ast.parse(cells[-1])
    except SyntaxError:
        return []
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)]


def short_error(notebook: str, etype: type, evalue: BaseException, tb, frames: int = 3) -> list[str]:
    """An error as lines: ``<notebook> failed: <Type>: <message>`` first, then the last ``frames``
    frames of the traceback (file name, line, function), outermost first."""
    ours = [f for f in traceback.extract_tb(tb) if "IPython" not in f.filename]  # not the shell's own frames
    tail = [f"  at {os.path.basename(f.filename)}:{f.lineno} in {f.name}: {(f.line or '').strip()}"
            for f in ours[-frames:]]
    message = str(evalue).strip()
    return [f"{notebook} failed: {etype.__name__}: {message}", *tail]


def _ipython_shell():
    """The running IPython shell, or None (plain Python, or IPython not installed)."""
    try:
        from IPython import get_ipython  # optional: IPython only inside a kernel
    except ImportError:
        return None
    return get_ipython()


def short_errors(notebook: str) -> bool:
    """Make the running IPython kernel report exceptions errors-first (:func:`short_error`): the
    cell's error output starts with the exception's message and ends with a short traceback
    tail, and the same lines go to the kernel process's stderr (the terminal of a ``papermill``
    user) unless the report runner started the kernel (``ERC_RUNNER``). Returns False outside
    IPython."""
    shell = _ipython_shell()
    if shell is None:
        return False

    def handler(shell, etype, evalue, tb, tb_offset=None):
        lines = short_error(notebook, etype, evalue, tb)
        if not os.environ.get(QUIET_ENV):
            _to_terminal("\n" + "\n".join(lines) + "\n")
        stb = [lines[0], "(last frames, innermost last)", *lines[1:]]
        shell._showtraceback(etype, evalue, stb)  # IPython shows nothing else for a custom handler
        return stb

    shell.set_custom_exc((Exception,), handler)
    return True


def reader_tables() -> bool:
    """Show the notebook's DataFrames and Series as readers' tables (:func:`reader_frame`: no index
    column, integer counts, no Python reprs) with missing values as "–" (IPython HTML formatters).
    Returns False outside IPython."""
    shell = _ipython_shell()
    if shell is None:
        return False
    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, lambda df: reader_frame(df).to_html(
        index=False, na_rep="–", max_rows=pd.get_option("display.max_rows"), notebook=True))
    html.for_type(pd.Series, lambda s: reader_frame(s.to_frame(s.name if s.name is not None else "value")).to_html(
        index=False, na_rep="–", notebook=True))
    return True


dash_missing_values = reader_tables  # the former name


def _to_terminal(text: str) -> None:
    """Write ``text`` to the kernel process's own stderr (the terminal that started papermill),
    not into the notebook: ipykernel keeps the original descriptor when it captures fd 2."""
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if isinstance(fd, int):
        os.write(fd, text.encode())
    else:
        print(text, end="", file=sys.__stderr__, flush=True)


def start(notebook: str, namespace: dict) -> NotebookRun:
    """Validate the notebook's parameters in ``namespace`` (its ``globals()``), apply smoke
    sizes, check the output folders, set up the device and mark the results file as running.

    Returns a :class:`NotebookRun`; ``namespace`` is updated with the (smoke-adjusted)
    parameter values, so later cells read them as plain variables.
    Raises :class:`ParameterError`, :class:`erc_lib.runtime.DeviceError` or ``PermissionError``
    before any work.
    """
    if notebook not in NOTEBOOKS:
        raise KeyError(f"unknown notebook {notebook!r}; expected one of {list(NOTEBOOKS)}")
    spec = NOTEBOOKS[notebook]
    short_errors(notebook)
    reader_tables()
    unknown = [k for k in injected_parameters(namespace) if k not in spec.params]
    if unknown:
        hints = [h for k in unknown for h in [setting_hint(notebook, k, namespace.get(k))] if h]
        raise ParameterError(f"{notebook}: unknown parameter(s) {unknown} passed (papermill -p / -y / -f); "
                             f"this notebook's parameters: {sorted(spec.params)}"
                             + "".join(f"\n  - {h}" for h in hints))
    params = validate(notebook, {k: namespace[k] for k in spec.params if k in namespace})
    params["smoke"] = smoke_from_env(params["smoke"])
    if params["smoke"]:
        params = apply_smoke(notebook, params)
    use_smoke_folders(params["smoke"])  # smoke results and figures go to results/smoke/, figures/smoke/
    for folder in (results_dir(), figures_dir(), cache_dir()):
        check_writable(folder)
    device = setup(params.get("device", "cpu"), params.get("cpu_threads"))
    name = result_name(notebook, params)
    mark_running(name, params)
    namespace.update(params)
    print(f"{notebook}: device {device}, {torch.get_num_threads()} torch thread(s), smoke={params['smoke']}, "
          f"results -> {results_dir() / (name + '.json')}")
    _show_run(notebook, params, injected_parameters(namespace))
    return NotebookRun(notebook, params, device, name)


#: The MIME type of the output :func:`start` leaves in an executed notebook: the parameters the run
#: used (after smoke sizes), which the report's section headers show (:func:`erc_lib.report.ran_with`).
RUN_MIME = "application/vnd.erc-repro.run+json"


def _show_run(notebook: str, params: dict, injected: list[str]) -> None:
    """Display the parameters this run uses (one line of text; :data:`RUN_MIME` for the report)."""
    try:
        from IPython import get_ipython  # optional: IPython only inside a kernel
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    plain = ", ".join(f"{k}={v!r}" for k, v in params.items())
    display({"text/plain": f"parameters of this run: {plain}",
             RUN_MIME: {"notebook": notebook, "parameters": _jsonable(params), "injected": injected}}, raw=True)


def _jsonable(params: dict) -> dict:
    return {k: v if isinstance(v, (int, float, str, bool, list, dict, type(None))) else str(v) for k, v in params.items()}
