"""The benchmark's command line, ``python -m erc_lib.bench`` (options: the package docstring)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from ..paths import results_dir, write_json
from .measure import MODES
from .run import QUICK_MODELS, SCALING_LENGTHS, SECTIONS, merge_reports, run_benchmark
from .sizes import SIZES
from .specs import MODELS
from .summaries import print_report


def main(argv: Sequence[str] | None = None) -> dict:
    """The command line (see the package docstring, :mod:`erc_lib.bench`); returns the report."""
    description = sys.modules[__package__].__doc__.split("\n\n")[0]  # the package docstring's first paragraph
    p = argparse.ArgumentParser(prog="python -m erc_lib.bench", description=description)
    p.add_argument("--quick", action="store_true", help="a subset: < 3 minutes on a 2-core CPU")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    p.add_argument("--amp", default="off", choices=("off", "bf16"), help="bf16 autocast (CUDA only)")
    p.add_argument("--threads", nargs="+", default=None,
                   help="CPU thread counts, e.g. 1 all (default: 1 all; --quick: 1)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=None)
    p.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=None)
    p.add_argument("--modes", nargs="+", choices=tuple(MODES), default=None)
    p.add_argument("--epochs", type=int, default=None, help="timed epochs per cell")
    p.add_argument("--dialogues", type=int, default=None, help="training dialogues per cell (default: all)")
    p.add_argument("--finetune-dialogues", type=int, default=3,
                   help="training dialogues of the compm_finetune cells (default 3: shortest, median, longest)")
    p.add_argument("--scaling", nargs="*", type=int, default=None,
                   help=f"dialogue lengths of the scaling table (default {' '.join(map(str, SCALING_LENGTHS))}; "
                        "none: no table)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=None,
                   help="what to measure (default: all; --quick: cells scaling)")
    p.add_argument("--metrics-seeds", type=int, default=5, help="seeds per arm of each metrics check (default 5)")
    p.add_argument("--merge", action="store_true",
                   help="keep the other sections of an existing --out file (replace only those measured)")
    p.add_argument("--out", default=str(results_dir() / "bench.json"))
    args = p.parse_args(argv)
    if args.metrics_seeds < 2:
        p.error("--metrics-seeds must be >= 2 (the check compares against seed noise)")
    threads = [t if t == "all" else int(t) for t in (args.threads or (["1"] if args.quick else ["1", "all"]))]
    if args.quick:
        settings = dict(models=args.models or QUICK_MODELS, sizes=args.sizes or ("notebook", "paper"),
                        modes=args.modes or ("default", "fast"), epochs=args.epochs or 1,
                        train_dialogues=args.dialogues or 32,
                        scaling_lengths=SCALING_LENGTHS if args.scaling is None else args.scaling,
                        scaling_sizes=("notebook",), scaling_steps=1, threads=threads,
                        sections=args.sections or ("cells", "scaling"))
    else:
        settings = dict(models=args.models or MODELS, sizes=args.sizes or ("notebook", "paper"),
                        modes=args.modes or tuple(MODES), epochs=args.epochs or 2, train_dialogues=args.dialogues,
                        scaling_lengths=SCALING_LENGTHS if args.scaling is None else args.scaling, threads=threads,
                        sections=args.sections or SECTIONS)
    old = None
    if args.merge and os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f)
    if args.finetune_dialogues < 1:
        p.error("--finetune-dialogues must be >= 1")
    report = run_benchmark(device=args.device, amp=args.amp, quick=args.quick, metrics_seeds=args.metrics_seeds,
                           finetune_dialogues=args.finetune_dialogues, **settings)
    if old is not None:
        report = merge_reports(old, report)
    print_report(report)
    path = write_json(args.out, report)
    print(f"wrote {path}")
    return report
