"""Equal-budget hyper-parameter tuning on dev with Optuna (issue 11, items 2 and 3).

A comparison between models is only fair when every model gets the same tuning effort: the
defaults of ``configs/defaults.yaml`` were tuned for some models and not for others, and a
paper model that beats an untuned baseline proves nothing. :func:`tune` therefore gives every
model, the baselines included, **the same number of trials and the same seeds**: pass the same
``trials`` and ``seeds`` for every model of a table (the notebooks' full runs use one budget for
all). Each trial samples the model's search space (declared next to the model:
:data:`erc_lib.models.sdt.SEARCH_SPACE`, ...), trains it with :func:`erc_lib.experiment.run_experiment`
for every seed and scores the mean dev weighted F1 at the dev-selected epoch. Test is never
read: the trainer scores it every epoch for curves, the objective reads ``FitResult.dev`` only.

* Sampler: ``optuna.samplers.TPESampler`` seeded, so the same call on a fresh study draws
  the same trials (the seed is ``sampler_seed`` plus the number of trials the study already
  holds, so a second worker joining a study draws other start-up configurations).
* Pruner: ``optuna.pruners.MedianPruner`` on the per-epoch dev curve: every epoch reports
  ``dev_selection_score`` (step ``seed_index * epochs + epoch``); a trial whose curve falls
  below the median of earlier trials at the same step is stopped (``optuna.TrialPruned``).
* Validation (:func:`tuning_split`): IEMOCAP's standard dev has 12 dialogues (647 utterances),
  too few to rank settings (dev and test rankings disagree, dev weighted F1 moves 2-2.7 points
  between epochs). For ``iemocap`` and ``iemocap-sdt`` tuning therefore validates, by default, on
  a stated, seeded 20 % of the train+dev dialogues (scikit-learn ``train_test_split``, seed 0)
  and trains on the rest; ``validation="standard"`` keeps the standard dev. Other datasets use
  their standard dev. Features are z-scored with the tuning-train statistics.
* Storage: any SQLAlchemy URL; default ``sqlite:///<results>/tuning.db``. Studies are loaded
  if they exist (``load_if_exists``), so several processes or machines share one study.
  Two processes sharing a study: start the same command twice with the same storage and name,
  e.g. in two shells::

      python -m erc_lib.tune --model sdt --dataset iemocap --trials 10 --storage sqlite:///results/tuning.db --study-name sdt_iemocap
      python -m erc_lib.tune --model sdt --dataset iemocap --trials 10 --storage sqlite:///results/tuning.db --study-name sdt_iemocap

  Each runs its 10 trials; the study holds 20 and the YAML written last reports the best of
  all 20. SQLite serves a few processes on one machine; workers on several machines use a
  server database (``--storage postgresql://user:pass@host/db``, driver installed separately).
* Output: the best configuration as YAML at :func:`erc_lib.zoo.tuned_path` (read by
  ``zoo.settings(..., tuned=True)``): only search-space keys under ``model`` / ``train``, plus a
  ``tuning`` block with the budget, the counts, the best dev score and provenance.

CLI: ``python -m erc_lib.tune --model sdt --dataset iemocap --trials 20 [--seeds 0 1]
[--storage URL] [--study-name NAME] [--smoke] [--device cpu] [--out PATH]``.
"""
from __future__ import annotations

import argparse
import datetime
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import yaml

from . import zoo
from .data import DATASETS, ERCData, _split_dev, standardize_features
from .paths import atomic_write, check_writable, results_dir

HOLDOUT_DATASETS = ("iemocap", "iemocap-sdt")
HOLDOUT_FRACTION, HOLDOUT_SEED = 0.2, 0
VALIDATIONS = ("auto", "standard", "holdout")
SMOKE_DIALOGUES = {"train": 10, "dev": 4, "test": 4}
SMOKE_EPOCHS = 2
_PRIMITIVE = (type(None), bool, int, float, str)


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


def tuning_split(data: ERCData, validation: str = "auto") -> ERCData:
    """The splits tuning trains and validates on (see the module docstring).

    Args:
        data: a dataset (e.g. from :func:`erc_lib.features.text.prepare_dataset`).
        validation: ``"auto"`` (``"holdout"`` for :data:`HOLDOUT_DATASETS`, else ``"standard"``),
            ``"standard"`` (the dataset's own dev) or ``"holdout"``: dev is a seeded
            :data:`HOLDOUT_FRACTION` of the train+dev dialogues (``train_test_split``,
            ``random_state=HOLDOUT_SEED``), train is the rest, file order kept.

    Returns:
        A new :class:`ERCData` (the same :class:`Dialogue` objects); ``splits["test"]`` is
        ``data``'s test list, untouched, never in train or dev. ``notes`` states the split.

    Raises: ValueError for an unknown ``validation``.
    """
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
    if resolve_validation(data.name, validation) == "standard":
        return ERCData(data.name, data.label_names, dict(data.splits), data.notes)
    train, dev = _split_dev(data.splits["train"] + data.splits["dev"], HOLDOUT_FRACTION, HOLDOUT_SEED)
    note = (f"tuning split: dev = a seeded {HOLDOUT_FRACTION:.0%} of the train+dev dialogues ({len(dev)} "
            f"dialogues, train_test_split random_state={HOLDOUT_SEED}), train = the other {len(train)}; test untouched")
    return ERCData(data.name, data.label_names, {"train": train, "dev": dev, "test": data.splits["test"]},
                   (data.notes + "\n" if data.notes else "") + note).validate()


