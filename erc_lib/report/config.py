"""The report's configuration: the YAML file of runs (:func:`load_config`), its validation against the
notebooks' ``parameters`` cells, ``--only`` selection and the front page's opening lines."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import papermill as pm
import yaml

from ..notebook import NOTEBOOKS, parameter_problems, result_name, setting_hint
from ..paths import REPO_ROOT, results_dir
from ..runtime import resolve_device

REPORT_NOTEBOOK = "99_report"


class ConfigError(ValueError):
    """The report config is missing or wrong (unknown notebook, unknown parameter, bad value)."""


@dataclass
class Run:
    """One notebook execution of the config: ``name`` names ``<out>/<name>.ipynb``."""

    notebook: str
    parameters: dict = field(default_factory=dict)
    name: str = ""


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
        resolve_device(device)  # a clear DeviceError now, not in every notebook
    for run in runs:
        front_params = notebook_parameters(notebooks_dir / f"{run.notebook}.ipynb") if run.notebook == REPORT_NOTEBOOK else {}
        if "expected" in front_params:
            run.parameters.setdefault("expected", [r.name for r in runs if r.notebook != REPORT_NOTEBOOK])
        if "config" in front_params:  # the front page names the configuration that produced it
            run.parameters.setdefault("config", shown_path(path))
    return [r for r in runs if r.notebook != REPORT_NOTEBOOK] + [r for r in runs if r.notebook == REPORT_NOTEBOOK]


def shown_path(path: Path) -> str:
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
             f"{shown_path(results_dir())}/`." if config else
             f"**Produced by** running this notebook on its own, from the results in `{shown_path(results_dir())}/`."]
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
