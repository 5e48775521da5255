"""Equal-budget hyper-parameter tuning with Optuna: one budget for every model, shown to be enough.

A comparison is fair only when every model gets the same tuning effort, and that effort is enough
to rank settings. Every study (:data:`STUDIES`, all those the report reads) therefore runs with
the one budget of ``configs/defaults.yaml`` (``tuning:``; :func:`budget`):

* **Trial 0 is the model's default settings** (enqueued when the study is created), so a study
  can never return settings that score below the defaults on its own objective.
* **Every trial is the mean of several fits** (``seeds_per_trial``, >= 2): fit ``r`` trains with
  seed ``r``; on :data:`HOLDOUT_DATASETS` (IEMOCAP, whose 12-dialogue dev cannot rank settings)
  fit ``r`` also validates on its own seeded holdout (:func:`tuning_split` with ``repeat=r``:
  20 % of the train+dev dialogues, ``train_test_split(random_state=r)``), so the score averages
  over holdouts as well as seeds. Test is never read: the objective reads ``FitResult.dev`` only.
* **No pruning.** A median pruner on one noisy dev curve stopped 4-7 of 12 trials in the earlier
  studies without any check that it spared the eventual winner, so every trial runs to the end.
* **The best trials are re-scored** before one is written: the ``rescore_top`` best search
  trials and the defaults trial each get ``rescore_seeds`` more fits (repeats
  ``seeds_per_trial ..``); the written settings are those with the best mean over all their fits.
* Sampler: ``optuna.samplers.TPESampler``, seeded per trial (``sampler_seed`` + the trial's number,
  :func:`_ask`), so parallel workers never draw the same settings.
* **Saturated objectives are refused**: tuning a dataset in :data:`erc_lib.data.SATURATED_DEV`
  (the bc-LSTM MOSI, whose text and visual extractors saw the training videos) fails before any
  training, and a study whose best dev weighted F1 reaches :data:`SATURATION` within its first
  ``saturation_trials`` trials stops with :class:`SaturatedObjectiveError`.
* **Committed files are protected**: a study smaller than the budget (``--smoke``, ``--trials``
  below it, fewer seeds) writes to ``results/tuned/`` unless ``force=True`` / ``--force``.

Each tuned YAML holds the best ``model`` / ``train`` search-space values and a ``tuning`` block:
trials, seeds per trial, re-scoring, the validation scheme, the defaults' score beside the best
(same fits), every trial's score in order (``history``, for the best-so-far curve) and provenance.

Several processes or machines share a study through its storage (any SQLAlchemy URL; default
``sqlite:///results/tuning.db``). ``python -m erc_lib.tune --all --jobs 2`` runs every study with
two worker processes on one storage; starting the same command on several machines with
``--storage postgresql://user:pass@host/db`` shares the work between them. A worker asks for a
trial only while the study holds fewer than ``trials`` search trials (counted under a file lock,
so processes on one machine never exceed the budget; across machines the count is read from the
database, and at most one extra trial per machine can start at the boundary). A killed worker's
running trial is marked failed by Optuna's heartbeat (or at the next start, :func:`_fail_stale`)
and re-run, so a re-started command resumes where it stopped and no trial is lost.

CLI::

    python -m erc_lib.tune --all [--jobs 2] [--storage URL]           # every study of the report
    python -m erc_lib.tune --model sdt --dataset iemocap [--jobs 2]    # one study
    python -m erc_lib.tune --model sdt --dataset iemocap --smoke       # tiny check, writes results/tuned/
"""
from __future__ import annotations

import argparse
import datetime
import inspect
import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import optuna
import yaml

from . import zoo
from .data import DATASETS, SATURATED_DEV, ERCData, split_dev, standardize_features
from .paths import REPO_ROOT, atomic_write, check_writable, results_dir
from .tables import markdown_table

HOLDOUT_DATASETS = ("iemocap", "iemocap-sdt")
HOLDOUT_FRACTION = 0.2
VALIDATIONS = ("auto", "standard", "holdout")
SMOKE_DIALOGUES = {"train": 10, "dev": 4, "test": 4}
SMOKE_EPOCHS = 2
warnings.filterwarnings("ignore", message="Heartbeat of storage")  # heartbeats are recorded by _Heartbeat
#: A best dev weighted F1 at or above this within the first trials means dev cannot rank settings.
SATURATION = 99.0
_PRIMITIVE = (type(None), bool, int, float, str)
#: Every study the report reads, in the order ``--all`` runs them: (model, dataset, inputs or None).
STUDIES: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("logreg", "iemocap", None), ("bigru", "iemocap", None), ("sdt", "iemocap", None),
    ("logreg", "mosi-clean", None), ("bigru", "mosi-clean", None), ("sdt", "mosi-clean", None),
    ("mister_e", "mosi-clean", None),
    ("logreg", "emorynlp", None), ("compm", "emorynlp", None), ("emonet", "emorynlp", None),
    ("bigru", "emorynlp", None),
    ("logreg", "meld", None), ("sdt", "meld", None), ("bigru", "meld", None),
    ("mister_e", "iemocap", None),
)


