"""Equal-budget hyper-parameter tuning with Optuna: one budget for every model, shown to be enough.

A comparison is fair only when every model gets the same tuning effort, and that effort is enough
to rank settings. Every study (:data:`~erc_lib.tune.cli.STUDIES`, all those the report reads) therefore runs with
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
  :func:`erc_lib.tune.study._ask`), so parallel workers never draw the same settings.
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
running trial is marked failed by Optuna's heartbeat (or at the next start, :func:`erc_lib.tune.study._fail_stale`)
and re-run, so a re-started command resumes where it stopped and no trial is lost.

CLI::

    python -m erc_lib.tune --all [--jobs 2] [--storage URL]           # every study of the report
    python -m erc_lib.tune --model sdt --dataset iemocap [--jobs 2]    # one study
    python -m erc_lib.tune --model sdt --dataset iemocap --smoke       # tiny check, writes results/tuned/

Modules: :mod:`~erc_lib.tune.space` (search spaces from the model table), :mod:`~erc_lib.tune.objective`
(budget, tuning splits, one study's fits), :mod:`~erc_lib.tune.study` (storage, workers' trials, one
study, its tuned file), :mod:`~erc_lib.tune.summaries` (tables of the tuned files) and
:mod:`~erc_lib.tune.cli` (the command line, run by ``python -m erc_lib.tune``).
"""
from __future__ import annotations

from .cli import SMOKE_DIALOGUES, SMOKE_EPOCHS, STUDIES, main
from .objective import (HOLDOUT_DATASETS, HOLDOUT_FRACTION, VALIDATIONS, StudyRun, budget, model_inputs,
                        resolve_validation, tuning_split)
from .space import sample, search_space
from .study import (GRACE_SECONDS, HEARTBEAT_SECONDS, SATURATION, SaturatedObjectiveError, TuneResult,
                    default_storage, init_storage, make_run, run_study, tune)
from .summaries import best_so_far, default_vs_tuned, summary_table, write_summary

__all__ = ["GRACE_SECONDS", "HEARTBEAT_SECONDS", "HOLDOUT_DATASETS", "HOLDOUT_FRACTION", "SATURATION", "SMOKE_DIALOGUES",
           "SMOKE_EPOCHS", "STUDIES", "VALIDATIONS", "SaturatedObjectiveError", "StudyRun", "TuneResult", "best_so_far",
           "budget", "default_storage", "default_vs_tuned", "init_storage", "main", "make_run", "model_inputs",
           "resolve_validation", "run_study", "sample", "search_space", "summary_table", "tune", "tuning_split",
           "write_summary"]
