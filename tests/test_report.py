"""The report runner (erc_lib.report): config validation against the real notebooks, the runner
on tiny throw-away notebooks (success, failure, skip-unchanged, resume, HTML), and the front
page's tables on fake results files."""
from __future__ import annotations

import json
import os
import re
import shutil

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import papermill_refusal
from erc_lib import report
from erc_lib.claims import collect_claims
from erc_lib.paths import REPO_ROOT, write_json

CONFIGS = ("smoke", "full", "gpu")
NOTEBOOKS = REPO_ROOT / "notebooks"


@pytest.fixture(autouse=True)
def full_size_folders(monkeypatch):
    """These tests write and read results where a full-size run does (the folders they set), not
    the smoke sub-folders the rest of the suite uses."""
    from erc_lib import paths

    monkeypatch.setattr(paths, "_smoke_folders", False, raising=False)


# ---------------------------------------------------------------- the real configs
@pytest.mark.parametrize("name", CONFIGS)
def test_config_names_only_real_parameters(name):
    """Every key of configs/<name>.yaml is a parameter of its notebook (papermill only warns)."""
    runs = report.load_config(REPO_ROOT / "configs" / f"{name}.yaml", NOTEBOOKS, device="cpu")
    for run in runs:
        names = report.notebook_parameters(NOTEBOOKS / f"{run.notebook}.ipynb")
        assert set(run.parameters) <= set(names), (run.name, set(run.parameters) - set(names))
    assert runs[-1].notebook == report.REPORT_NOTEBOOK


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_cover_every_notebook(name):
    config = yaml.safe_load((REPO_ROOT / "configs" / f"{name}.yaml").read_text())
    numbered = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert {r["notebook"] for r in config["runs"]} == numbered
    if name == "smoke":
        for r in config["runs"]:
            if "smoke" in report.notebook_parameters(NOTEBOOKS / f"{r['notebook']}.ipynb"):
                assert r["parameters"].get("smoke") is True, r
    assert config["device"] == ("cuda" if name == "gpu" else "cpu")


# ---------------------------------------------------------------- tiny notebooks
def _notebook(path, parameters: str, body: str):
    nb = new_notebook(cells=[new_markdown_cell(f"# {path.stem}"),
                             new_code_cell(parameters, metadata={"tags": ["parameters"]}), new_code_cell(body)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def _full_size_folders(monkeypatch) -> None:
    """Read and write the full-size results folders, as a full report does (CI sets ERC_SMOKE=1,
    which would send this process and the kernels it starts to the smoke folders)."""
    from erc_lib.paths import use_smoke_folders

    monkeypatch.delenv("ERC_SMOKE", raising=False)
    use_smoke_folders(False)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Tiny notebooks, a data folder, a stand-in code file, empty results/figures folders."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_ok.ipynb", 'x = 1  # a number\ndevice = "auto"',
              'import sys\nprint("output:", x * 21, device)\nprint("noise on stderr", file=sys.stderr)')
    _notebook(nbs / "02_fail.ipynb", "fail = True  # raise when True, x = 1 is not parsed by papermill",
              'print("before the error")\nif fail:\n    raise ValueError("boom")')
    shutil.copy(NOTEBOOKS / "99_report.ipynb", nbs / "99_report.ipynb")
    for name in ("data", "results", "figures"):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(f"ERC_{name.upper()}_DIR", str(tmp_path / name))
    (tmp_path / "data" / "d.txt").write_text("data")
    monkeypatch.setenv("ERC_PROGRESS", "off")  # restored after the test (the runner sets it to text)
    _full_size_folders(monkeypatch)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as in CI: the runner must drop it, or figures vanish
    code = tmp_path / "code.py"
    code.write_text("A = 1\n")
    monkeypatch.setattr(report, "code_files", lambda: [code])
    return tmp_path


def _config(tmp_path, runs, device="cpu"):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"device": device, "runs": runs}))
    return path


def _main(sandbox, config, *extra):
    return report.main(["--config", str(config), "--notebooks-dir", str(sandbox / "notebooks"),
                        "--out", str(sandbox / "reports"), *extra])


