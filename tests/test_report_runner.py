"""The report's runner (erc_lib.report.runner) on tiny throw-away notebooks: fingerprints, success,
failure, skip-unchanged, resume, two at once, fit-cache counts and a failed run's error lines."""
from __future__ import annotations

import json
import re

import pytest
from papermill.exceptions import PapermillExecutionError

from erc_lib.report import runner
from erc_lib.report.cli import main
from erc_lib.report.config import Run
from erc_lib.report.html import anchor
from erc_lib.report.runner import error_lines, fingerprint
from report_sandbox import (fake_results, full_size_folders, run_main, sandbox, write_config,  # noqa: F401 (fixtures)
                            write_notebook)


def test_fingerprint_follows_inputs(sandbox):
    nb = sandbox / "notebooks" / "01_ok.ipynb"
    run = Run("01_ok", {"x": 1}, "01_ok")
    base = fingerprint(run, nb)
    assert fingerprint(Run("01_ok", {"x": 1}, "01_ok"), nb) == base
    assert fingerprint(Run("01_ok", {"x": 2}, "01_ok"), nb) != base
    (sandbox / "code.py").write_text("A = 2\n")
    assert fingerprint(run, nb) != base
    base = fingerprint(run, nb)
    (sandbox / "data" / "d.txt").write_text("more data")
    assert fingerprint(run, nb) != base


@pytest.mark.slow
def test_failure_is_reported_others_run_and_html_is_clean(sandbox, capsys):
    fake_results(sandbox / "results")
    config = write_config(sandbox, [{"notebook": "02_fail", "parameters": {"fail": True}},
                                    {"notebook": "01_ok", "parameters": {"x": 2}}, {"notebook": "99_report"}])
    assert run_main(sandbox, config) == 1
    out = capsys.readouterr().out
    assert "02_fail: failed in" in out and "ValueError: boom" in out and "01_ok: ok in" in out
    state = json.loads((sandbox / "reports" / "state.json").read_text())
    assert state["02_fail"]["status"] == "failed" and state["02_fail"]["fingerprint"] is None
    assert state["01_ok"]["status"] == state["99_report"]["status"] == "ok"
    html = (sandbox / "reports" / "report.html").read_text()
    assert "42 cpu" in html and "before the error" in html  # outputs, the device injected
    for absent in ("x * 21", "import sys", "noise on stderr", "Traceback", "papermill-error-cell"):
        assert absent not in html, absent
    assert "This notebook failed: ValueError: boom" in html
    # front page first, then the notebooks in reading order (01 before 02, whatever the config order)
    assert html.index("Claims") < html.index("42 cpu") < html.index("before the error")
    assert html.index('id="top"') < html.index('id="Contents"') < html.index("1 · Claims")  # contents first
    for run in ("01_ok", "02_fail"):  # a contents link and an anchor per notebook, a way back per section
        assert f'href="#{anchor(run)}"' in html and f'id="{anchor(run)}"' in html
    assert html.count('href="#top"') == 2 and f'href="#{anchor("front-references")}"' in html
    assert "ran with: fail=True · " in html  # the header shows the parameters the run was given
    assert "SDT beats its no-distillation variant" in html and "background-color: #d4edda" in html
    assert "05_emonet" in html and "no results file" in html  # incomplete and expected-but-missing listed
    assert re.search(r'<img[^>]+src="data:image/png;base64', html)  # the inflation plot, embedded


