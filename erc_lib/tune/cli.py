"""Equal-budget hyper-parameter tuning with Optuna: one budget for every model, shown to be enough.

The command line ``python -m erc_lib.tune`` (see :mod:`erc_lib.tune`): the studies the report
reads (:data:`STUDIES`), the worker processes that share a storage, and the summary it prints.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna

from .. import runtime, zoo
from ..data import DATASETS
from ..paths import REPO_ROOT
from .objective import VALIDATIONS
from .study import GRACE_SECONDS, default_storage, init_storage, make_run, run_study
from .summaries import summary_table, write_summary

SMOKE_DIALOGUES = {"train": 10, "dev": 4, "test": 4}
SMOKE_EPOCHS = 2
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



def _worker(args) -> int:
    """One worker process: every selected study in order; studies others are finishing are
    revisited at the end. Returns the number of studies written."""
    runtime.setup(args.device, args.cpu_threads)
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