def test_unknown_parameter_notebook_and_config_are_clear_errors(sandbox):
    nbs = sandbox / "notebooks"
    assert report.notebook_parameters(nbs / "02_fail.ipynb") == {"fail": "True"}  # comment with '=' still parsed
    bad = _config(sandbox, [{"notebook": "01_ok", "parameters": {"x": 2, "y": 3, "z": 4}},
                            {"notebook": "02_fail", "parameters": {"fial": False}}])
    with pytest.raises(report.ConfigError) as e:
        report.load_config(bad, nbs)
    assert "run 1 (01_ok): unknown ['y', 'z']" in str(e.value) and "run 2 (02_fail): unknown ['fial']" in str(e.value)
    with pytest.raises(report.ConfigError, match="no notebook"):
        report.load_config(_config(sandbox, [{"notebook": "07_nope"}]), nbs)
    with pytest.raises(report.ConfigError, match="does not exist"):
        report.load_config(sandbox / "missing.yaml", nbs)
    with pytest.raises(report.ConfigError, match="same report"):
        report.load_config(_config(sandbox, [{"notebook": "01_ok"}, {"notebook": "01_ok", "parameters": {"x": 3}}]), nbs)
    assert _main(sandbox, bad) == 2 and not (sandbox / "reports").exists()  # nothing ran


def test_config_device_order_and_only(sandbox):
    nbs = sandbox / "notebooks"
    config = _config(sandbox, [{"notebook": "99_report"}, {"notebook": "01_ok", "parameters": {"x": 2}},
                               {"notebook": "02_fail", "parameters": {}}])
    runs = report.load_config(config, nbs, device="auto")
    assert [r.name for r in runs] == ["01_ok", "02_fail", "99_report"]
    assert runs[0].parameters == {"x": 2, "device": "auto"} and runs[1].parameters == {}  # only where it exists
    assert runs[2].parameters == {"expected": ["01_ok", "02_fail"], "config": "config.yaml"}  # outside the repo: its name
    assert [r.name for r in report.select_runs(runs, "02")] == ["02_fail", "99_report"]
    with pytest.raises(report.ConfigError, match="match no run"):
        report.select_runs(runs, "04")


def test_values_checked_and_runs_named_as_their_results(tmp_path):
    bad = _config(tmp_path, [{"notebook": "03_sdt", "parameters": {"dataset": "mosi", "seeds": "3"}}])
    with pytest.raises(report.ConfigError, match="seeds='3' is a str"):
        report.load_config(bad, NOTEBOOKS)
    good = _config(tmp_path, [{"notebook": "03_sdt", "parameters": {"dataset": "meld"}}, {"notebook": "03_sdt"}])
    default = report.notebook_parameters(NOTEBOOKS / "03_sdt.ipynb")["dataset"].strip("'\"")
    assert [r.name for r in report.load_config(good, NOTEBOOKS)] == ["03_sdt_meld", f"03_sdt_{default}"]  # its default


def test_clean_cells_drops_errors_stderr_widgets_and_figure_reprs():
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="kept"),
               nbformat.v4.new_output("stream", name="stderr", text="100%|####| 3/3"),
               nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["tb"]),
               nbformat.v4.new_output("display_data", data={"text/plain": "HBox()", report._WIDGET: {}}),
               nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 640x480 with 1 Axes>"},
                                      execution_count=1),
               nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 1>", "image/png": "iVBO"},
                                      execution_count=2)]
    cells = report._clean_cells([new_code_cell("x", outputs=outputs)])
    assert [o.get("text") or o.get("data", {}).get("image/png") for o in cells[0].outputs] == ["kept", "iVBO"]


def test_fingerprint_follows_inputs(sandbox):
    nb = sandbox / "notebooks" / "01_ok.ipynb"
    run = report.Run("01_ok", {"x": 1}, "01_ok")
    base = report.fingerprint(run, nb)
    assert report.fingerprint(report.Run("01_ok", {"x": 1}, "01_ok"), nb) == base
    assert report.fingerprint(report.Run("01_ok", {"x": 2}, "01_ok"), nb) != base
    (sandbox / "code.py").write_text("A = 2\n")
    assert report.fingerprint(run, nb) != base
    base = report.fingerprint(run, nb)
    (sandbox / "data" / "d.txt").write_text("more data")
    assert report.fingerprint(run, nb) != base


@pytest.mark.slow
def test_failure_is_reported_others_run_and_html_is_clean(sandbox, capsys):
    _fake_results(sandbox / "results")
    config = _config(sandbox, [{"notebook": "02_fail", "parameters": {"fail": True}},
                               {"notebook": "01_ok", "parameters": {"x": 2}}, {"notebook": "99_report"}])
    assert _main(sandbox, config) == 1
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
        assert f'href="#{report.anchor(run)}"' in html and f'id="{report.anchor(run)}"' in html
    assert html.count('href="#top"') == 2 and f'href="#{report.anchor("front-references")}"' in html
    assert "ran with: fail=True · " in html  # the header shows the parameters the run was given
    assert "SDT beats its no-distillation variant" in html and "background-color: #d4edda" in html
    assert "05_emonet" in html and "no results file" in html  # incomplete and expected-but-missing listed
    assert re.search(r'<img[^>]+src="data:image/png;base64', html)  # the inflation plot, embedded


