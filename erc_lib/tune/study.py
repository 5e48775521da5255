"""One study: its storage, the workers that share it, its trials, re-scoring and the tuned file it writes.

A worker asks for a trial under a file lock while the study holds fewer than ``trials`` search
trials; heartbeats mark a killed worker's trial failed so it is re-run (see :mod:`erc_lib.tune`).
"""
from __future__ import annotations

import datetime
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import yaml
from filelock import FileLock

from .. import zoo
from ..data import DATASETS, SATURATED_DEV
from ..paths import REPO_ROOT, atomic_write, check_writable, results_dir
from .objective import HOLDOUT_FRACTION, VALIDATIONS, StudyRun, budget, model_inputs, resolve_validation
from .space import sample, search_space

warnings.filterwarnings("ignore", message="Heartbeat of storage")  # heartbeats are recorded by _Heartbeat
#: A best dev weighted F1 at or above this within the first trials means dev cannot rank settings.
SATURATION = 99.0


class SaturatedObjectiveError(ValueError):
    """The validation score cannot rank settings (it is at or near 100 for any setting)."""



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

    A study below the configured :func:`~erc_lib.tune.objective.budget` (fewer trials, seeds or re-scoring) or at smoke
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
    key = model_inputs(model, inputs)
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

