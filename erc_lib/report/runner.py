"""Running the report's notebooks: the fingerprint of a run's inputs, papermill execution with a
resumable ``state.json`` (:func:`run_all`) and a failed run's short error."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Lock

import nbformat
import papermill as pm

from ..notebook import QUIET_ENV
from ..paths import REPO_ROOT, data_dir, figures_dir, results_dir, write_json
from .config import REPORT_NOTEBOOK, Run


def code_files() -> list[Path]:
    """The code and settings every notebook depends on: ``erc_lib/**/*.py``,
    ``configs/defaults.yaml`` and ``configs/tuned/*.yaml``."""
    files = sorted(REPO_ROOT.glob("erc_lib/**/*.py")) + sorted((REPO_ROOT / "configs" / "tuned").glob("*.yaml"))
    defaults = REPO_ROOT / "configs" / "defaults.yaml"
    return files + ([defaults] if defaults.exists() else [])


def _stat_files(folder: Path, pattern: str = "**/*") -> list[tuple[str, int, int]]:
    return [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.glob(pattern)) if p.is_file()] if folder.exists() else []


def fingerprint(run: Run, notebook_path: Path) -> str:
    """sha256 over the notebook's bytes, the run's parameters (JSON), :func:`code_files`, and the
    size and mtime of every file under ``ERC_DATA_DIR``; for ``99_report`` also the results JSON
    and figures it reads."""
    h = hashlib.sha256()
    for label, data in [("notebook", notebook_path.read_bytes()),
                        ("parameters", json.dumps(run.parameters, sort_keys=True, default=str).encode())]:
        h.update(label.encode() + b"\0" + data + b"\0")
    for p in code_files():
        h.update(str(p).encode() + b"\0" + p.read_bytes() + b"\0")
    stats = _stat_files(data_dir())
    if run.notebook == REPORT_NOTEBOOK:
        stats += _stat_files(results_dir(), "*.json") + _stat_files(figures_dir(), "*.png")
    h.update(json.dumps(stats).encode())
    return h.hexdigest()


def fit_cache_counts(name: str, since: float) -> dict[str, int] | None:
    """The fit-cache counts (``{"hit", "trained", "uncached"}``, :meth:`Experiment.cache_counts`) that
    run ``name`` wrote into its results JSON (full-size or smoke folder) at or after ``since`` (Unix
    seconds); None when it wrote none (01_data, the front page) or the file cannot be read."""
    for folder in (results_dir(smoke=False), results_dir(smoke=True)):
        path = folder / f"{name}.json"
        try:
            if path.stat().st_mtime >= since:
                counts = json.loads(path.read_text()).get("fit_cache")
                return {k: int(counts.get(k, 0)) for k in ("hit", "trained", "uncached")} if counts else None
        except (OSError, ValueError, AttributeError):
            continue
    return None