def resolve_validation(dataset: str, validation: str) -> str:
    """``"auto"`` -> ``"holdout"`` for :data:`HOLDOUT_DATASETS`, else ``"standard"``."""
    if validation == "auto":
        return "holdout" if dataset in HOLDOUT_DATASETS else "standard"
    return validation


@dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes:
        study: the ``optuna.Study`` (every trial of every process sharing it).
        model_args, train_args: the best trial's search-space values.
        best_dev_weighted_f1: its mean dev weighted F1 over the seeds.
        path: where the YAML was written.
        config: the YAML's content (``model``, ``train``, ``tuning``).
    """

    study: optuna.Study
    model_args: dict
    train_args: dict
    best_dev_weighted_f1: float
    path: Path
    config: dict = field(default_factory=dict)


def tune(model: str, dataset: str, trials: int, seeds=(0,), storage: str | None = None, study_name: str | None = None,
         n_dialogues: int | dict | None = None, device: str = "cpu", timeout: float | None = None,
         validation: str = "auto", out: str | Path | None = None, epochs: int | None = None,
         sampler_seed: int = 0, progress: bool = False, on_trial=None, inputs: list[str] | None = None) -> TuneResult:
    """Run (or continue) the Optuna study of ``model`` on ``dataset``; save the best config.

    Args:
        model: one of :data:`erc_lib.zoo.MODELS` with a :func:`search_space`.
        dataset: one of :data:`erc_lib.data.DATASETS` (read from ``ERC_DATA_DIR``).
        trials: trials this call runs (>= 1); use the same number for every compared model.
        seeds: training seeds of every trial (the objective is the mean over them).
        storage: SQLAlchemy URL (default ``sqlite:///<results_dir>/tuning.db``).
        study_name: default ``<model>_<dataset>``; an existing study is continued.
        n_dialogues: first dialogues per split (smoke runs; :func:`erc_lib.data.subset_dialogues`).
        device: training device. timeout: stop starting trials after this many seconds.
        validation: see :func:`tuning_split`. out: YAML path (default :func:`erc_lib.zoo.tuned_path`).
        epochs: override the configured epochs (smoke runs). sampler_seed: TPE seed base.
        progress: per-run progress bar. on_trial: ``on_trial(study, frozen_trial)`` after each trial.
        inputs: the modalities the model reads when not its default for the dataset (e.g. the
            baselines on MiSTER-E's ``["speech", "text"]`` of MOSI); part of the study name and path.

    Returns: :class:`TuneResult` over all trials of the study.

    Raises: ValueError for an unknown model / dataset / validation, a model without a search
        space, ``trials < 1``, no seeds, a storage that cannot be opened, or a study whose
        trials were all pruned or failed; PermissionError when the output folder is not writable.
    """
    from .experiment import run_experiment
    from .features.text import prepare_dataset
    from .training import TrainConfig

    space = search_space(model)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
    key = _model_inputs(model, inputs)
    out = Path(out) if out is not None else zoo.tuned_path(model, dataset, key)
    check_writable(out.parent)
    storage = storage or f"sqlite:///{results_dir() / 'tuning.db'}"
    study_name = study_name or f"{model}_{dataset}{zoo.inputs_key(key)}"
    try:  # heartbeats: a crashed worker's running trial is marked failed, not left running
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(storage, heartbeat_interval=60, grace_period=180, engine_kwargs=(
                {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None))
    except Exception as e:  # SQLAlchemy / driver errors: say which URL failed
        raise ValueError(f"cannot open study storage {storage!r}: {type(e).__name__}: {e}") from None
    study = optuna.create_study(storage=rdb, study_name=study_name, direction="maximize", load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed + len(study.trials))

    data = prepare_dataset(dataset, n_dialogues=n_dialogues, device=device, standardize=False, progress=progress)
    data = tuning_split(data, validation)
    if data.modalities:
        standardize_features(data)

    def objective(trial: optuna.Trial) -> float:
        model_args, train_args = sample(trial, space)
        m, t = zoo.settings(model, dataset, model_args=model_args, train_args=train_args)
        if epochs is not None:
            t["epochs"] = epochs
        config = TrainConfig(**{**t, "device": device, "progress": False})
        spec = zoo.model_spec(model, data, _model_inputs(model, inputs), model_args=m, train_args=t)

        def report(spec, seed, row):
            step = seeds.index(seed) * config.epochs + row["epoch"]
            trial.report(row["dev_selection_score"], step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"dev curve below the median at step {step}")

        experiment = run_experiment(data, [spec], seeds, config, progress=progress, on_epoch=report,
                                    desc=f"trial {trial.number}")
        fits = experiment.seed_fits(spec.variant)
        dev = [f.dev["weighted_f1"] for f in fits]  # dev only: test is never read here
        trial.set_user_attr("dev_weighted_f1_per_seed", dev)
        trial.set_user_attr("best_epochs", [f.best_epoch for f in fits])
        return float(np.mean(dev))

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials, timeout=timeout, callbacks=[on_trial] if on_trial else None)
    wall = time.perf_counter() - start
    return _save(study, space, out, seeds, resolve_validation(dataset, validation), storage, wall)


def _model_inputs(model: str, inputs: list[str] | None) -> list[str] | None:
    """Expert names for MiSTER-E, dataset modalities for the others (``speech`` reads ``audio``)."""
    if inputs is None or model == "mister_e":
        return inputs
    return ["audio" if m == "speech" else m for m in inputs]


def _save(study: optuna.Study, space: dict, out: Path, seeds: list[int], validation: str, storage: str,
          wall: float) -> TuneResult:
    """Write the best trial's config (search-space keys only) and the tuning block to ``out``."""
    states = [t.state for t in study.trials]
    completed = states.count(optuna.trial.TrialState.COMPLETE)
    if not completed:
        raise ValueError(f"study {study.study_name!r} has no completed trial ({len(states)} trials, all pruned, "
                         "failed or running); run more trials")
    best = study.best_trial
    model_args, train_args = sample(optuna.trial.FixedTrial(best.params), space)
    finished = [t for t in study.trials if t.state.is_finished()]
    config = {"model": model_args, "train": train_args, "tuning": {
        "trials": len(finished), "completed": completed, "pruned": states.count(optuna.trial.TrialState.PRUNED),
        "best_dev_weighted_f1": float(best.value), "best_trial": best.number, "validation": validation,
        "seeds": seeds, "wall_seconds": round(wall, 1),
        "trial_seconds": round(sum(t.duration.total_seconds() for t in finished if t.duration), 1),
        "storage": storage, "study_name": study.study_name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}}
    text = yaml.safe_dump(config, sort_keys=False)
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return TuneResult(study, model_args, train_args, float(best.value), out, config)


def _print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    seconds = trial.duration.total_seconds() if trial.duration else float("nan")
    value = f"dev wF1 {trial.value:.2f}" if trial.value is not None else f"last step {trial.last_step}"
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    print(f"trial {trial.number:3d} {trial.state.name:8s} {value} ({seconds:.1f} s) {params}", flush=True)


def main(argv: list[str] | None = None) -> TuneResult:
    """The command line (see the module docstring); prints one line per trial and the best config."""
    p = argparse.ArgumentParser(prog="python -m erc_lib.tune", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=zoo.MODELS)
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--trials", type=int, required=True, help="trials of this process (same for every model)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--storage", help="SQLAlchemy URL (default sqlite:///<results>/tuning.db)")
    p.add_argument("--study-name", help="default <model>_<dataset>; share it to share a study")
    p.add_argument("--validation", choices=VALIDATIONS, default="auto")
    p.add_argument("--smoke", action="store_true", help=f"{SMOKE_DIALOGUES} dialogues, {SMOKE_EPOCHS} epochs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cpu-threads", type=int, default=1)
    p.add_argument("--timeout", type=float, help="seconds after which no new trial starts")
    p.add_argument("--out", help="YAML path (default configs/tuned/<model>_<dataset>.yaml)")
    p.add_argument("--inputs", nargs="+", help="modalities when not the model's default, e.g. speech text")
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error(f"--trials must be >= 1, got {args.trials}")
    try:
        search_space(args.model)
    except ValueError as e:
        p.error(str(e))
    from .runtime import setup

    setup(args.device, args.cpu_threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = tune(args.model, args.dataset, args.trials, seeds=args.seeds, storage=args.storage,
                  study_name=args.study_name, n_dialogues=SMOKE_DIALOGUES if args.smoke else None,
                  device=args.device, timeout=args.timeout, validation=args.validation, out=args.out,
                  epochs=SMOKE_EPOCHS if args.smoke else None, on_trial=_print_trial, inputs=args.inputs)
    print(f"best: dev wF1 {result.best_dev_weighted_f1:.2f} -> {result.path}")
    print(yaml.safe_dump({k: result.config[k] for k in ("model", "train")}, sort_keys=False), end="")
    return result


if __name__ == "__main__":
    main()
