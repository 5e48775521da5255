"""The full reproduction report: run the numbered notebooks from one YAML file, skip those whose
inputs did not change, and render one self-contained HTML report; plus the front page's tables
(``notebooks/99_report.ipynb`` only calls the functions below).

    python -m erc_lib.report --config configs/full.yaml [--device cuda] [--only 03,05] [--force]
                             [--jobs 2] [--notebooks-dir DIR] [--out reports] [--screenshot report.png]

State (``<out>/state.json``, written atomically after every run) keeps each run's fingerprint at
its last successful run: a stopped runner, started again, redoes only the unfinished runs.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import yaml

from .notebook import QUIET_ENV, RUN_MIME
from .tables import COUNT_COLUMNS, markdown_table, reader_frame
from .paths import REPO_ROOT, data_dir, figures_dir, results_dir, write_json
from .crossval import cv_reading, power_table
from .results import IncompleteResultsError, code_drift, read_results, summarize
from .tune import default_vs_tuned

REPORT_NOTEBOOK = "99_report"
TEST_SELECTED = ("03_sdt", "06_mister_e")  # results whose authors selected epochs on test
VERDICT_COLOURS = {"holds": "#d4edda", "smaller than published": "#fff3cd", "not confirmed": "#fff3cd",
                   "published effect ruled out": "#ffe0b3", "contradicted": "#f8d7da", "no effect found": "#e2e3e5",
                   "underpowered": "#e2e3e5", "inconclusive": "#e2e3e5", "not measured at full size": "#ffffff"}
_WIDGET = "application/vnd.jupyter.widget-view+json"
_MPL_REPR = re.compile(r"<(Figure size|matplotlib\.|Axes)")  # text-only reprs a figure cell leaves behind


class ConfigError(ValueError):
    """The report config is missing or wrong (unknown notebook, unknown parameter, bad value)."""


@dataclass
class Run:
    """One notebook execution of the config: ``name`` names ``<out>/<name>.ipynb``."""

    notebook: str
    parameters: dict = field(default_factory=dict)
    name: str = ""


# ---------------------------------------------------------------- config and validation
def notebook_parameters(path: str | Path) -> dict[str, str]:
    """The parameters of the notebook's ``parameters`` cell: name -> default (source text), read by
    ``papermill.inspect_notebook`` and, for the lines its parser skips (a comment containing ``=``),
    by Python's ``ast``. Raises ``FileNotFoundError`` for a missing notebook."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    names = {name: p["default"] for name, p in pm.inspect_notebook(str(path)).items()}
    for cell in nbformat.read(path, as_version=4).cells:
        if "parameters" in cell.metadata.get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id not in names and getattr(node, "value", None) is not None:
                        names[t.id] = ast.unparse(node.value)
    return names


def _run_name(notebook: str, params: dict, defaults: dict[str, str]) -> str:
    """The name of the run's results file (:func:`erc_lib.notebook.result_name`, from the run's
    parameters over the notebook's defaults, e.g. ``03_sdt_mosi``), else ``<notebook>[_<dataset>]``."""
    from .notebook import NOTEBOOKS, result_name

    if notebook not in NOTEBOOKS:
        return f"{notebook}_{params['dataset']}" if "dataset" in params else notebook
    values = {}
    for key, text in defaults.items():
        try:
            values[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key] = None
    return result_name(notebook, {**values, **params})


def _value_problems(notebook: str, params: dict) -> list[str]:
    """Type / range problems of ``params`` by ``erc_lib.notebook.NOTEBOOKS``, the overrides' keys and
    values included (:func:`erc_lib.notebook.parameter_problems`; none for an unknown notebook)."""
    from .notebook import NOTEBOOKS, parameter_problems

    return parameter_problems(notebook, params) if notebook in NOTEBOOKS else []