def run_all(runs: list[Run], notebooks_dir: str | Path, out_dir: str | Path, force: bool = False,
            log=lambda line: print(line, flush=True), jobs: int = 1) -> dict[str, dict]:
    """Execute ``runs`` with papermill (kernel python3, ``ERC_PROGRESS=text``), writing
    ``<out>/<name>.ipynb``; skip a run whose fingerprint equals that of its last successful run
    (unless ``force``, which also sets ``ERC_FIT_CACHE=refresh``: every fit is retrained and
    the fit cache overwritten, :mod:`erc_lib.fitcache`). A failing run is recorded with its error and the others still run.
    ``jobs > 1`` runs that many notebooks at once (each in its own kernel; e.g. 2 on a 2-core CPU
    with one torch thread per notebook); the front page (``99_report``) always runs last, alone.
    Returns the state: run name -> {status ok|failed|running, fingerprint, seconds, error, ...}."""
    # Absolute paths: papermill changes the process's working directory while a notebook runs, which
    # would move a relative --out when two notebooks run at once.
    notebooks_dir, out_dir = Path(notebooks_dir).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    os.environ["ERC_PROGRESS"] = "text"  # the kernels inherit it: plain-text progress on stderr (dropped)
    os.environ[QUIET_ENV] = "1"  # the kernels leave a failing cell's message to this runner (no double print)
    os.environ.pop("MPLBACKEND", None)  # e.g. CI's Agg would keep figures out of the notebooks
    if force:  # the kernels retrain every fit and overwrite the fit cache (unless ERC_FIT_CACHE=off)
        os.environ.setdefault("ERC_FIT_CACHE", "refresh")
    lock = Lock()

    def save(name: str, entry: dict) -> None:
        with lock:
            state[name] = entry
            write_json(state_path, state)

    def execute(i: int, run: Run) -> None:
        tag, nb_path, out_path = f"[{i}/{len(runs)}] {run.name}", notebooks_dir / f"{run.notebook}.ipynb", out_dir / f"{run.name}.ipynb"
        fp, last = fingerprint(run, nb_path), state.get(run.name, {})
        if not force and last.get("status") == "ok" and last.get("fingerprint") == fp and out_path.exists():
            log(f"{tag}: skipped (unchanged since {last.get('finished')}; --force reruns it)")
            return
        log(f"{tag}: start")
        entry = {"notebook": run.notebook, "parameters": run.parameters, "status": "running", "fingerprint": None,
                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        save(run.name, entry)
        t0, started = time.perf_counter(), time.time()
        try:
            pm.execute_notebook(str(nb_path), str(out_path), parameters=run.parameters, kernel_name="python3",
                                progress_bar=False,  # no cwd: papermill's chdir is process-wide, not per thread
                                extra_arguments=KERNEL_ARGUMENTS)
            skipped = unexecuted_cells(out_path)
            if skipped:
                raise RuntimeError(f"{len(skipped)} code cell(s) did not run (cells {skipped})")
            entry.update(status="ok", fingerprint=fp, error=None, trace=[])
        except Exception as e:  # noqa: BLE001 - every failure is reported and the next run starts
            error, trace = error_lines(e)
            entry.update(status="failed", error=error, trace=trace)
        entry.update(seconds=round(time.perf_counter() - t0, 1), finished=time.strftime("%Y-%m-%d %H:%M:%S"),
                     fit_cache=fit_cache_counts(run.name, since=started) if entry["status"] == "ok" else None)
        save(run.name, entry)
        err = f" - {entry['error']}" if entry["error"] else ""
        counts = entry["fit_cache"]
        reuse = f" (fit cache: {counts['hit']} fits read back, {counts['trained'] + counts['uncached']} trained)" if counts else ""
        log(f"{tag}: {entry['status']} in {duration_text(entry['seconds'])}{reuse}{err}"
            + "".join(f"\n    {line}" for line in entry.get("trace") or []))

    numbered = list(enumerate(runs, 1))
    work = [(i, r) for i, r in numbered if r.notebook != REPORT_NOTEBOOK]
    if jobs > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda item: execute(*item), work))
    else:
        for item in work:
            execute(*item)
    for item in numbered:
        if item[1].notebook == REPORT_NOTEBOOK:
            execute(*item)
    return state


#: Kernel command-line options of every run: ipykernel's own log (its "Kernel is running over TCP
#: without encryption" warning at start, "KeyboardInterrupt caught in kernel" when jupyter_client
#: interrupts the idle kernel on shutdown) is not about the notebook, so only critical lines pass.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_lines(error: Exception, tail: int = 4) -> tuple[str, list[str]]:
    """A failed run's error as (first line, short traceback tail): the notebook's own exception
    type and message first (``ParameterError: ...``), then the last ``tail`` lines of the cell's
    traceback (without colour codes and without the repeated message)."""
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    message = str(evalue).strip()
    first = f"{ename}: {message.splitlines()[0] if message else ''}"[:500]
    rest = [line for line in message.splitlines()[1:] if line.strip()][:6]  # a multi-line message's lines
    lines = [ln.rstrip() for chunk in getattr(error, "traceback", None) or [] for ln in _ANSI.sub("", chunk).splitlines()]
    said = {ln.strip() for ln in message.splitlines() if ln.strip()}  # the message is already shown
    lines = [ln for ln in lines if ln.strip() and not ln.strip().startswith("-----") and ln.strip() not in said
             and not any(ln.strip().endswith(m) for m in said) and ln.strip() != "(last frames, innermost last)"]
    return first, rest + lines[-tail:]


def unexecuted_cells(path: str | Path) -> list[int]:
    """Indices of the code cells of an executed notebook that did not run (no execution count)."""
    nb = nbformat.read(str(path), as_version=4)
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()
            and c.get("execution_count") is None]


def duration_text(seconds: float) -> str:
    """A wall time as a reader reads it: seconds below two minutes (``"42.0 s"``), else minutes (``"3.5 min"``)."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