class SaturatedObjectiveError(ValueError):
    """The validation score cannot rank settings (it is at or near 100 for any setting)."""


def budget() -> dict:
    """The one tuning budget of ``configs/defaults.yaml`` (``tuning:``): ``trials``,
    ``seeds_per_trial``, ``rescore_top``, ``rescore_seeds``, ``saturation_trials``.

    Raises: ValueError when a value is missing or below its minimum (trials >= 1, seeds >= 1,
    rescore counts >= 0)."""
    table = zoo.read_yaml(zoo.CONFIG_DIR / "defaults.yaml").get("tuning") or {}
    out = {"trials": 24, "seeds_per_trial": 2, "rescore_top": 3, "rescore_seeds": 3, "saturation_trials": 3, **table}
    for key, low in (("trials", 1), ("seeds_per_trial", 1), ("rescore_top", 0), ("rescore_seeds", 0),
                     ("saturation_trials", 1)):
        if not isinstance(out[key], int) or out[key] < low:
            raise ValueError(f"configs/defaults.yaml tuning.{key} must be an integer >= {low}, got {out[key]!r}")
    return out


def search_space(model: str) -> dict:
    """The search space of ``model``: ``{"model": {name: spec}, "train": {name: spec}}``.

    Raises: ValueError for an unknown model or one without a space (``compm_finetune`` trains
        the encoder on a GPU; it is run with the authors' recipe, not tuned)."""
    if model not in zoo.MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {zoo.MODELS}")
    if model in ("logreg", "bigru"):
        from .models import baselines

        return baselines.LOGREG_SEARCH_SPACE if model == "logreg" else baselines.BIGRU_SEARCH_SPACE
    if model == "sdt":
        from .models.sdt import SEARCH_SPACE
    elif model == "mister_e":
        from .models.mister_e import SEARCH_SPACE
    elif model == "compm":
        from .models.compm import SEARCH_SPACE
    elif model == "emonet":
        from .models.compm import EMONET_SEARCH_SPACE as SEARCH_SPACE
    else:
        raise ValueError(f"model {model!r} has no search space: it fine-tunes the encoder (GPU only) with the "
                         "authors' recipe; tune the frozen mode 'compm' instead")
    return SEARCH_SPACE


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


def tuning_split(data: ERCData, validation: str = "auto", repeat: int = 0) -> ERCData:
    """The splits tuning trains and validates on for fit number ``repeat`` of a trial.

    Args:
        data: a dataset (e.g. from :func:`erc_lib.features.text.prepare_dataset`), not standardised.
        validation: ``"auto"`` (``"holdout"`` for :data:`HOLDOUT_DATASETS`, else ``"standard"``),
            ``"standard"`` (the dataset's own dev) or ``"holdout"``: dev is a seeded
            :data:`HOLDOUT_FRACTION` of the train+dev dialogues (``train_test_split``,
            ``random_state=repeat``), train is the rest, file order kept.
        repeat: which holdout (ignored for ``"standard"``).

    Returns:
        A new :class:`ERCData` whose dialogues are copies (own feature dicts, so standardising one
        split never touches another); features z-scored with its own train statistics.
        ``splits["test"]`` holds ``data``'s test dialogues, never in train or dev.

    Raises: ValueError for an unknown ``validation`` or a negative ``repeat``.
    """
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
    if not isinstance(repeat, int) or repeat < 0:
        raise ValueError(f"repeat must be an integer >= 0, got {repeat!r}")
    copy = lambda ds: [replace(d, features=dict(d.features)) for d in ds]
    if resolve_validation(data.name, validation) == "standard":
        out = ERCData(data.name, data.label_names, {s: copy(v) for s, v in data.splits.items()}, data.notes)
    else:
        train, dev = split_dev(data.splits["train"] + data.splits["dev"], HOLDOUT_FRACTION, repeat)
        note = (f"tuning split {repeat}: dev = a seeded {HOLDOUT_FRACTION:.0%} of the train+dev dialogues ({len(dev)} "
                f"dialogues, train_test_split random_state={repeat}), train = the other {len(train)}; test untouched")
        out = ERCData(data.name, data.label_names, {"train": copy(train), "dev": copy(dev),
                                                    "test": copy(data.splits["test"])},
                      (data.notes + "\n" if data.notes else "") + note).validate()
    return standardize_features(out) if out.modalities else out