@pytest.mark.slow
def test_interrupted_run_resumes_and_unchanged_runs_are_skipped(sandbox, monkeypatch, capsys):
    config = _config(sandbox, [{"notebook": "01_ok", "parameters": {"x": 2}},
                               {"notebook": "02_fail", "parameters": {"fail": False}}])
    real = report.pm.execute_notebook

    def stop_at_second(path, *args, **kwargs):
        if "02_fail" in str(path):
            raise KeyboardInterrupt  # the runner is stopped in the middle of the second run
        return real(path, *args, **kwargs)

    monkeypatch.setattr(report.pm, "execute_notebook", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        _main(sandbox, config)
    state = json.loads((sandbox / "reports" / "state.json").read_text())
    assert state["01_ok"]["status"] == "ok" and state["02_fail"]["status"] == "running"
    monkeypatch.setattr(report.pm, "execute_notebook", real)
    capsys.readouterr()
    assert _main(sandbox, config) == 0
    out = capsys.readouterr().out
    assert "01_ok: skipped" in out and "02_fail: ok in" in out
    assert _main(sandbox, config) == 0
    assert capsys.readouterr().out.count("skipped") == 2
    (sandbox / "reports" / "01_ok.ipynb").unlink()  # the executed notebook is gone: rerun
    (sandbox / "code.py").write_text("A = 2\n")  # the library changed: rerun
    assert _main(sandbox, config, "--only", "01") == 0
    out = capsys.readouterr().out
    assert "01_ok: ok in" in out and "02_fail" not in out.split("report:")[0]


def test_runner_logs_the_fit_cache_counts_each_run_wrote(sandbox, capsys):
    """Each executed run's log line and state entry carry the fit-cache counts of the results JSON it
    wrote; the command ends with the total; a skipped run (nothing changed) adds nothing."""
    _notebook(sandbox / "notebooks" / "03_cached.ipynb", "n = 1  # a number",
              "import json, os, pathlib\n"
              "path = pathlib.Path(os.environ['ERC_RESULTS_DIR']) / '03_cached.json'\n"
              "path.write_text(json.dumps({'fit_cache': {'hit': 3, 'trained': 1, 'uncached': 0}}))")
    config = _config(sandbox, [{"notebook": "03_cached"}, {"notebook": "01_ok"}])
    assert _main(sandbox, config) == 0
    out = capsys.readouterr().out
    assert "03_cached: ok in" in out and "(fit cache: 3 fits read back, 1 trained)" in out
    assert "fit cache: 3 of 4 fits read back (75%) in the 1 runs executed" in out
    state = json.loads((sandbox / "reports" / "state.json").read_text())
    assert state["03_cached"]["fit_cache"] == {"hit": 3, "trained": 1, "uncached": 0}
    assert state["01_ok"]["fit_cache"] is None                  # wrote no results JSON
    assert _main(sandbox, config) == 0
    out = capsys.readouterr().out
    assert "03_cached: skipped" in out and "fit cache:" not in out


# ---------------------------------------------------------------- front page on fake results
def _fake_results(folder):
    history = [{"epoch": e, "dev_weighted_f1": d, "test_weighted_f1": t}
               for e, d, t in [(1, 50.0, 60.0), (2, 70.0, 62.0), (3, 65.0, 66.0)]]
    rows = []
    for seed, (wf1, best) in enumerate([(62.0, 2), (64.0, 2)]):
        for split in ("dev", "test"):
            rows.append({"dataset": "mosi", "model": "SDT", "variant": "t+a", "seed": seed, "split": split,
                         "weighted_f1": wf1 if split == "test" else 70.0, "accuracy": wf1 + 1, "best_epoch": best})
    common = {"started": "2025-01-01T10:00:00+00:00", "written": "2025-01-01T10:30:00+00:00",
              "environment": {"python": "3.11", "packages": {"torch": "2.13.0"}}}
    write_json(folder / "03_sdt_mosi.json", {
        "notebook": "03_sdt", "status": "complete", "parameters": {"dataset": "mosi", "seeds": 2}, "rows": rows,
        "histories": {"mosi|t+a|0": history, "mosi|t+a|1": history[:2]}, "wall_seconds": 1800, "device": "cpu",
        **common})
    write_json(folder / "05_emonet.json", {"notebook": "05_emonet", "status": "running", "started": "x"})
    claims = [  # the format of erc_lib.claims
        {"id": "sdt-sd-fused", "paper": "SDT", "text": "SDT beats its no-distillation variant", "dataset": "iemocap-sdt",
         "published": "SDT Table 3", "published_difference": 2.98,
         "ours": {"mean": 63.0, "std": 1.41, "n_seeds": 5, "variant": "t+a"},
         "other": {"mean": 60.0, "std": 0.5, "n_seeds": 5, "variant": "no KL"},
         "baseline": {"variant": "BiGRU", "mean": 61.0, "std": 0.5, "n_seeds": 5},
         "comparison": {"difference": 3.0, "ci_low": 1.5, "ci_high": 4.5, "n_dialogues": 31}, "verdict": "holds",
         "reason": "r"},
        {"id": "emonet-beats-compm", "paper": "EmoNet", "text": "speaker behaviour helps", "dataset": "emorynlp",
         "published": "x", "published_difference": None, "ours": {"mean": 30.1, "std": 0.25, "n_seeds": 3},
         "other": {"mean": 30.0, "std": 0.3, "n_seeds": 3}, "baseline": None,
         "comparison": {"difference": 0.1, "ci_low": -1.0, "ci_high": 1.2}, "verdict": "inconclusive", "reason": "r"}]
    payload = json.loads((folder / "03_sdt_mosi.json").read_text())
    write_json(folder / "03_sdt_mosi.json", {**payload, "claims": claims})
    assert os.environ["ERC_RESULTS_DIR"] == str(folder)
    collect_claims()  # results/claims.json, as the front page writes it


def test_front_page_tables(tmp_path, monkeypatch):
    _full_size_folders(monkeypatch)
    for name in ("results", "figures"):
        monkeypatch.setenv(f"ERC_{name.upper()}_DIR", str(tmp_path / name))
    _fake_results(tmp_path / "results")
    for stem in ("03_sdt_mosi_curves", "03_sdt_iemocap_curves", "05_window", "07_other"):
        (tmp_path / "figures").mkdir(exist_ok=True)
        (tmp_path / "figures" / f"{stem}.png").write_bytes(b"png")
    results, problems = report.load_results(expected=["03_sdt_mosi", "06_mister_e_mosi"])
    assert list(results) == ["03_sdt_mosi"]
    assert dict(zip(problems["results"], problems["problem"].str[:20])) == {
        "05_emonet": str(tmp_path / "results" / "05_emonet.json")[:20], "06_mister_e_mosi": "no results file: its"}

    claims = report.claims_frame(json.loads((tmp_path / "results" / "claims.json").read_text()))
    assert list(claims["paper"]) == ["EmoNet", "SDT"]
    sdt = claims.iloc[1]
    assert (sdt["published"], sdt["ours (A)"]) == ("SDT Table 3", "t+a: 63.00 ± 1.41 (n = 5)")
    assert sdt["compared with (B)"] == "no KL: 60.00 ± 0.50 (n = 5)" and sdt["baseline (same inputs)"].startswith("BiGRU")
    assert (sdt["A − B [95% CI]"], claims.iloc[0]["published"]) == ("+3.00 [+1.50, +4.50]", "x")
    assert sdt["verdict"] == "holds" and claims.iloc[0]["verdict"] == "not measured at full size"  # 3 seeds
    assert sdt["published A − B (this dataset)"] == "+2.98" and claims.iloc[0]["published A − B (this dataset)"] == "+1.33"  # the extra keys
    assert "background-color: #d4edda" in report.style_table(claims, verdict_colours=True).to_html()

    table = report.measured_table(results["03_sdt_mosi"])
    assert table.to_dict("records") == [{"dataset": "mosi", "model": "SDT", "variant": "t+a",
                                         "test weighted F1": "63.00 ± 1.41", "test accuracy": "64.00 ± 1.41", "seeds": 2}]

    sweep = [{"dataset": "d", "model": "m", "variant": "v", "seed": s, "split": "test", "weighted_f1": 10.0 * w + s,
              "window": w, "epochs_run": 3 + s + w, "encoder": "e"} for w in (1, 3) for s in (0, 1)]
    table = report.measured_table({"rows": sweep})  # split by window, not by the per-seed epochs_run
    assert table[["window", "test weighted F1", "seeds"]].values.tolist() == [[1, "10.50 ± 0.71", 2],
                                                                              [3, "30.50 ± 0.71", 2]]

    per_seed, mean = report.selection_inflation(results)
    assert per_seed[["seed", "best test epoch", "test wF1, test-selected", "inflation"]].values.tolist() == [
        [0, 3, 66.0, 4.0], [1, 2, 62.0, 0.0]]
    assert mean["mean inflation"].tolist() == [2.0] and mean["seeds"].tolist() == [2]

    figs = report.figure_files(["03_sdt_mosi", "03_sdt_iemocap", "05_emonet"])
    assert {k: [p.stem for p in v] for k, v in figs.items()} == {
        "03_sdt_mosi": ["03_sdt_mosi_curves"], "03_sdt_iemocap": ["03_sdt_iemocap_curves"], "05_emonet": ["05_window"]}

    prov = report.provenance_table(results).iloc[0]
    assert (prov["device"], prov["wall time"], prov["parameters"]) == ("cpu", "30.0 min", "dataset=mosi, seeds=2")
    assert "torch 2.13.0" in prov["environment"]


@pytest.mark.slow
def test_two_jobs_with_a_relative_out_folder_write_every_notebook_there(sandbox, monkeypatch):
    """papermill changes the process's working directory while a notebook runs: with two at once a
    relative --out must still receive every executed notebook and the state of every run."""
    monkeypatch.chdir(sandbox)
    config = _config(sandbox, [{"notebook": "01_ok", "parameters": {"x": 1}, "name": "a"},
                               {"notebook": "01_ok", "parameters": {"x": 2}, "name": "b"},
                               {"notebook": "01_ok", "parameters": {"x": 3}, "name": "c"}, {"notebook": "99_report"}])
    assert report.main(["--config", str(config), "--notebooks-dir", str(sandbox / "notebooks"), "--out", "out",
                        "--jobs", "2"]) == 0
    state = json.loads((sandbox / "out" / "state.json").read_text())
    assert {k for k, v in state.items() if v["status"] == "ok"} == {"a", "b", "c", "99_report"}
    assert {p.stem for p in (sandbox / "out").glob("*.ipynb")} == {"a", "b", "c", "99_report"}
    assert not list((sandbox / "notebooks").glob("out"))


# ---------------------------------------------------------------- what ran, errors first, unknown parameters
def test_header_shows_the_parameters_that_ran():
    """The header reads the executed notebook: the values start() used (smoke sizes included),
    not the config's, and papermill's injected names."""
    from erc_lib.notebook import RUN_MIME

    nb = new_notebook(cells=[new_code_cell("max_new_tokens = 64\nseeds = 5\nsmoke = False", metadata={"tags": ["parameters"]}),
                             new_code_cell("smoke = True", metadata={"tags": ["injected-parameters"]}),
                             new_code_cell("nb = start()", outputs=[nbformat.v4.new_output(
                                 "display_data", data={"text/plain": "p", RUN_MIME: {"parameters": {
                                     "max_new_tokens": 12, "seeds": 1, "smoke": True}}})])],
                      metadata={"papermill": {"parameters": {"smoke": True}}})
    assert report.ran_with(nb) == ({"max_new_tokens": 12, "seeds": 1, "smoke": True}, {"smoke": True})
    assert report.header_parameters(nb) == "smoke=True; smoke sizes: max_new_tokens=12, seeds=1"
    nb.cells[2].outputs = []  # failed before start(): what papermill injected
    assert report.header_parameters(nb) == "smoke=True"
    assert "parameters of this run" not in str(report._clean_cells(
        [new_code_cell("x", outputs=[nbformat.v4.new_output("display_data", data={"text/plain": "parameters of this run",
                                                                                  RUN_MIME: {}})])]))


def test_reading_order_puts_the_front_page_first_then_by_number():
    runs = [report.Run(n, {}, n) for n in ("05_emonet", "02_features", "99_report", "01_data", "03_sdt")]
    assert [r.name for r in report.reading_order(runs)] == ["99_report", "01_data", "02_features", "03_sdt", "05_emonet"]


def test_error_lines_put_the_notebooks_message_first():
    from papermill.exceptions import PapermillExecutionError

    tb = ["\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
          "\x1b[0;31mParameterError\x1b[0m  Traceback (most recent call last)", "Cell In[3], line 7",
          "----> 7 nb = start('03_sdt', globals())", "File notebook.py:239, in validate(notebook, params)",
          "\x1b[0;31mParameterError\x1b[0m: 03_sdt: bad parameters:\n  - dataset='x' is not allowed"]
    error = PapermillExecutionError(3, 3, "src", "ParameterError", "03_sdt: bad parameters:\n  - dataset='x' is not allowed", tb)
    first, trace = report.error_lines(error)
    assert first == "ParameterError: 03_sdt: bad parameters:"
    assert trace[0] == "  - dataset='x' is not allowed" and len(trace) <= 1 + 4
    assert all("\x1b" not in line for line in trace) and trace[-1].startswith("File notebook.py:239")
    assert report.error_lines(ValueError("plain"))[0] == "ValueError: plain"


def test_injected_parameters_are_read_from_the_kernel_history():
    from erc_lib.notebook import injected_parameters

    history = ["", 'dataset = "mosi"\nseeds = 5', '# Parameters\nno_such_param = 1\nseeds = 2\n', "nb = start(...)"]
    assert injected_parameters({"In": history}) == ["no_such_param", "seeds"]
    assert injected_parameters({"In": history[:2]}) == [] and injected_parameters({}) == []


@pytest.mark.slow
def test_papermill_refuses_an_unknown_parameter_before_any_work(tmp_path, monkeypatch):
    """Plain papermill (not the runner) fails in start() naming the parameter and the notebook's list."""
    error = papermill_refusal("01_data", {"no_such_param": 1}, tmp_path, monkeypatch)
    assert error.ename == "ParameterError" and "no_such_param" in error.evalue and "'datasets'" in error.evalue
    assert error.traceback[0].startswith("01_data failed: ParameterError: 01_data: unknown parameter(s) ['no_such_param']")
    assert not list((tmp_path / "results").glob("*.json"))  # nothing marked running: refused before any work


def test_results_doc_is_generated_from_the_reference_runs(tmp_path, monkeypatch):
    """docs/results.md is what the report command writes from results/reference/ (never edited by hand)."""
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    doc = REPO_ROOT / "docs" / "results.md"
    assert doc.read_text(encoding="utf-8") == report.results_markdown(report.REFERENCE_DIR), \
        "docs/results.md differs from results/reference/: run python -m erc_lib.report (it regenerates the file)"
    _fake_results(tmp_path)
    text = report.results_markdown(tmp_path)
    assert "do not edit by hand" in text and "| `03_sdt_mosi.json` | cpu |" in text
    assert "| mosi | SDT | t+a | 63.00 ± 1.41 | 64.00 ± 1.41 | 2 |" in text and "| SDT | SDT beats its" in text
    out = tmp_path / "docs" / "results.md"
    assert report.write_results_doc(tmp_path, out) and not report.write_results_doc(tmp_path, out)  # only on change


def test_front_page_names_its_configuration_and_flags_smoke_input():
    full = {"03_sdt_mosi": {"parameters": {"smoke": False}}}
    text = report.front_matter("configs/full.yaml", full)
    assert "--config configs/full.yaml" in text and "SMOKE" not in text
    assert "SMOKE INPUT" in report.front_matter("configs/smoke.yaml", full)  # a smoke configuration
    smoke = report.front_matter("configs/full.yaml", {**full, "05_emonet": {"parameters": {"smoke": True}}})
    assert "SMOKE INPUT" in smoke and "(05_emonet)" in smoke  # a smoke results file, named
    assert "on its own" in report.front_matter("", full)
    assert report.config_is_smoke("configs/smoke.yaml") and not report.config_is_smoke("configs/full.yaml")


def test_every_citation_key_in_the_notebooks_and_claims_has_a_reference():
    """A bracketed key that looks like a citation ([SEED000], [EMONET thesis ...]) in a notebook or in the
    claims is defined in erc_lib.published.REFERENCES; "seed paper NNN" is written as its key."""
    from erc_lib.claims import CLAIMS
    from erc_lib.published import REFERENCES, citation_keys

    texts = [c.source for p in sorted(NOTEBOOKS.glob("*.ipynb")) for c in nbformat.read(p, as_version=4).cells]
    texts += [str(getattr(c, "published", "")) for c in CLAIMS]
    cited = {m for t in texts for m in re.findall(r"\[([A-Z][A-Z0-9]{2,})[\] ]", t)} - {"CLS"}
    assert cited and cited <= set(REFERENCES), cited - set(REFERENCES)
    assert not [t for t in texts if re.search(r"\bseed paper \d{3}", t)]
    assert citation_keys("as in [SEED000] Table 7 and seed 003") == ["SEED000", "MISTERE"]
