"""The report page: executed notebooks merged into one self-contained HTML file (:func:`build_html`),
MathJax inlined for offline reading, the reader checks of a page and its screenshot."""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import tempfile
from importlib.resources import files
from pathlib import Path

import nbformat
import yaml

from ..notebook import RUN_MIME
from ..published import citation_keys, cited, references_markdown
from ..tables import COUNT_COLUMNS
from .config import REPORT_NOTEBOOK, Run
from .runner import duration_text

_WIDGET = "application/vnd.jupyter.widget-view+json"
_MPL_REPR = re.compile(r"<(Figure size|matplotlib\.|Axes)")  # text-only reprs a figure cell leaves behind


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
    shown = ", ".join(f"{k}={param_text(effective.get(k, v))}" for k, v in passed.items()) or "the notebook's defaults"
    changed = {k: v for k, v in effective.items() if k not in passed and k in defaults and defaults[k] != v}
    label = "smoke sizes" if effective.get("smoke") else "changed"
    return shown + (f"; {label}: " + ", ".join(f"{k}={param_text(v)}" for k, v in changed.items()) if changed else "")


def param_text(value) -> str:
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
    from nbconvert import HTMLExporter  # optional heavy dependency: only rendering the page needs it

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


def _float_counts(rows: list[list[tuple[str, str]]]) -> list[str]:
    """``"head: cell"`` for each whole number written as a float (``5.0``) in a count column
    (:data:`erc_lib.tables.COUNT_COLUMNS`) of a table given as rows of (head, cell), unless the column
    also holds a fraction (``10.2``): then it is a column of means over seeds, where ``9.0`` is a mean."""
    cells: dict[str, list[str]] = {}
    for row in rows:
        for head, cell in row:
            if COUNT_COLUMNS.match(head):
                cells.setdefault(head, []).append(cell)
    return [f"{head}: {c}" for head, column in cells.items()
            if not any(re.fullmatch(r"\d+\.\d*[1-9]\d*", c) for c in column)
            for c in column if re.fullmatch(r"\d+\.0", c)]


def reader_problems(text: str) -> dict[str, list[str]]:
    """What in an HTML page or a Markdown document reads as Python rather than as a table for
    readers (:data:`_READER_PATTERNS`, and count columns (:data:`erc_lib.tables.COUNT_COLUMNS`)
    holding ``1.0`` where no cell of the column is a fraction, :func:`_float_counts`): kind -> up to 5
    examples; ``{}`` when clean. Scripts, styles, embedded images
    and formulas (``$...$``) are not read."""
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
    text = re.sub(r"data:image/[^\"')]+", "", text)
    visible = re.sub(r"\$\$.+?\$\$|\$[^$\n]+\$", "", text, flags=re.S)
    found = {name: [m.group(0) for m in p.finditer(visible)][:5] for name, p in _READER_PATTERNS.items()}
    floats = []
    for table in re.findall(r"<table\b.*?</table>", text, flags=re.S):
        heads = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th\b[^>]*>(.*?)</th>",
                 (re.findall(r"<thead>(.*?)</thead>", table, flags=re.S) or [""])[0], flags=re.S)]
        rows = []
        for row in re.findall(r"<tr\b[^>]*>(.*?)</tr>", (re.findall(r"<tbody>(.*?)</tbody>", table, flags=re.S) or [""])[0],
                              flags=re.S):
            cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", row, flags=re.S)]
            n = min(len(heads), len(cells))  # row headers (an index) come first: align at the right
            rows.append(list(zip(heads[len(heads) - n:], cells[len(cells) - n:])))
        floats += _float_counts(rows)
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):  # Markdown tables: a header row, then |---|
        if line.startswith("|") and lines[i + 1].startswith("|---"):
            heads = [h.strip() for h in line.strip("|").split("|")]
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(list(zip(heads, [c.strip() for c in row.strip("|").split("|")])))
            floats += _float_counts(rows)
    found["float count"] = floats[:5]
    return {k: v for k, v in found.items() if v}


def _status(info: dict) -> str:
    took = f" in {duration_text(info['seconds'])}, finished {info['finished']}" if info.get("seconds") is not None else ""
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