def resolve_validation(dataset: str, validation: str) -> str:
    """``"auto"`` -> ``"holdout"`` for :data:`HOLDOUT_DATASETS`, else ``"standard"``."""
    if validation == "auto":
        return "holdout" if dataset in HOLDOUT_DATASETS else "standard"
    return validation




# ----------------------------------------------------------------------------- one study
@dataclass
class StudyRun:
    """One study: the model, the dataset, its inputs and where its result goes.

    Attributes:
        model, dataset: as in :func:`erc_lib.zoo.settings`; inputs: a non-default input selection.
        trials, seeds_per_trial, rescore_top, rescore_seeds, saturation_trials: the budget.
        validation: see :func:`tuning_split`. out: the YAML path. name: the study name.
        n_dialogues, epochs: smoke sizes (None at full size). device, sampler_seed: as named.
    """

    model: str
    dataset: str
    inputs: list[str] | None
    trials: int
    seeds_per_trial: int
    rescore_top: int
    rescore_seeds: int
    saturation_trials: int
    validation: str
    out: Path
    name: str
    n_dialogues: int | dict | None = None
    epochs: int | None = None
    device: str = "cpu"
    sampler_seed: int = 0
    _data: ERCData | None = field(default=None, repr=False)
    _splits: dict = field(default_factory=dict, repr=False)

    def splits(self, repeat: int) -> ERCData:
        """The tuning data of fit ``repeat`` (:func:`tuning_split`), built once per process."""
        if self._data is None:
            from .features.text import prepare_dataset

            self._data = prepare_dataset(self.dataset, n_dialogues=self.n_dialogues, device=self.device,
                                         standardize=False, progress=False)
        key = repeat if resolve_validation(self.dataset, self.validation) == "holdout" else 0
        if key not in self._splits:
            self._splits[key] = tuning_split(self._data, self.validation, key)
        return self._splits[key]

    def score(self, model_args: dict, train_args: dict, repeats: range) -> list[float]:
        """Dev weighted F1 of one fit per repeat ``r`` (seed ``r``, holdout ``r``); test never read."""
        from .experiment import run_experiment
        from .training import TrainConfig

        m, t = zoo.settings(self.model, self.dataset, model_args=model_args, train_args=train_args)
        if self.epochs is not None:
            t["epochs"] = self.epochs
        config = TrainConfig(**{**t, "device": self.device, "progress": False})
        extra = {"cache": False} if "cache" in inspect.signature(run_experiment).parameters else {}
        dev = []
        for r in repeats:
            data = self.splits(r)
            spec = zoo.model_spec(self.model, data, _model_inputs(self.model, self.inputs), model_args=m, train_args=t)
            fit = run_experiment(data, [spec], [r], config, progress=False, **extra).seed_fits(spec.variant)[0]
            dev.append(float(fit.dev["weighted_f1"]))
        return dev


def _kind(trial) -> str:
    return trial.user_attrs.get("kind", "search")


#: Seconds between a running trial's heartbeats, and without one before it counts as killed.
HEARTBEAT_SECONDS, GRACE_SECONDS = 30, 120


def _open_study(run: StudyRun, storage: str) -> optuna.Study:
    try:  # heartbeats: a killed worker's running trial is marked failed (and re-run), not left running
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(storage, heartbeat_interval=HEARTBEAT_SECONDS,
                                             grace_period=GRACE_SECONDS, engine_kwargs=(
                {"connect_args": {"timeout": 120}} if storage.startswith("sqlite") else None))
    except Exception as e:  # SQLAlchemy / driver errors: say which URL failed
        raise ValueError(f"cannot open study storage {storage!r}: {type(e).__name__}: {e}") from None
    study = optuna.create_study(storage=rdb, study_name=run.name, direction="maximize", load_if_exists=True,
                                pruner=optuna.pruners.NopPruner())
    study.sampler = optuna.samplers.TPESampler(seed=run.sampler_seed)  # each trial re-seeds it (_ask)
    return study


def init_storage(storage: str) -> None:
    """Create the storage's tables once, before several workers open it at the same moment (two
    processes creating a new SQLite schema together collide on its version table)."""
    try:
        optuna.storages.RDBStorage(storage)
    except Exception as e:
        raise ValueError(f"cannot open study storage {storage!r}: {type(e).__name__}: {e}") from None


def _fail_stale(study: optuna.Study) -> None:
    """Mark failed every running trial whose worker stopped sending heartbeats (killed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class _Heartbeat:
    """Records the trial's heartbeat every :data:`HEARTBEAT_SECONDS` in a daemon thread while the
    trial runs (Optuna does this itself only inside ``Study.optimize``; workers here ask and tell)."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial):
        import threading

        self.storage, self.trial_id, self.stop = study._storage, trial._trial_id, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            self.storage.record_heartbeat(self.trial_id)
            if self.stop.wait(HEARTBEAT_SECONDS):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _lock(storage: str):
    """A file lock around "count the trials, then ask": one per storage on this machine."""
    from filelock import FileLock

    name = "".join(c if c.isalnum() else "_" for c in storage)[-80:]
    folder = results_dir() / "tuning-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"{name}.lock"))


