"""The report's command line, ``python -m erc_lib.report`` (options: the package docstring)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from ..paths import REPO_ROOT
from .config import ConfigError, load_config, select_runs, shown_path
from .html import build_html, reader_problems, screenshot
from .results_doc import REFERENCE_DIR, RESULTS_DOC, write_results_doc
from .runner import duration_text, run_all


def main(argv: list[str] | None = None) -> int:
    """The command line (see the package docstring, :mod:`erc_lib.report`). Returns 0 when every run succeeded, 1 when
    one failed, 2 for a config error (printed before any work)."""
    description = sys.modules[__package__].__doc__.split("\n\n")[0]  # the package docstring's first paragraph
    ap = argparse.ArgumentParser(prog="python -m erc_lib.report", description=description)
    ap.add_argument("--config", required=True, help="YAML file with the runs (configs/smoke.yaml, full.yaml, gpu.yaml)")
    ap.add_argument("--device", help="override the config's device (cpu, cuda, auto)")
    ap.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 03,05 (99_report always runs)")
    ap.add_argument("--force", action="store_true", help="rerun runs whose inputs did not change")
    ap.add_argument("--notebooks-dir", default=str(REPO_ROOT / "notebooks"))
    ap.add_argument("--out", default="reports", help="folder for executed notebooks, state.json and report.html")
    ap.add_argument("--screenshot", help="also render report.html in headless Chromium into this PNG")
    ap.add_argument("--jobs", type=int, help="notebooks run at once (default: the config's jobs, else 1)")
    ap.add_argument("--results-doc", default=str(RESULTS_DOC),
                    help="regenerate this Markdown file from results/reference/ (docs/results.md; '' skips it)")
    args = ap.parse_args(argv)
    try:
        everything = load_config(args.config, args.notebooks_dir, args.device)
        runs = select_runs(everything, args.only)
    except (ConfigError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S")
    jobs = args.jobs or int((yaml.safe_load(Path(args.config).read_text()) or {}).get("jobs", 1))
    if jobs < 1:
        print(f"error: --jobs must be >= 1, got {jobs}", file=sys.stderr)
        return 2
    state = run_all(runs, args.notebooks_dir, args.out, force=args.force, jobs=jobs)
    html = build_html(everything, args.out, state)  # the report shows every run of the config
    if args.results_doc and REFERENCE_DIR.is_dir():
        wrote = write_results_doc(REFERENCE_DIR, args.results_doc)
        print(f"{args.results_doc}: {'regenerated' if wrote else 'unchanged'} from {shown_path(REFERENCE_DIR)}/")
    failed = [r.name for r in runs if state.get(r.name, {}).get("status") == "failed"]
    counts = [state.get(r.name, {}).get("fit_cache") for r in runs if state.get(r.name, {}).get("finished", "") >= started]
    counts = [c for c in counts if c]
    if counts:
        hit, fits = sum(c["hit"] for c in counts), sum(sum(c.values()) for c in counts)
        print(f"fit cache: {hit} of {fits} fits read back ({100 * hit / max(fits, 1):.0f}%) in the {len(counts)} runs executed")
    print(f"report: {html} ({len(runs)} runs, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}; "
          f"{duration_text(time.perf_counter() - t0)})")
    unreadable = reader_problems(html.read_text(encoding="utf-8"))
    for what, examples in unreadable.items():
        print(f"report: {what} in the page, e.g. {examples[0]!r} (a table must read as text, not as Python)")
    if args.screenshot:
        print(f"screenshot: {screenshot(html, args.screenshot)}")
    return 1 if failed or unreadable else 0