def load_config(path: str | Path, notebooks_dir: str | Path, device: str | None = None) -> list[Run]:
    """Read the YAML config and return its runs, validated, ``99_report`` last.

    Args:
        path: YAML with ``device`` (optional) and ``runs: [{notebook, parameters, name}]``; a run
            writes ``<out>/<name>.ipynb``, by default named as its results file (``03_sdt_mosi``).
        notebooks_dir: where ``<notebook>.ipynb`` live.
        device: overrides the config's ``device``; injected only into notebooks that have one.
            ``99_report`` gets ``expected`` (the other runs' names) when it has that parameter.
    Raises:
        ConfigError: missing file, bad YAML layout, unknown notebook, unknown parameters or values
            that ``erc_lib.notebook.NOTEBOOKS`` rejects (all listed, per run), two runs with one name.
        erc_lib.runtime.DeviceError: ``cuda`` asked for on a machine without it.
    """
    path, notebooks_dir = Path(path), Path(notebooks_dir)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist (see configs/*.yaml)")
    config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config.get("runs"), list) or not config["runs"]:
        raise ConfigError(f"{path}: expected a non-empty list under 'runs:'")
    device = device or config.get("device")
    runs, problems = [], []
    for i, entry in enumerate(config["runs"]):
        if not isinstance(entry, dict) or "notebook" not in entry or not isinstance(entry.get("parameters") or {}, dict):
            raise ConfigError(f"{path}: run {i + 1} must be a mapping with 'notebook' and 'parameters' (a mapping)")
        nb_path = notebooks_dir / f"{entry['notebook']}.ipynb"
        if not nb_path.exists():
            known = sorted(p.stem for p in notebooks_dir.glob("*.ipynb"))
            raise ConfigError(f"{path}: run {i + 1}: no notebook {nb_path} (notebooks: {known})")
        params, names = dict(entry.get("parameters") or {}), notebook_parameters(nb_path)
        unknown = sorted(set(params) - set(names))
        if unknown:
            from .notebook import NOTEBOOKS, setting_hint

            hints = [h for k in unknown if entry["notebook"] in NOTEBOOKS
                     for h in [setting_hint(entry["notebook"], k, params[k], form="config")] if h]
            problems.append(f"run {i + 1} ({entry['notebook']}): unknown {unknown}; its parameters: {sorted(names)}"
                            + "".join(f"; {h}" for h in hints))
        problems += [f"run {i + 1} ({entry['notebook']}): {p}" for p in _value_problems(entry["notebook"], params)]
        if device is not None and "device" in names:
            params["device"] = device
        runs.append(Run(entry["notebook"], params, str(entry.get("name") or _run_name(entry["notebook"], params, names))))
    if problems:
        raise ConfigError(f"{path}: bad parameters (unknown names or invalid values):\n  - " + "\n  - ".join(problems))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two runs write the same report {sorted({n for n in names if names.count(n) > 1})}; "
                          "give them different datasets or a 'name:'")
    if device is not None:
        from .runtime import resolve_device  # a clear DeviceError now, not in every notebook
        resolve_device(device)
    for run in runs:
        front_params = notebook_parameters(notebooks_dir / f"{run.notebook}.ipynb") if run.notebook == REPORT_NOTEBOOK else {}
        if "expected" in front_params:
            run.parameters.setdefault("expected", [r.name for r in runs if r.notebook != REPORT_NOTEBOOK])
        if "config" in front_params:  # the front page names the configuration that produced it
            run.parameters.setdefault("config", _shown_path(path))
    return [r for r in runs if r.notebook != REPORT_NOTEBOOK] + [r for r in runs if r.notebook == REPORT_NOTEBOOK]


def _shown_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (``configs/smoke.yaml``), else its name."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path.name


def config_is_smoke(config: str | Path) -> bool:
    """Whether any run of the report config at ``config`` (relative to the repository or absolute)
    runs at smoke size (``smoke: true``); False when the file is absent."""
    path = Path(config) if Path(config).is_absolute() else REPO_ROOT / config
    if not config or not path.is_file():
        return False
    runs = (yaml.safe_load(path.read_text()) or {}).get("runs") or []
    return any((r.get("parameters") or {}).get("smoke") is True for r in runs if isinstance(r, dict))


def front_matter(config: str, results: dict[str, dict]) -> str:
    """The first lines of the front page (Markdown): which configuration produced the report and,
    loudly, whether any input is a smoke run (a results file whose parameters say ``smoke``, or
    a configuration whose runs are smoke)."""
    smoke = sorted(n for n, p in results.items() if (p.get("parameters") or {}).get("smoke"))
    lines = [f"**Produced by** `python -m erc_lib.report --config {config}`, from the results in `"
             f"{_shown_path(results_dir())}/`." if config else
             f"**Produced by** running this notebook on its own, from the results in `{_shown_path(results_dir())}/`."]
    if smoke or config_is_smoke(config):
        what = (f"{len(smoke)} results file(s) come from smoke runs ({', '.join(smoke)})" if smoke
                else f"<code>{config}</code> runs the notebooks at smoke size")
        lines.append('<div style="color:#a00;border:3px solid #a00;padding:0.6em;font-size:1.15em">'
                     f"<b>SMOKE INPUT — these numbers are not results.</b> {what}: one seed, a few epochs, "
                     "tiny models. They check that the code runs; read the verdicts of a full-size report "
                     "(<code>configs/full.yaml</code>) instead.</div>")
    return "\n\n".join(lines)


def select_runs(runs: list[Run], only: str | None) -> list[Run]:
    """The runs named by ``only`` (comma-separated notebook numbers, notebook or run names,
    ``"03,05"``), plus ``99_report``; all runs when ``only`` is empty.
    Raises ConfigError for a selector that matches no run."""
    if not only:
        return list(runs)
    wanted = {s.strip() for s in only.split(",") if s.strip()}
    keys = lambda r: {r.notebook.split("_")[0], r.notebook, r.name}  # noqa: E731
    unmatched = sorted(w for w in wanted if not any(w in keys(r) for r in runs))
    if unmatched:
        raise ConfigError(f"--only {only}: {unmatched} match no run (runs: {[r.name for r in runs]})")
    return [r for r in runs if keys(r) & wanted or r.notebook == REPORT_NOTEBOOK]


# ---------------------------------------------------------------- fingerprints and running
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
    from concurrent.futures import ThreadPoolExecutor
    from threading import Lock

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
        log(f"{tag}: {entry['status']} in {_duration(entry['seconds'])}{reuse}{err}"
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


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# ---------------------------------------------------------------- HTML
def _clean_cells(cells: list) -> list:
    """Drop papermill's error banners and, from code outputs, errors, stderr, widgets and the
    run's parameter line (the section header shows it)."""
    kept = []
    for cell in cells:
        if "papermill-error-cell-tag" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.output_type != "error"
                            and not (o.output_type == "stream" and o.name == "stderr")
                            and _WIDGET not in o.get("data", {}) and RUN_MIME not in o.get("data", {})
                            and not _MPL_REPR.match(_plain_only(o))]
        kept.append(cell)
    return kept


def _plain_only(output) -> str:
    data = output.get("data", {})
    return data["text/plain"] if list(data) == ["text/plain"] else ""


def ran_with(nb) -> tuple[dict, dict]:
    """The parameters an executed notebook ran with: ``(effective, passed)``. ``passed`` are the
    names papermill injected (``metadata.papermill.parameters``); ``effective`` the values
    :func:`erc_lib.notebook.start` reported after validation and smoke sizes (its
    :data:`~erc_lib.notebook.RUN_MIME` output), else ``passed``."""
    passed = dict((nb.metadata.get("papermill") or {}).get("parameters") or {})
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if RUN_MIME in out.get("data", {}):
                return dict(out["data"][RUN_MIME].get("parameters") or {}), passed
    return passed, passed


def _notebook_defaults(nb) -> dict:
    """The literal defaults of an executed notebook's ``parameters`` cell (name -> value)."""
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return out
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            try:
                                out[t.id] = ast.literal_eval(node.value)
                            except ValueError:
                                pass
    return out


def header_parameters(nb) -> str:
    """The section header's parameter line of an executed notebook, from what ran: the passed
    parameters with the values used, then any other parameter the run changed from the notebook's
    default (smoke sizes), e.g. ``dataset='mosi', smoke=True; smoke sizes: seeds=1, epochs=2``."""
    effective, passed = ran_with(nb)
    defaults = _notebook_defaults(nb)
    shown = ", ".join(f"{k}={_param_text(effective.get(k, v))}" for k, v in passed.items()) or "the notebook's defaults"
    changed = {k: v for k, v in effective.items() if k not in passed and k in defaults and defaults[k] != v}
    label = "smoke sizes" if effective.get("smoke") else "changed"
    return shown + (f"; {label}: " + ", ".join(f"{k}={_param_text(v)}" for k, v in changed.items()) if changed else "")


def _param_text(value) -> str:
    """A parameter value as papermill's ``-p`` / ``-y`` take it, not as a Python repr: ``mosi-clean``,
    ``[iemocap, mosi]``, ``{d_model: 32, n_heads: 4}``, ``None``."""
    if value is None:
        return "None"
    if isinstance(value, (dict, list, tuple)):  # nbformat's NotebookNode too: through JSON to plain types
        return yaml.safe_dump(json.loads(json.dumps(value, default=str)), default_flow_style=True, width=10_000).strip()
    return str(value)


def reading_order(runs: list[Run]) -> list[Run]:
    """The front page first, then the runs by notebook number (01, 02, ...), a notebook's runs in
    config order."""
    front = [r for r in runs if r.notebook == REPORT_NOTEBOOK]
    return front + sorted((r for r in runs if r.notebook != REPORT_NOTEBOOK), key=lambda r: r.notebook)


def anchor(name: str) -> str:
    """The HTML id of a report section (``run-03_sdt_mosi``)."""
    return "run-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


_BACK = '<p style="text-align:right"><a href="#top">↑ back to top</a></p>'


def _text_of(cells: list) -> str:
    parts = []
    for cell in cells:
        parts.append(cell.source)
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(str(out.get("text", "")))
            parts += [str(v) for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def build_html(runs: list[Run], out_dir: str | Path, state: dict) -> Path:
    """Merge ``99_report`` (front page) and every executed notebook of ``runs`` into one notebook
    and render ``<out>/report.html`` with nbconvert: a table of contents with anchors first, the
    front page, the references of every citation key used anywhere in the report, then the
    notebooks in reading order (:func:`reading_order`), each under a header with the parameters it
    ran with (:func:`header_parameters`) and its status, and a "back to top" link. No code, no
    prompts, images embedded, no stderr / progress-bar / widget output, no traceback (a failed run
    shows a short red note with its error). Returns the HTML path."""
    from nbconvert import HTMLExporter

    from .published import citation_keys, references_markdown

    out_dir, metadata = Path(out_dir).resolve(), {}
    ordered = reading_order(runs)
    front, sections, toc = [], [], []
    for run in ordered:
        path, info = out_dir / f"{run.name}.ipynb", state.get(run.name, {})
        nb = nbformat.read(path, as_version=4) if path.exists() else nbformat.v4.new_notebook()
        ran = header_parameters(nb) if path.exists() else "not run"
        body = _clean_cells(nb.cells)
        title, intro = f"# {run.name}", []
        if body and body[0].cell_type == "markdown" and body[0].source.startswith("# "):
            first, _, rest = body.pop(0).source.partition("\n")
            title = first + ("" if run.name == run.notebook else f" · {run.name}")
            intro = [nbformat.v4.new_markdown_cell(rest)] if rest.strip() else []
        metadata = metadata or {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
        if run.notebook == REPORT_NOTEBOOK:
            front += [nbformat.v4.new_markdown_cell(f'<a id="top"></a>\n\n{title}'), *intro]
            for cell in body:
                if cell.cell_type == "markdown" and cell.source.startswith("## "):
                    heading = cell.source.splitlines()[0][3:].strip()
                    toc.append(f"[{heading}](#{anchor('front-' + heading)})")
                    cell.source = f'<a id="{anchor("front-" + heading)}"></a>\n\n{cell.source}'
            front += body
            continue
        toc_line = f"[{title.lstrip('# ')}](#{anchor(run.name)}) · {_status(info)}"
        header = [nbformat.v4.new_markdown_cell(
            f'---\n<a id="{anchor(run.name)}"></a>\n\n{title}\n\nnotebook `{run.notebook}` · ran with: '
            f'{ran} · {_status(info)}')]
        if info.get("status") == "failed":
            header.append(nbformat.v4.new_markdown_cell(
                f'<div style="color:#a00;border:2px solid #a00;padding:0.5em">This notebook failed: '
                f'{_escape(info.get("error") or "")}. Its outputs up to the failing cell follow.</div>'))
        if not path.exists():
            header.append(nbformat.v4.new_markdown_cell("*No executed notebook: this run has not run yet.*"))
        sections.append((toc_line, [*header, *intro, *body, nbformat.v4.new_markdown_cell(_BACK)]))
    if not front:
        front = [nbformat.v4.new_markdown_cell('<a id="top"></a>\n\n# Reproduction report')]
    keys = citation_keys(_text_of(front + [c for _, cells in sections for c in cells]))
    for cell in front + [c for _, cells in sections for c in cells]:
        _cite_cell(cell)  # every source under its one display name ([SEED000] -> [Berni et al.])
    refs = anchor("front-references")
    front.append(nbformat.v4.new_markdown_cell(
        f'<a id="{refs}"></a>\n\n## References\n\nEvery publication this report cites, under the name it is '
        f'cited by:\n\n' + (references_markdown(keys) if keys else "*none cited*")))
    toc.append(f"[References](#{refs})")
    contents = ("## Contents\n\n**Front page:** " + " · ".join(toc) + "\n\n**Notebooks, in reading order:**\n\n"
                + ("\n".join(f"{i}. {line}" for i, (line, _) in enumerate(sections, 1)) or "*none in this configuration*"))
    cells = front[:1] + [nbformat.v4.new_markdown_cell(contents)] + front[1:]
    for _, section in sections:
        cells += section
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    merged = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True,
                            mermaid_js_url="", mermaid_layout_elk_js_url="")  # no diagrams: nothing to fetch
    text, _ = exporter.from_notebook_node(merged, resources={"metadata": {"name": "Reproduction report"}})
    html = out_dir / "report.html"
    html.write_text(offline_mathjax(text), encoding="utf-8")
    return html


#: MathJax 3's single-file TeX-to-SVG component (fonts and every TeX extension included) as installed by the
#: ``django-static-mathjax`` package (its module is ``mathjax``; requirements.txt).
MATHJAX_FILE = "static/mathjax/es5/tex-svg-full.js"  # every TeX extension inside: nothing loaded later
_NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
#: MathJax 3 configuration equal to nbconvert's MathJax 2 one: $...$ and \(...\) inline, $$...$$ and \[...\] display.
_MATHJAX_CONFIG = ("window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                   "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, processEnvironments: true}, "
                   "svg: {fontCache: 'global'}};")


def offline_mathjax(html: str) -> str:
    """``html`` (an nbconvert page) with its MathJax block, which loads MathJax 2 from a CDN, replaced
    by MathJax 3 inlined from the installed ``mathjax`` package (:data:`MATHJAX_FILE`): formulas
    typeset without network and the page stays one file (about 2 MB more). Every other script the
    template loads from the network (require.js) is dropped: the page has no widget or JS output.

    Raises:
        ModuleNotFoundError: ``django-static-mathjax`` is not installed (``pip install -r requirements.txt``).
        ValueError: the page has no nbconvert MathJax block (nbconvert changed its template).
    """
    from importlib.resources import files

    try:
        source = (files("mathjax") / MATHJAX_FILE).read_text(encoding="utf-8")
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("the report inlines MathJax from the django-static-mathjax package: "
                                  "pip install -r requirements.txt") from error
    if not _NBCONVERT_MATHJAX.search(html):
        raise ValueError("no nbconvert MathJax block in the page: nbconvert's template changed (erc_lib.report.offline_mathjax)")
    block = (f"<!-- MathJax 3 (django-static-mathjax, {MATHJAX_FILE}), inlined: no network needed -->\n"
             f"<script>{_MATHJAX_CONFIG}</script>\n<script>{source}</script>")
    html = _NBCONVERT_MATHJAX.sub(lambda _: block, html, count=1)
    # nbconvert's template also loads require.js (and, with widget state, the widget manager) from a CDN:
    # the report keeps no widget or JavaScript output, so these are dropped rather than fetched.
    return _REMOTE_SCRIPT.sub("<!-- remote script dropped: the report runs offline -->", html)


_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I)


def _cite_cell(cell) -> None:
    """Write the citation keys of ``cell`` (its source and its text / HTML / Markdown outputs) as
    display names, in place (:func:`erc_lib.published.cited`)."""
    from .published import cited

    cell.source = cited(cell.source)
    for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
        if isinstance(out.get("text"), str):
            out["text"] = cited(out["text"])
        for kind, value in (out.get("data") or {}).items():
            if kind in ("text/plain", "text/html", "text/markdown") and isinstance(value, str):
                out["data"][kind] = cited(value)


#: What a reader must never see in the page: a Python dict repr, a float count (a count column with
#: ``1.0``), "1 seeds", an escaped newline, a pandas index column (0, 1, 2 as row headers).
_READER_PATTERNS = {
    "Python dict repr": re.compile(r"\{'[^']+': "),
    "plural after 1": re.compile(r"\b1 seeds\b"),
    "escaped newline": re.compile(r"\\n(?=[\s\w'\"])"),
    "index column": re.compile(r"<tr>\s*<th[^>]*>\s*\d+\s*</th>|\|\s*index\s*\|"),
}


def reader_problems(text: str) -> dict[str, list[str]]:
    """What in an HTML page or a Markdown document reads as Python rather than as a table for
    readers (:data:`_READER_PATTERNS`, and count columns (:data:`erc_lib.notebook.COUNT_COLUMNS`)
    holding ``1.0``): kind -> up to 5 examples; ``{}`` when clean. Scripts, styles, embedded images
    and formulas (``$...$``) are not read."""
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
    text = re.sub(r"data:image/[^\"')]+", "", text)
    visible = re.sub(r"\$\$.+?\$\$|\$[^$\n]+\$", "", text, flags=re.S)
    found = {name: [m.group(0) for m in p.finditer(visible)][:5] for name, p in _READER_PATTERNS.items()}
    floats = []
    for table in re.findall(r"<table\b.*?</table>", text, flags=re.S):
        heads = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th\b[^>]*>(.*?)</th>",
                 (re.findall(r"<thead>(.*?)</thead>", table, flags=re.S) or [""])[0], flags=re.S)]
        for row in re.findall(r"<tr\b[^>]*>(.*?)</tr>", (re.findall(r"<tbody>(.*?)</tbody>", table, flags=re.S) or [""])[0],
                              flags=re.S):
            cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", row, flags=re.S)]
            n = min(len(heads), len(cells))  # row headers (an index) come first: align at the right
            floats += [f"{h}: {c}" for h, c in zip(heads[len(heads) - n:], cells[len(cells) - n:])
                       if COUNT_COLUMNS.match(h) and re.fullmatch(r"\d+\.0", c)]
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):  # Markdown tables: a header row, then |---|
        if line.startswith("|") and lines[i + 1].startswith("|---"):
            heads = [h.strip() for h in line.strip("|").split("|")]
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip("|").split("|")]
                floats += [f"{h}: {c}" for h, c in zip(heads, cells) if COUNT_COLUMNS.match(h) and re.fullmatch(r"\d+\.0", c)]
    found["float count"] = floats[:5]
    return {k: v for k, v in found.items() if v}


def _status(info: dict) -> str:
    took = f" in {_duration(info['seconds'])}, finished {info['finished']}" if info.get("seconds") is not None else ""
    error = f" (`{info['error'].replace('`', chr(39))}`)" if info.get("error") else ""
    return f"**{info.get('status', 'not run')}**{took}{error}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def screenshot(html: str | Path, png: str | Path, width: int = 1400, height: int = 3000) -> Path:
    """Render ``html`` in headless Chromium (Debian's ``chromium``) into ``png``.
    Raises ``FileNotFoundError`` when no chromium binary is on PATH, ``CalledProcessError`` on failure."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--screenshot={Path(png).resolve()}",
                        f"--window-size={width},{height}", Path(html).resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return Path(png)


# ---------------------------------------------------------------- front page (99_report)
def load_results(expected: list[str] = ()) -> tuple[dict[str, dict], pd.DataFrame]:
    """Every finished notebook results file ``results/NN_*.json`` (not ``*.previous``), and a table
    (columns results, problem) of files that are incomplete or unreadable and of ``expected``
    names that have no file."""
    results, problems = {}, []
    names = sorted(p.stem for p in results_dir().glob("[0-9][0-9]_*.json") if not p.stem.endswith(".previous"))
    for name in names:
        try:
            results[name] = read_results(name)
        except (IncompleteResultsError, ValueError) as e:
            problems.append({"results": name, "problem": str(e)})
    problems += [{"results": n, "problem": "no results file: its notebook has not run, or failed"}
                 for n in expected if n not in names]
    return results, pd.DataFrame(problems, columns=["results", "problem"])


def _mean_std(d: dict | None) -> str:
    if not d or d.get("mean") is None:
        return "–"
    label = f"{d['variant']}: " if d.get("variant") else ""
    seeds = d.get("n_seeds")
    return f"{label}{d['mean']:.2f} ± {d.get('std') or 0:.2f} (n = {int(seeds) if isinstance(seeds, (int, float)) else '?'})"


#: Optional claim keys shown in the claims table when present: key -> column.
CLAIM_EXTRAS = {"published_size": "published A − B (this dataset)", "detectable_effect": "detectable effect (points)",
                "size_comparable": "size comparable"}


def _shown(value) -> str:
    """A table cell: "–" for a missing value, numbers to 2 decimals, booleans as yes / no."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:+.2f}" if isinstance(value, float) else str(value)


def _claim_extra(claim: dict, key: str) -> str:
    """A claims-table cell for one of :data:`CLAIM_EXTRAS`: the detectable effect as a magnitude,
    "other setting" for a size published on this dataset with other modalities or labels, "other
    dataset" for a size published only elsewhere."""
    value = claim.get(key)
    if key == "published_size" and value is None and claim.get("published_setting_differs"):
        return "other setting"
    if key == "published_size" and value is None and claim.get("published_elsewhere"):
        return "other dataset"
    if key == "detectable_effect" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return _shown(value)


def front_verdicts(payload: dict) -> tuple[pd.DataFrame, str]:
    """The front page's verdict counts and their reading for ``results/claims.json``
    (:func:`erc_lib.claims.collect_claims`): its measured claims *and* the claims no full-size run
    measured (``unmeasured``, verdict "not measured at full size"), so the counts add up to the rows
    of the claims table (:func:`claims_frame` with ``unmeasured=True``). Columns ``verdict``, ``claims``."""
    from .claims import NOT_MEASURED, verdict_summary

    measured, unmeasured = list(payload.get("claims") or []), list(payload.get("unmeasured") or [])
    counts, reading = verdict_summary(measured + unmeasured)
    if unmeasured and not any(c.get("verdict") != NOT_MEASURED for c in measured):
        total = len(measured) + len(unmeasured)
        reading = (f"None of the {total} claims has a verdict: no full-size results file measured them (smoke runs "
                   f"and runs with fewer seeds never give one), so all {total} are counted under "
                   f"\"{NOT_MEASURED}\" and listed in the claims table below. The notebooks' own claims tables "
                   "further down show what a smoke run measured, for checking the code only. For verdicts run "
                   "`python -m erc_lib.report --config configs/full.yaml`.")
    return counts, reading


def claims_frame(payload: dict, unmeasured: bool = False) -> pd.DataFrame:
    """The claims of ``results/claims.json`` (:func:`erc_lib.claims.collect_claims`) as a table
    sorted by paper: paper, claim, dataset, the published figure, ours (row A) and the row it is
    compared with (B), the baseline on the same inputs, A - B with its 95% interval, verdict, reason;
    plus the claim's published size, detectable effect and size comparability where the claims
    carry them ("–" otherwise). Papers by their one display name (:func:`erc_lib.published.display_name`).
    ``unmeasured``: also one row per claim no full-size run measured (``payload["unmeasured"]``)."""
    from .published import cited, display_name

    rows = []
    extra = [k for k in CLAIM_EXTRAS if any(k in c for c in payload.get("claims", []))]
    for c in payload.get("claims", []):
        comp = c.get("comparison") or {}
        published = cited(c.get("published") or "–")
        diff = "–" if comp.get("difference") is None else \
            f"{comp['difference']:+.2f} [{comp.get('ci_low', float('nan')):+.2f}, {comp.get('ci_high', float('nan')):+.2f}]"
        rows.append({"paper": display_name(c.get("paper")), "claim": c.get("text"), "dataset": c.get("dataset"),
                     "published": published, "ours (A)": _mean_std(c.get("ours")), "compared with (B)": _mean_std(c.get("other")),
                     "baseline (same inputs)": _mean_std(c.get("baseline")), "A − B [95% CI]": diff,
                     **{CLAIM_EXTRAS[k]: _claim_extra(c, k) for k in extra},
                     "verdict": c.get("verdict"), "reason": c.get("reason")})
    for c in (payload.get("unmeasured") or []) if unmeasured else []:
        rows.append({"paper": display_name(c.get("paper")), "claim": c.get("claim"), "dataset": "–", "published": "–",
                     "ours (A)": "–", "compared with (B)": "–", "baseline (same inputs)": "–", "A − B [95% CI]": "–",
                     **{CLAIM_EXTRAS[k]: "–" for k in extra}, "verdict": c.get("verdict"),
                     "reason": f"no complete full-size results file measured it (notebook {c.get('notebook')})"})
    return pd.DataFrame(rows).sort_values("paper", kind="stable").reset_index(drop=True) if rows else pd.DataFrame()


def style_table(df: pd.DataFrame, verdict_colours: bool = False):
    """A Styler without the index, numbers to 2 decimals, left-aligned; with ``verdict_colours``
    the ``verdict`` cells get a background per verdict (a second cue beside the word)."""
    df = reader_frame(df)
    styler = df.style.hide(axis="index").format(precision=2, na_rep="–").set_properties(**{"text-align": "left"})
    styler = styler.set_table_styles([{"selector": "th", "props": "text-align: left"}])
    if verdict_colours and "verdict" in df:
        styler = styler.map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, 'white')}", subset=["verdict"])
    return styler


_ROW_FIELDS = {"dataset", "model", "variant", "seed", "split", "weighted_f1", "accuracy", "macro_f1", "per_class_f1",
               "best_epoch", "seconds", "train_utterances_per_second"}


def measured_table(payload: dict) -> pd.DataFrame:
    """Test weighted F1 (and accuracy) mean ± std over seeds per dataset / model / variant, split
    further by the fewest extra row keys (e.g. ``window``) that make each seed appear once per row;
    an empty frame when the file has no test rows with seeds."""
    rows = [r for r in payload.get("rows", []) if r.get("split") == "test" and "weighted_f1" in r and "seed" in r]
    if not rows:
        return pd.DataFrame()
    scalar = {k for r in rows for k, v in r.items() if k not in _ROW_FIELDS and isinstance(v, (int, float, str))}
    df = pd.DataFrame([{**r, **{k: "–" for k in ("dataset", "model", "variant", *scalar) if r.get(k) is None}}
                       for r in rows])
    keys = ["dataset", "model", "variant"]
    for k in sorted(scalar, key=lambda k: (df[k].nunique(), k)):  # settings first, per-seed numbers last
        if df.duplicated([*keys, "seed"]).sum() > df.duplicated([*keys, k, "seed"]).sum():
            keys.append(k)
    metrics = ("weighted_f1", "accuracy") if all("accuracy" in r for r in rows) else ("weighted_f1",)
    out = summarize(df.to_dict("records"), by=tuple(keys), metrics=metrics)
    return out[[*keys, *metrics, "n_seeds"]].rename(
        columns={"weighted_f1": "test weighted F1", "accuracy": "test accuracy", "n_seeds": "seeds"})


def figure_files(names: list[str]) -> dict[str, list[Path]]:
    """The PNGs of ``figures_dir()`` per results name: a figure belongs to the longest name it
    starts with, else to the first name with its number prefix (``05_window`` -> ``05_emonet``)."""
    out = {n: [] for n in names}
    for png in sorted(figures_dir().glob("*.png")):
        direct = [n for n in names if png.stem == n or png.stem.startswith(n + "_")]
        same = sorted(n for n in names if n.split("_")[0] == png.stem.split("_")[0])
        owner = max(direct, key=len) if direct else (same[0] if same else None)
        if owner:
            out[owner].append(png)
    return out


def selection_inflation(results: dict[str, dict], prefixes: tuple[str, ...] = TEST_SELECTED):
    """Test-set epoch selection, measured from the saved histories of the results whose names
    start with ``prefixes``: per seed, test weighted F1 at the dev-selected epoch (the row's
    ``best_epoch``) vs the best test epoch. Returns (per-seed table, mean per results/variant)."""
    rows = []
    for name, payload in sorted(results.items()):
        if not name.startswith(prefixes):
            continue
        tests = [r for r in payload.get("rows", []) if r.get("split") == "test"]
        for key, history in (payload.get("histories") or {}).items():
            parts = key.split("|")
            dataset, variant, seed = (parts[0] if len(parts) == 3 else None), parts[-2], int(parts[-1])
            row = next((r for r in tests if r.get("variant") == variant and r.get("seed") == seed
                        and dataset in (None, r.get("dataset"))), None)
            epochs = [h for h in history if h.get("test_weighted_f1") is not None]
            chosen = next((h for h in epochs if row and h.get("epoch") == row.get("best_epoch")), None)
            if chosen is None:
                continue
            top = max(epochs, key=lambda h: h["test_weighted_f1"])
            rows.append({"results": name, "dataset": dataset or row.get("dataset"), "variant": variant, "seed": seed,
                         "dev-selected epoch": chosen["epoch"], "test wF1, dev-selected": chosen["test_weighted_f1"],
                         "best test epoch": top["epoch"], "test wF1, test-selected": top["test_weighted_f1"],
                         "inflation": top["test_weighted_f1"] - chosen["test_weighted_f1"]})
    per_seed = pd.DataFrame(rows)
    if per_seed.empty:
        return per_seed, per_seed
    mean = per_seed.groupby(["results", "dataset", "variant"], sort=False).agg(
        **{"test wF1, dev-selected": ("test wF1, dev-selected", "mean"),
           "test wF1, test-selected": ("test wF1, test-selected", "mean"),
           "mean inflation": ("inflation", "mean"), "seeds": ("seed", "nunique")}).reset_index()
    return per_seed, mean


def plot_inflation(mean: pd.DataFrame):
    """Horizontal bars of the mean inflation per results / variant; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(mean) + 1.6))
    ax.barh([f"{r.results} · {r.variant}" for r in mean.itertuples()], mean["mean inflation"], color="#888")
    ax.set_xlabel("test weighted F1 gained by choosing the epoch on test (points, mean over seeds)")
    ax.set_ylabel("results file and variant")
    ax.set_title("Test-set epoch selection: how much it would add to each reported score")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def published_vs_ours(results: dict[str, dict]) -> pd.DataFrame:
    """Every published number beside our closest row (:data:`erc_lib.published.COUNTERPARTS`),
    sorted by paper: published weighted F1, ours (mean ± std over seeds, dev-selected), the gap
    and why they differ (:data:`erc_lib.published.GAP_REASONS`); "not run" where the results
    file is missing."""
    from .published import COUNTERPARTS, GAP_REASONS, cited, display_name, published_table

    rows = []
    for _, pub in published_table().iterrows():
        file, dataset, variant, *match = COUNTERPARTS.get((pub.source, pub.dataset, pub.variant), (None, None, None))
        where = {"split": "test", "dataset": dataset, "variant": variant, **(match[0] if match else {})}
        ours = None
        if file in results:
            scores = [r["weighted_f1"] for r in results[file]["rows"] if all(r.get(k) == v for k, v in where.items())]
            ours = (float(pd.Series(scores).mean()), float(pd.Series(scores).std(ddof=1)) if len(scores) > 1 else 0.0,
                    len(scores)) if scores else None
        rows.append({"paper": display_name(pub.source), "source": cited(f"[{pub.source}] {pub.note}"),
                     "dataset": pub.dataset, "published variant": pub.variant,
                     "published weighted F1": pub.weighted_f1,
                     "ours": f"{ours[0]:.2f} ± {ours[1]:.2f} ({ours[2]} seed{'' if ours[2] == 1 else 's'})" if ours else
                     ("no counterpart" if file is None else "not run"),
                     "our row": f"{file}: {variant}" if file else "",
                     "gap (ours − published)": round(ours[0] - pub.weighted_f1, 2) if ours and pub.weighted_f1 else None,
                     "why they differ": GAP_REASONS.get(pub.source, "") if file else ""})
    return pd.DataFrame(rows).sort_values(["paper", "dataset"], kind="stable").reset_index(drop=True)


def provenance_table(results: dict[str, dict]) -> pd.DataFrame:
    """Per results file: device, start / end dates, wall time, parameters and package versions."""
    rows = []
    for name, p in sorted(results.items()):
        env, wall = p.get("environment") or {}, p.get("wall_seconds")
        packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
        rows.append({"results": name, "device": p.get("device") or (p.get("parameters") or {}).get("device"),
                     "GPU": env.get("cuda_device") or "–", "started": p.get("started"), "written": p.get("written"),
                     "wall time": "–" if wall is None else _duration(wall),
                     "parameters": ", ".join(f"{k}={_param_text(v)}" for k, v in (p.get("parameters") or {}).items()),
                     "environment": f"Python {env.get('python', '?')}; {packages}"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- docs/results.md
REFERENCE_DIR = REPO_ROOT / "results" / "reference"
RESULTS_DOC = REPO_ROOT / "docs" / "results.md"


def _fit_counts(counts: dict | None) -> str:
    """``"40 / 0"`` (fits read back from the fit cache / trained) from a results file's ``fit_cache``."""
    if not counts:
        return "–"
    return f"{int(counts.get('hit', 0))} / {int(counts.get('trained', 0)) + int(counts.get('uncached', 0))}"


def results_markdown(reference: str | Path = REFERENCE_DIR) -> str:
    """``docs/results.md``: every measured table of the results files in ``reference`` (the
    full-size runs), with where and how each was measured (machine, threads, load, wall time):
    the claims, the measured tables per results file, published numbers beside ours, test-set
    selection and, when ``bench.json`` is there, the benchmark's tables."""
    from .bench import tables as bench_tables

    reference = Path(reference)
    results = {}
    for path in sorted(reference.glob("[0-9][0-9]_*.json")):
        payload = json.loads(path.read_text())
        if payload.get("status") == "complete":
            results[path.stem] = payload
    where = _shown_path(reference)
    full = yaml.safe_load((REPO_ROOT / "configs" / "full.yaml").read_text()) if (REPO_ROOT / "configs" / "full.yaml").exists() else {}
    out = [f"# What we measured\n\n*Generated by `python -m erc_lib.report` from `{where}/` (the full-size runs); "
           "do not edit by hand: a report run rewrites it.* Test weighted F1 (percent) at the epoch chosen on dev, "
           "mean ± std over seeds; published numbers come only from `erc_lib/published.py` (references: the report's "
           "front page).\n"]
    prov = []
    for name, p in results.items():
        env, params = p.get("environment") or {}, p.get("parameters") or {}
        torch_v = (env.get("packages") or {}).get("torch", "?")
        prov.append({"results": f"`{name}.json`", "device": p.get("device") or params.get("device"),
                     "machine": f"{env.get('platform', '?')}; Python {env.get('python', '?')}; torch {torch_v}",
                     "torch threads": env.get("cpu_threads", params.get("cpu_threads", "–")),
                     "smoke": "yes" if params.get("smoke") else "no", "started": p.get("started"),
                     "wall time": "–" if p.get("wall_seconds") is None else _duration(p["wall_seconds"]),
                     "fits read back / trained": _fit_counts(p.get("fit_cache"))})
    jobs = full.get("jobs", 1)
    out += ["## Where and how it was measured\n",
            f"Load: the report ran its notebooks {jobs} at a time (`configs/full.yaml`, `jobs: {jobs}`), each with the "
            "torch threads below, on the machine named; a wall time is that notebook's own, measured under that load. "
            "A notebook whose fits were read back from the fit cache (`erc_lib.fitcache`) took seconds: its wall time "
            "is not a training time (training every fit: docs/findings.md, docs/teaching.md).\n",
            markdown_table(pd.DataFrame(prov)), ""]
    claims_path = reference / "claims.json"
    if claims_path.exists():
        claims = claims_frame(json.loads(claims_path.read_text()))
        if not claims.empty:
            cols = [c for c in ("paper", "claim", "dataset", "published", "A − B [95% CI]", "verdict") if c in claims]
            out += ["## The claims\n", markdown_table(claims[cols]), ""]
        claims_cv = json.loads(claims_path.read_text()).get("claims_cv", [])
        out += ["## The claims on every dialogue (cross-validation)\n", cv_reading(claims_cv) + "\n"]
        if claims_cv:
            out += [markdown_table(power_table(claims_cv)), ""]
    drift = code_drift(results)
    out += ["## Which code computed them\n",
            ("Every results file records the training-code hash of this checkout (`erc_lib.fitcache.code_hash`)."
             if drift.empty else "These results files were computed by other training code than this checkout's "
             "(their recorded code hash differs, or they record none): rerunning them would not give the same "
             "numbers.\n\n" + markdown_table(drift)), ""]
    side_by_side = default_vs_tuned(results)
    if not side_by_side.empty:
        out += ["## Default against tuned settings (validation and test)\n",
                "Each tuned model beside its default settings: validation weighted F1 from the tuned file (the same "
                "fits for both), test weighted F1 mean ± std over seeds from the rows a notebook ran both ways.\n",
                markdown_table(side_by_side), ""]
    out += ["## Measured, per results file\n"]
    for name, payload in results.items():
        table = measured_table(payload)
        if not table.empty:
            out += [f"### {name}\n", markdown_table(table), ""]
    out += ["## Published numbers beside ours\n", markdown_table(published_vs_ours(results).drop(columns=["why they differ"])), ""]
    _, mean = selection_inflation(results)
    if not mean.empty:
        out += ["## Test-set selection, measured\n", "Mean over seeds of the test weighted F1 gained by choosing "
                "the epoch on test instead of dev.\n", markdown_table(mean.round(2)), ""]
    bench = reference / "bench.json"
    if bench.exists():
        report_ = json.loads(bench.read_text())
        header = {k: v for k, v in report_.items() if not isinstance(v, (list, dict))}
        out += ["## Performance (`python -m erc_lib.bench`)\n",
                "Measured as recorded in `bench.json`: " + ", ".join(f"{k} {v}" for k, v in header.items()) + ".\n"]
        for title, table in bench_tables(report_).items():
            out += [f"### {title.replace('_', ' ')}\n", markdown_table(table), ""]
    return "\n".join(out).rstrip() + "\n"


def write_results_doc(reference: str | Path = REFERENCE_DIR, path: str | Path = RESULTS_DOC) -> bool:
    """Write :func:`results_markdown` to ``path`` when its content changed; returns whether it wrote."""
    path, text = Path(path), results_markdown(reference)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring). Returns 0 when every run succeeded, 1 when
    one failed, 2 for a config error (printed before any work)."""
    ap = argparse.ArgumentParser(prog="python -m erc_lib.report", description=__doc__.split("\n\n")[0])
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
        print(f"{args.results_doc}: {'regenerated' if wrote else 'unchanged'} from {_shown_path(REFERENCE_DIR)}/")
    failed = [r.name for r in runs if state.get(r.name, {}).get("status") == "failed"]
    counts = [state.get(r.name, {}).get("fit_cache") for r in runs if state.get(r.name, {}).get("finished", "") >= started]
    counts = [c for c in counts if c]
    if counts:
        hit, fits = sum(c["hit"] for c in counts), sum(sum(c.values()) for c in counts)
        print(f"fit cache: {hit} of {fits} fits read back ({100 * hit / max(fits, 1):.0f}%) in the {len(counts)} runs executed")
    print(f"report: {html} ({len(runs)} runs, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}; "
          f"{_duration(time.perf_counter() - t0)})")
    unreadable = reader_problems(html.read_text(encoding="utf-8"))
    for what, examples in unreadable.items():
        print(f"report: {what} in the page, e.g. {examples[0]!r} (a table must read as text, not as Python)")
    if args.screenshot:
        print(f"screenshot: {screenshot(html, args.screenshot)}")
    return 1 if failed or unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