def _ask(run: StudyRun, study: optuna.Study) -> optuna.Trial:
    """``study.ask()``, then a sampler seeded by the new trial's number (``sampler_seed + number``)
    for its suggestions: workers asking at the same moment hold different trial numbers, so they
    draw different settings (one shared seed made them draw the same ones), and a resumed study
    draws what it would have drawn. TPE keeps no state but its random generator, so a new sampler
    per trial loses nothing."""
    trial = study.ask()
    study.sampler = optuna.samplers.TPESampler(seed=run.sampler_seed + trial.number)
    return trial


def _next_trial(run: StudyRun, study: optuna.Study) -> tuple[optuna.Trial | None, str]:
    """Under the lock: the next trial this worker should run, or ``(None, why)`` with why one of
    ``"wait"`` (others are running the last ones) or ``"done"`` (every trial has finished)."""
    _fail_stale(study)
    T = optuna.trial.TrialState
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != T.FAIL]
    if not any(_kind(t) == "defaults" for t in trials):
        study.enqueue_trial({}, user_attrs={"kind": "defaults"})
        return _ask(run, study), ""
    search = [t for t in trials if _kind(t) in ("defaults", "search")]
    if len(search) < run.trials:
        return _ask(run, study), ""
    if any(t.state in (T.RUNNING, T.WAITING) for t in search):
        return None, "wait"
    if not study.user_attrs.get("rescore_enqueued"):
        for t in _rescore_candidates(run, search):
            study.enqueue_trial(t.params, user_attrs={"kind": "rescore", "of": t.number,
                                                      "defaults": _kind(t) == "defaults"})
        study.set_user_attr("rescore_enqueued", True)
    rescore = [t for t in study.get_trials(deepcopy=False) if _kind(t) == "rescore" and t.state != T.FAIL]
    if any(t.state == T.WAITING for t in rescore):
        return _ask(run, study), ""
    if any(t.state == T.RUNNING for t in rescore):
        return None, "wait"
    return None, "done"