@pytest.mark.slow
def test_interrupted_run_resumes_and_unchanged_runs_are_skipped(sandbox, monkeypatch, capsys):
    config = write_config(sandbox, [{"notebook": "01_ok", "parameters": {"x": 2}},
                                    {"notebook": "02_fail", "parameters": {"fail": False}}])
    real = runner.pm.execute_notebook

    def stop_at_second(path, *args, **kwargs):
        if "02_fail" in str(path):
            raise KeyboardInterrupt  # the runner is stopped in the middle of the second run
        return real(path, *args, **kwargs)

    monkeypatch.setattr(runner.pm, "execute_notebook", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        run_main(sandbox, config)
    state = json.loads((sandbox / "reports" / "state.json").read_text())
    assert state["01_ok"]["status"] == "ok" and state["02_fail"]["status"] == "running"
    monkeypatch.setattr(runner.pm, "execute_notebook", real)
    capsys.readouterr()
    assert run_main(sandbox, config) == 0
    out = capsys.readouterr().out
    assert "01_ok: skipped" in out and "02_fail: ok in" in out
    assert run_main(sandbox, config) == 0
    assert capsys.readouterr().out.count("skipped") == 2
    (sandbox / "reports" / "01_ok.ipynb").unlink()  # the executed notebook is gone: rerun
    (sandbox / "code.py").write_text("A = 2\n")  # the library changed: rerun
    assert run_main(sandbox, config, "--only", "01") == 0
    out = capsys.readouterr().out
    assert "01_ok: ok in" in out and "02_fail" not in out.split("report:")[0]


def test_runner_logs_the_fit_cache_counts_each_run_wrote(sandbox, capsys):
    """Each executed run's log line and state entry carry the fit-cache counts of the results JSON it
    wrote; the command ends with the total; a skipped run (nothing changed) adds nothing."""
    write_notebook(sandbox / "notebooks" / "03_cached.ipynb", "n = 1  # a number",
                   "import json, os, pathlib\n"
                   "path = pathlib.Path(os.environ['ERC_RESULTS_DIR']) / '03_cached.json'\n"
                   "path.write_text(json.dumps({'fit_cache': {'hit': 3, 'trained': 1, 'uncached': 0}}))")
    config = write_config(sandbox, [{"notebook": "03_cached"}, {"notebook": "01_ok"}])
    assert run_main(sandbox, config) == 0
    out = capsys.readouterr().out
    assert "03_cached: ok in" in out and "(fit cache: 3 fits read back, 1 trained)" in out
    assert "fit cache: 3 of 4 fits read back (75%) in the 1 runs executed" in out
    state = json.loads((sandbox / "reports" / "state.json").read_text())
    assert state["03_cached"]["fit_cache"] == {"hit": 3, "trained": 1, "uncached": 0}
    assert state["01_ok"]["fit_cache"] is None                  # wrote no results JSON
    assert run_main(sandbox, config) == 0
    out = capsys.readouterr().out
    assert "03_cached: skipped" in out and "fit cache:" not in out


@pytest.mark.slow
def test_two_jobs_with_a_relative_out_folder_write_every_notebook_there(sandbox, monkeypatch):
    """papermill changes the process's working directory while a notebook runs: with two at once a
    relative --out must still receive every executed notebook and the state of every run."""
    monkeypatch.chdir(sandbox)
    config = write_config(sandbox, [{"notebook": "01_ok", "parameters": {"x": 1}, "name": "a"},
                                    {"notebook": "01_ok", "parameters": {"x": 2}, "name": "b"},
                                    {"notebook": "01_ok", "parameters": {"x": 3}, "name": "c"}, {"notebook": "99_report"}])
    assert main(["--config", str(config), "--notebooks-dir", str(sandbox / "notebooks"), "--out", "out",
                 "--jobs", "2", "--results-doc", str(sandbox / "results.md")]) == 0
    state = json.loads((sandbox / "out" / "state.json").read_text())
    assert {k for k, v in state.items() if v["status"] == "ok"} == {"a", "b", "c", "99_report"}
    assert {p.stem for p in (sandbox / "out").glob("*.ipynb")} == {"a", "b", "c", "99_report"}
    assert not list((sandbox / "notebooks").glob("out"))


def test_error_lines_put_the_notebooks_message_first():
    tb = ["\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
          "\x1b[0;31mParameterError\x1b[0m  Traceback (most recent call last)", "Cell In[3], line 7",
          "----> 7 nb = start('03_sdt', globals())", "File notebook.py:239, in validate(notebook, params)",
          "\x1b[0;31mParameterError\x1b[0m: 03_sdt: bad parameters:\n  - dataset='x' is not allowed"]
    error = PapermillExecutionError(3, 3, "src", "ParameterError", "03_sdt: bad parameters:\n  - dataset='x' is not allowed", tb)
    first, trace = error_lines(error)
    assert first == "ParameterError: 03_sdt: bad parameters:"
    assert trace[0] == "  - dataset='x' is not allowed" and len(trace) <= 1 + 4
    assert all("\x1b" not in line for line in trace) and trace[-1].startswith("File notebook.py:239")
    assert error_lines(ValueError("plain"))[0] == "ValueError: plain"
