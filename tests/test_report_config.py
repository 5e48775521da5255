"""The report's config (erc_lib.report.config): validation against the real notebooks and tiny
throw-away ones, device and --only, run names, the front page's first lines, parameters that papermill
injects or refuses."""
from __future__ import annotations

import pytest
import yaml

from conftest import papermill_refusal
from erc_lib.notebook import injected_parameters
from erc_lib.paths import REPO_ROOT
from erc_lib.report.config import (REPORT_NOTEBOOK, ConfigError, config_is_smoke, front_matter, load_config,
                                   notebook_parameters, select_runs)
from report_sandbox import NOTEBOOKS, full_size_folders, run_main, sandbox, write_config  # noqa: F401 (fixtures)

CONFIGS = ("smoke", "full", "gpu")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_names_only_real_parameters(name):
    """Every key of configs/<name>.yaml is a parameter of its notebook (papermill only warns)."""
    runs = load_config(REPO_ROOT / "configs" / f"{name}.yaml", NOTEBOOKS, device="cpu")
    for run in runs:
        names = notebook_parameters(NOTEBOOKS / f"{run.notebook}.ipynb")
        assert set(run.parameters) <= set(names), (run.name, set(run.parameters) - set(names))
    assert runs[-1].notebook == REPORT_NOTEBOOK


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_cover_every_notebook(name):
    config = yaml.safe_load((REPO_ROOT / "configs" / f"{name}.yaml").read_text())
    numbered = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert {r["notebook"] for r in config["runs"]} == numbered
    if name == "smoke":
        for r in config["runs"]:
            if "smoke" in notebook_parameters(NOTEBOOKS / f"{r['notebook']}.ipynb"):
                assert r["parameters"].get("smoke") is True, r
    assert config["device"] == ("cuda" if name == "gpu" else "cpu")


def test_unknown_parameter_notebook_and_config_are_clear_errors(sandbox):
    nbs = sandbox / "notebooks"
    assert notebook_parameters(nbs / "02_fail.ipynb") == {"fail": "True"}  # comment with '=' still parsed
    bad = write_config(sandbox, [{"notebook": "01_ok", "parameters": {"x": 2, "y": 3, "z": 4}},
                                 {"notebook": "02_fail", "parameters": {"fial": False}}])
    with pytest.raises(ConfigError) as e:
        load_config(bad, nbs)
    assert "run 1 (01_ok): unknown ['y', 'z']" in str(e.value) and "run 2 (02_fail): unknown ['fial']" in str(e.value)
    with pytest.raises(ConfigError, match="no notebook"):
        load_config(write_config(sandbox, [{"notebook": "07_nope"}]), nbs)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(sandbox / "missing.yaml", nbs)
    with pytest.raises(ConfigError, match="same report"):
        load_config(write_config(sandbox, [{"notebook": "01_ok"}, {"notebook": "01_ok", "parameters": {"x": 3}}]), nbs)
    assert run_main(sandbox, bad) == 2 and not (sandbox / "reports").exists()  # nothing ran


def test_config_device_order_and_only(sandbox):
    nbs = sandbox / "notebooks"
    config = write_config(sandbox, [{"notebook": "99_report"}, {"notebook": "01_ok", "parameters": {"x": 2}},
                                    {"notebook": "02_fail", "parameters": {}}])
    runs = load_config(config, nbs, device="auto")
    assert [r.name for r in runs] == ["01_ok", "02_fail", "99_report"]
    assert runs[0].parameters == {"x": 2, "device": "auto"} and runs[1].parameters == {}  # only where it exists
    assert runs[2].parameters == {"expected": ["01_ok", "02_fail"], "config": "config.yaml"}  # outside the repo: its name
    assert [r.name for r in select_runs(runs, "02")] == ["02_fail", "99_report"]
    with pytest.raises(ConfigError, match="match no run"):
        select_runs(runs, "04")


def test_values_checked_and_runs_named_as_their_results(tmp_path):
    bad = write_config(tmp_path, [{"notebook": "03_sdt", "parameters": {"dataset": "mosi", "seeds": "3"}}])
    with pytest.raises(ConfigError, match="seeds='3' is a str"):
        load_config(bad, NOTEBOOKS)
    good = write_config(tmp_path, [{"notebook": "03_sdt", "parameters": {"dataset": "meld"}}, {"notebook": "03_sdt"}])
    default = notebook_parameters(NOTEBOOKS / "03_sdt.ipynb")["dataset"].strip("'\"")
    assert [r.name for r in load_config(good, NOTEBOOKS)] == ["03_sdt_meld", f"03_sdt_{default}"]  # its default


def test_front_page_names_its_configuration_and_flags_smoke_input():
    full = {"03_sdt_mosi": {"parameters": {"smoke": False}}}
    text = front_matter("configs/full.yaml", full)
    assert "--config configs/full.yaml" in text and "SMOKE" not in text
    assert "SMOKE INPUT" in front_matter("configs/smoke.yaml", full)  # a smoke configuration
    smoke = front_matter("configs/full.yaml", {**full, "05_emonet": {"parameters": {"smoke": True}}})
    assert "SMOKE INPUT" in smoke and "(05_emonet)" in smoke  # a smoke results file, named
    assert "on its own" in front_matter("", full)
    assert config_is_smoke("configs/smoke.yaml") and not config_is_smoke("configs/full.yaml")


def test_injected_parameters_are_read_from_the_kernel_history():
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