def _rescore_candidates(run: StudyRun, search: list) -> list:
    """The ``rescore_top`` best completed search trials, plus the defaults trial."""
    done = sorted((t for t in search if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: -t.value)
    chosen = done[: run.rescore_top] if run.rescore_seeds else []
    defaults = [t for t in done if _kind(t) == "defaults"]
    return chosen + [t for t in defaults if t not in chosen and run.rescore_seeds]


def _run_trial(run: StudyRun, study: optuna.Study, trial: optuna.Trial, space: dict, log) -> None:
    kind = trial.user_attrs.get("kind", "search")
    trial.set_user_attr("kind", kind)
    if kind == "rescore":
        repeats = range(run.seeds_per_trial, run.seeds_per_trial + run.rescore_seeds)
    else:
        repeats = range(run.seeds_per_trial)
    defaults = kind == "defaults" or trial.user_attrs.get("defaults", False)
    model_args, train_args = ({}, {}) if defaults else sample(trial, space)
    start = time.perf_counter()
    try:
        dev = run.score(model_args, train_args, repeats)
    except Exception as e:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log(f"{run.name} trial {trial.number} ({kind}) FAILED: {type(e).__name__}: {e}")
        raise
    trial.set_user_attr("dev_weighted_f1_per_fit", dev)
    trial.set_user_attr("repeats", list(repeats))
    value = float(np.mean(dev))
    study.tell(trial, value)
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    log(f"{run.name} trial {trial.number:3d} {kind:8s} dev wF1 {value:6.2f} over {len(dev)} fits "
        f"({time.perf_counter() - start:.0f} s) {params or '(default settings)'}")
    if kind in ("defaults", "search"):
        _check_saturation(run, study)


def _check_saturation(run: StudyRun, study: optuna.Study) -> None:
    done = sorted((t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                   if _kind(t) in ("defaults", "search")), key=lambda t: t.number)[: run.saturation_trials]
    best = max((t.value for t in done), default=0.0)
    if best >= SATURATION:
        raise SaturatedObjectiveError(
            f"{run.dataset}: dev weighted F1 {best:.2f} >= {SATURATION:g} within the first {len(done)} trial(s) of "
            f"study {run.name!r}: this dev split cannot rank settings (saturated; an input was probably fitted on the "
            "videos or dialogues dev is carved from). Tune on a dataset variant with a clean dev (e.g. mosi-clean).")


def run_study(run: StudyRun, storage: str, log=print, wait: bool = True) -> bool:
    """Work on ``run``'s study until it is finished (``wait``) or nothing is left for this worker
    (``wait=False``: others run the last trials); write the YAML when every trial has finished.

    Returns: True when the study is finished and its YAML written.
    Raises: :class:`SaturatedObjectiveError`; any training error (the trial is marked failed first).
    """
    space = search_space(run.model)
    study = _open_study(run, storage)
    lock = _lock(storage)
    while True:
        with lock:
            trial, why = _next_trial(run, study)
            heartbeat = _Heartbeat(study, trial).__enter__() if trial is not None else None
        if trial is not None:
            try:
                _run_trial(run, study, trial, space, log)
            finally:
                heartbeat.__exit__()
            continue
        if why == "done":
            with lock:  # the first worker to see the study finished writes it; the others leave the file be
                held = len(study.get_trials(deepcopy=False))
                if study.user_attrs.get("saved_with_trials") != held or not run.out.exists():
                    _save(run, study, space, storage)
                    study.set_user_attr("saved_with_trials", held)
            return True
        if not wait:
            return False
        time.sleep(5)


def _model_inputs(model: str, inputs: list[str] | None) -> list[str] | None:
    """Expert names for MiSTER-E, dataset modalities for the others (``speech`` reads ``audio``)."""
    if inputs is None or model == "mister_e":
        return inputs
    return ["audio" if m == "speech" else m for m in inputs]


def _portable(storage: str) -> str:
    """``storage`` with a path inside the repository made relative (no machine paths in committed files)."""
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        path = Path(storage[len(prefix):])
        try:
            return prefix + str(path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return prefix + path.name
    return storage.split("@")[-1] if "@" in storage else storage  # never a password


def _save(run: StudyRun, study: optuna.Study, space: dict, storage: str) -> dict:
    """Write the winning settings and the ``tuning`` block (see the module docstring) to ``run.out``."""
    T = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    search = sorted((t for t in trials if _kind(t) in ("defaults", "search") and t.state == T.COMPLETE),
                    key=lambda t: t.number)
    if not search:
        raise ValueError(f"study {run.name!r} has no completed trial; run more trials")
    fits = {t.number: list(t.user_attrs.get("dev_weighted_f1_per_fit", [t.value])) for t in search}
    for t in trials:
        if _kind(t) == "rescore" and t.state == T.COMPLETE:
            fits[t.user_attrs["of"]] = fits[t.user_attrs["of"]] + list(t.user_attrs["dev_weighted_f1_per_fit"])
    rescored = [n for n, f in fits.items() if len(f) > run.seeds_per_trial]
    pool = rescored or [t.number for t in search]
    best_number = max(pool, key=lambda n: (np.mean(fits[n]), -n))
    best = next(t for t in search if t.number == best_number)
    defaults = next((t for t in search if _kind(t) == "defaults"), None)
    if _kind(best) == "defaults":
        model_args, train_args = {}, {}
    else:
        model_args, train_args = sample(optuna.trial.FixedTrial(best.params), space)
    history = [[t.number, _kind(t), round(float(t.value), 3)] for t in search]
    tuning = {
        "trials": len(search), "seeds_per_trial": run.seeds_per_trial, "rescored_trials": sorted(rescored),
        "rescore_seeds": run.rescore_seeds if rescored else 0, "pruning": "none",
        "validation": _validation_text(run), "best_trial": best_number, "best_is_defaults": _kind(best) == "defaults",
        "best_dev_weighted_f1": round(float(np.mean(fits[best_number])), 3), "best_fits": len(fits[best_number]),
        "default_dev_weighted_f1": round(float(np.mean(fits[defaults.number])), 3) if defaults else None,
        "default_fits": len(fits[defaults.number]) if defaults else 0,
        "trial_seconds": round(sum(t.duration.total_seconds() for t in trials  # not failed ones: a killed trial's
                                   if t.duration and t.state == T.COMPLETE), 1),  # "duration" runs to its clean-up
        "smoke": run.n_dialogues is not None or run.epochs is not None,
        "storage": _portable(storage), "study_name": run.name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "history": history}
    config = {"model": model_args, "train": train_args, "tuning": tuning}
    text = yaml.safe_dump(config, sort_keys=False, width=120)
    run.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(run.out, lambda tmp: tmp.write_text(text))
    return config


def _validation_text(run: StudyRun) -> str:
    if resolve_validation(run.dataset, run.validation) == "holdout":
        return (f"holdout: fit r validates on a seeded {HOLDOUT_FRACTION:.0%} of the train+dev dialogues "
                "(train_test_split random_state=r) and trains with seed r on the rest")
    return "standard dev split; fit r trains with seed r"


# ----------------------------------------------------------------------------- entry points
@dataclass
class TuneResult:
    """What :func:`tune` returns: the study, the winning settings, and the written YAML content."""

    study: optuna.Study
    model_args: dict
    train_args: dict
    best_dev_weighted_f1: float
    path: Path
    config: dict = field(default_factory=dict)


def make_run(model: str, dataset: str, trials: int | None = None, seeds_per_trial: int | None = None,
             rescore_top: int | None = None, rescore_seeds: int | None = None, study_name: str | None = None,
             n_dialogues: int | dict | None = None, device: str = "cpu", validation: str = "auto",
             out: str | Path | None = None, epochs: int | None = None, sampler_seed: int = 0,
             inputs: list[str] | None = None, force: bool = False) -> StudyRun:
    """Validate a study's parameters and decide where its YAML goes, before any training.

    A study below the configured :func:`budget` (fewer trials, seeds or re-scoring) or at smoke
    size (``n_dialogues`` / ``epochs``) writes to ``results/tuned/`` instead of ``configs/tuned/``;
    ``force=True`` writes to ``configs/tuned/`` anyway (an explicit ``out`` is always used, except
    that a committed ``configs/tuned/`` file is overwritten by a short study only with ``force``).

    Raises:
        ValueError: unknown model / dataset / validation, a model without a search space, counts
            below their minimum, or a short study aimed at ``configs/tuned/`` without ``force``.
        SaturatedObjectiveError: ``dataset`` is in :data:`erc_lib.data.SATURATED_DEV`.
        PermissionError: the output folder is not writable.
    """
    search_space(model)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    if dataset in SATURATED_DEV:
        raise SaturatedObjectiveError(f"refusing to tune on {dataset!r}: {SATURATED_DEV[dataset]}")
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
    b = budget()
    values = {"trials": trials, "seeds_per_trial": seeds_per_trial, "rescore_top": rescore_top,
              "rescore_seeds": rescore_seeds}
    values = {k: b[k] if v is None else v for k, v in values.items()}
    for k, v in values.items():
        low = 1 if k in ("trials", "seeds_per_trial") else 0
        if not isinstance(v, int) or v < low:
            raise ValueError(f"{k} must be an integer >= {low}, got {v!r}")
    short = any(values[k] < b[k] for k in values) or n_dialogues is not None or epochs is not None
    key = _model_inputs(model, inputs)
    committed = zoo.tuned_path(model, dataset, key)
    if out is None:
        out = committed if (not short or force) else results_dir() / "tuned" / committed.name
    out = Path(out)
    if short and not force and out.resolve() == committed.resolve():
        raise ValueError(f"a study below the budget {dict((k, b[k]) for k in values)} (or at smoke size) would "
                         f"overwrite the committed {committed}; pass force=True (--force) or another out")
    check_writable(out.parent) if out.parent.exists() else None
    return StudyRun(model, dataset, key, values["trials"], values["seeds_per_trial"], values["rescore_top"],
                    values["rescore_seeds"], b["saturation_trials"], validation, out,
                    study_name or f"{model}_{dataset}{zoo.inputs_key(key)}", n_dialogues, epochs, device, sampler_seed)


def tune(model: str, dataset: str, trials: int | None = None, seeds_per_trial: int | None = None,
         rescore_top: int | None = None, rescore_seeds: int | None = None, storage: str | None = None,
         study_name: str | None = None, n_dialogues: int | dict | None = None, device: str = "cpu",
         validation: str = "auto", out: str | Path | None = None, epochs: int | None = None,
         sampler_seed: int = 0, inputs: list[str] | None = None, force: bool = False, log=print) -> TuneResult:
    """Run (or continue) one study in this process and write its YAML (see the module docstring).

    Args: as :func:`make_run`; ``storage``: SQLAlchemy URL (default ``sqlite:///results/tuning.db``);
    ``log``: called with one line per trial.

    Returns: :class:`TuneResult`. Raises: as :func:`make_run` and :func:`run_study`.
    """
    run = make_run(model, dataset, trials, seeds_per_trial, rescore_top, rescore_seeds, study_name, n_dialogues,
                   device, validation, out, epochs, sampler_seed, inputs, force)
    storage = storage or default_storage()
    run_study(run, storage, log)
    config = yaml.safe_load(run.out.read_text())
    study = _open_study(run, storage)
    return TuneResult(study, config["model"], config["train"], config["tuning"]["best_dev_weighted_f1"], run.out, config)


def default_storage() -> str:
    """``sqlite:///<results>/tuning.db``."""
    return f"sqlite:///{results_dir() / 'tuning.db'}"


def summary_table(paths=None) -> "pd.DataFrame":
    """One row per tuned YAML (default: every ``configs/tuned/*.yaml``): study, trials, fits per
    trial, re-scored trials, CPU seconds, the defaults' and the winner's validation score (mean over
    the same number of fits) and whether the defaults won."""
    import pandas as pd

    rows = []
    for path in sorted(paths or (zoo.CONFIG_DIR / "tuned").glob("*.yaml")):
        t = (zoo.read_yaml(path).get("tuning") or {})
        fits = t.get("seeds_per_trial") or len(t.get("seeds") or [])  # earlier files list their seeds
        rows.append({"study": path.stem, "trials": t.get("trials"), "fits per trial": fits,
                     "re-scored": len(t.get("rescored_trials") or []), "re-score fits": t.get("rescore_seeds"),
                     "CPU min": round((t.get("trial_seconds") or 0) / 60, 1),
                     "defaults (dev)": t.get("default_dev_weighted_f1"), "tuned (dev)": t.get("best_dev_weighted_f1"),
                     "defaults won": t.get("best_is_defaults"), "validation": (t.get("validation") or "").split(":")[0].split(";")[0]})
    return pd.DataFrame(rows)


def best_so_far(path) -> "pd.DataFrame":
    """The best-so-far curve of a tuned YAML's search trials: ``trial``, ``score``, ``best so far``."""
    import pandas as pd

    history = (zoo.read_yaml(Path(path)).get("tuning") or {}).get("history") or []
    frame = pd.DataFrame(history, columns=["trial", "kind", "score"])
    frame["best so far"] = frame["score"].cummax()
    return frame


def _worker(args) -> int:
    """One worker process: every selected study in order; studies others are finishing are
    revisited at the end. Returns the number of studies written."""
    from .runtime import setup


    setup(args.device, args.cpu_threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = args.storage or default_storage()
    tag = f"[worker {args.worker_id}] " if args.worker_id is not None else ""
    log = lambda line: print(tag + line, flush=True)
    runs = [make_run(m, d, args.trials, args.seeds_per_trial, None, args.rescore_seeds, None,
                     SMOKE_DIALOGUES if args.smoke else None, args.device, args.validation, None,
                     SMOKE_EPOCHS if args.smoke else None, inputs=list(i) if i else None, force=args.force)
            for m, d, i in _selected(args)]
    finished, pending, failed = 0, [], []
    for run in runs + [None]:
        if run is None:  # second pass: the studies other workers were finishing
            runs, pending = pending, []
            for again in runs:
                try:
                    finished += run_study(again, storage, log, wait=True)
                except Exception as e:  # one broken study must not stop the others
                    failed.append(f"{again.name}: {type(e).__name__}: {e}")
            break
        log(f"study {run.name}: {run.trials} trials x {run.seeds_per_trial} fits -> {_display(run.out)}")
        try:
            if run_study(run, storage, log, wait=False):
                finished += 1
            else:
                pending.append(run)
                log(f"study {run.name}: its last trials are running in another worker (or in one killed less than "
                    f"{GRACE_SECONDS} s ago); coming back to it after the other studies")
        except Exception as e:
            failed.append(f"{run.name}: {type(e).__name__}: {e}")
            log(f"study {run.name} stopped: {type(e).__name__}: {e}")
    for line in failed:
        log("FAILED " + line)
    if failed:
        raise SystemExit(1)
    return finished


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _selected(args) -> list[tuple]:
    if args.all:
        if not args.only:
            return list(STUDIES)
        by_name = {f"{s[0]}_{s[1]}": s for s in STUDIES}
        unknown = [n for n in args.only if n not in by_name]
        if unknown:
            raise ValueError(f"--only: no study named {', '.join(unknown)}; the studies are {', '.join(by_name)}")
        return [by_name[n] for n in dict.fromkeys(args.only)]  # in the order given
    return [(args.model, args.dataset, tuple(args.inputs) if args.inputs else None)]


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m erc_lib.tune", description=__doc__.split("\n")[0])
    p.add_argument("--all", action="store_true", help="every study the report reads (STUDIES)")
    p.add_argument("--only", nargs="+", help="with --all: only these <model>_<dataset> studies, run in the order given")
    p.add_argument("--model", choices=zoo.MODELS)
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--inputs", nargs="+", help="modalities when not the model's default, e.g. speech text")
    p.add_argument("--jobs", type=int, default=1, help="worker processes sharing the storage")
    p.add_argument("--trials", type=int, help="search trials per study (default: the budget)")
    p.add_argument("--seeds-per-trial", type=int, help="fits per trial (default: the budget)")
    p.add_argument("--rescore-seeds", type=int, help="extra fits of the best trials (default: the budget)")
    p.add_argument("--storage", help="SQLAlchemy URL (default sqlite:///results/tuning.db)")
    p.add_argument("--validation", choices=VALIDATIONS, default="auto")
    p.add_argument("--smoke", action="store_true", help=f"{SMOKE_DIALOGUES} dialogues, {SMOKE_EPOCHS} epochs")
    p.add_argument("--force", action="store_true", help="let a study below the budget write configs/tuned/")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cpu-threads", type=int, default=1)
    p.add_argument("--worker-id", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.all and not (args.model and args.dataset):
        p.error("give --all, or --model and --dataset")
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    try:  # every study checked before any training
        outs = [make_run(m, d, args.trials, args.seeds_per_trial, None, args.rescore_seeds,
                         n_dialogues=SMOKE_DIALOGUES if args.smoke else None,
                         epochs=SMOKE_EPOCHS if args.smoke else None, inputs=list(i) if i else None,
                         force=args.force, validation=args.validation).out for m, d, i in _selected(args)]
    except ValueError as e:
        p.error(str(e))
    start = time.perf_counter()
    if args.jobs == 1 or args.worker_id is not None:
        _worker(args)
    else:
        argv = list(argv if argv is not None else sys.argv[1:])
        rest = [a for i, a in enumerate(argv) if a != "--jobs" and (i == 0 or argv[i - 1] != "--jobs")]
        rest = [a for a in rest if not a.startswith("--jobs=")]
        init_storage(args.storage or default_storage())
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs = [subprocess.Popen([sys.executable, "-m", "erc_lib.tune", *rest, "--worker-id", str(k)], env=env)
                 for k in range(args.jobs)]
        codes = [proc.wait() for proc in procs]
        if any(codes):
            print(f"workers exited with {codes}", file=sys.stderr)
            return 1
    if args.worker_id is None:
        print(f"\n{len(outs)} studies, {time.perf_counter() - start:.0f} s wall")
        print(summary_table([p for p in outs if p.exists()]).to_string(index=False))
        if args.all and not args.smoke and all(p.exists() for p in outs):  # every tuned file, not only these
            write_summary(sorted((zoo.CONFIG_DIR / "tuned").glob("*.yaml")))
    return 0


def write_summary(paths) -> Path:
    """``configs/tuned/SUMMARY.md``: :func:`summary_table` of ``paths`` as Markdown (generated, never edited)."""

    table = summary_table(paths)
    text = ("# Tuning summary (generated by `python -m erc_lib.tune --all`)\n\n"
            f"Budget (configs/defaults.yaml): {budget()}\n\n" + markdown_table(table) + "\n")
    out = zoo.CONFIG_DIR / "tuned" / "SUMMARY.md"
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return out


def default_vs_tuned(results: dict[str, dict]) -> "pd.DataFrame":
    """Default vs tuned settings, on validation (the tuned YAML: the defaults trial and the winner,
    each the mean of the same fits) and on test (mean ± std over seeds of the rows a notebook ran
    both ways: a ``settings="default"`` row beside its ``settings="tuned"`` row).

    Args: ``results``: results payloads by name (:func:`erc_lib.report.load_results`).
    Returns: one row per (results file, model, variant) run both ways.
    """
    import pandas as pd

    by_name = {v: k for k, v in zoo.MODEL_NAMES.items() if k != "compm_finetune"}
    out = []
    for name, payload in results.items():
        rows = pd.DataFrame(payload.get("rows") or [])
        if rows.empty or "settings" not in rows:
            continue
        test = rows[rows["split"] == "test"]
        for variant in test.loc[test["settings"] == "default", "variant"].unique():
            tuned_variant = variant.replace(", default settings)", ")").replace(" (default settings)", "")
            if tuned_variant == variant:  # an SDT default row is named after its inputs: the tuned full model
                continue
            a, b = test[test["variant"] == variant], test[test["variant"] == tuned_variant]
            if b.empty:
                continue
            model = by_name.get(str(b["model"].iloc[0]), str(b["model"].iloc[0]))
            dataset = str(b["dataset"].iloc[0])
            t = (zoo.read_yaml(zoo.tuned_path(model, dataset)).get("tuning") or {}) if zoo.has_tuned(model, dataset) else {}
            out.append({"results": name, "model": b["model"].iloc[0], "dataset": dataset, "row": tuned_variant,
                        "validation: defaults": t.get("default_dev_weighted_f1"),
                        "validation: tuned": t.get("best_dev_weighted_f1"),
                        "test: defaults": f"{a['weighted_f1'].mean():.2f} ± {a['weighted_f1'].std(ddof=1):.2f}",
                        "test: tuned": f"{b['weighted_f1'].mean():.2f} ± {b['weighted_f1'].std(ddof=1):.2f}",
                        "test: tuned − defaults": round(b["weighted_f1"].mean() - a["weighted_f1"].mean(), 2),
                        "seeds": int(min(len(a), len(b)))})
    return pd.DataFrame(out)


if __name__ == "__main__":
    sys.exit(main())
