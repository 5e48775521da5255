"""What a notebook's ``start()`` does with the parameters a user passes: model and training settings
(``model_overrides`` / ``train_overrides``) are checked first and kept in smoke mode, and a setting
passed as a notebook parameter is refused with the way to pass it.

The expected values are written by hand from ``erc_lib/ranges.py`` (dropout in [0, 1), learning
rate in (0, 1]) and from each notebook's smoke sizes in ``erc_lib/notebook.py``.
"""
from __future__ import annotations

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import papermill_refusal
from erc_lib.notebook import NOTEBOOKS, ParameterError, apply_smoke, parameter_problems, start, validate
from erc_lib.paths import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
#: Per notebook with model settings: one out-of-range model setting of its model (a probability of 1.5).
BAD_MODEL_SETTING = {"03_sdt": {"dropout": 1.5}, "04_sdt_bios": {"dropout": 1.5},
                     "05_emonet": {"dropout": 1.5}, "06_mister_e": {"can_dropout": 1.5}}


def notebook_defaults(notebook: str) -> dict:
    """The values the notebook's own ``parameters`` cell assigns (executed as Python)."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{notebook}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(compile(cell.source, notebook, "exec"), namespace)  # noqa: S102 - the repository's own notebook
    return {k: v for k, v in namespace.items() if k in NOTEBOOKS[notebook].params}


def papermill_namespace(notebook: str, **injected) -> dict:
    """A kernel namespace as papermill leaves it: the defaults, then an injected cell setting ``injected``."""
    cell = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in injected.items())
    return {**notebook_defaults(notebook), **injected, "In": ["", "defaults", cell]}


@pytest.mark.parametrize("notebook", sorted(BAD_MODEL_SETTING))
def test_smoke_run_refuses_a_bad_model_setting_in_every_notebook(notebook, tmp_path, monkeypatch):
    """smoke=True used to replace model_overrides by the smoke sizes, so dropout=1.5 ran unnoticed."""
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    bad = BAD_MODEL_SETTING[notebook]
    with pytest.raises(ParameterError) as e:
        start(notebook, papermill_namespace(notebook, smoke=True, model_overrides=bad))
    name = next(iter(bad))
    assert f"model_overrides: {name}=1.5 is outside its range (a number in [0, 1))" in str(e.value)
    assert not list(tmp_path.rglob("*.json"))  # refused before the results file was marked running


@pytest.mark.parametrize("notebook", sorted(BAD_MODEL_SETTING))
def test_smoke_run_refuses_a_bad_training_setting_and_an_unknown_one(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    with pytest.raises(ParameterError) as e:
        start(notebook, papermill_namespace(notebook, smoke=True, train_overrides={"lr": -0.1, "no_such": 1}))
    assert "train_overrides: lr=-0.1 is outside its range (a number in (0, 1])" in str(e.value)
    assert "train_overrides: unknown setting 'no_such'" in str(e.value)


def test_smoke_merges_its_sizes_into_the_users_settings():
    """03's smoke sizes are d_model 32, 4 heads, no early stopping; the user's dropout and lr stay."""
    params = validate("03_sdt", {**notebook_defaults("03_sdt"), "smoke": True,
                                 "model_overrides": {"dropout": 0.3}, "train_overrides": {"lr": 0.01}})
    smoke = apply_smoke("03_sdt", params)
    assert smoke["model_overrides"] == {"d_model": 32, "n_heads": 4, "dropout": 0.3}
    assert smoke["train_overrides"] == {"patience": None, "lr": 0.01}
    assert smoke["seeds"] == 1 and smoke["epochs"] == 2  # scalars still take the smoke size
    own = apply_smoke("03_sdt", {**params, "model_overrides": {"d_model": 16}})
    assert own["model_overrides"] == {"d_model": 16, "n_heads": 4}  # a size the user chose is theirs


@settings(max_examples=40, deadline=None)
@given(user=st.dictionaries(st.sampled_from(["dropout", "temperature", "d_model", "self_distillation"]),
                            st.just(None), max_size=4))
def test_smoke_keeps_every_user_setting_and_fills_in_the_rest(user):
    valid = {"dropout": 0.1, "temperature": 2.0, "d_model": 64, "self_distillation": False}
    user = {k: valid[k] for k in user}
    params = {**notebook_defaults("03_sdt"), "smoke": True, "model_overrides": user}
    merged = apply_smoke("03_sdt", params)["model_overrides"]
    smoke = NOTEBOOKS["03_sdt"].smoke["model_overrides"]
    assert {k: merged[k] for k in user} == user
    assert {k: merged[k] for k in smoke if k not in user} == {k: v for k, v in smoke.items() if k not in user}
    assert set(merged) == set(user) | set(smoke)


@pytest.mark.parametrize("notebook,name,value,expected", [
    ("03_sdt", "dropout", 0.3, '-y "model_overrides: {dropout: 0.3}" (a number in [0, 1))'),
    ("06_mister_e", "focal_gamma", 2.0, '-y "model_overrides: {focal_gamma: 2.0}" (a number >= 0)'),
    ("05_emonet", "lr", 0.001, '-y "train_overrides: {lr: 0.001}" (a number in (0, 1])'),
    ("04_sdt_bios", "patience", 3, '-y "train_overrides: {patience: 3}" (an integer >= 1 or None)'),
])
def test_a_setting_passed_as_a_parameter_is_refused_with_how_to_pass_it(notebook, name, value, expected):
    with pytest.raises(ParameterError) as e:
        start(notebook, papermill_namespace(notebook, **{name: value}))
    assert f"unknown parameter(s) ['{name}']" in str(e.value) and expected in str(e.value)


def test_an_unknown_name_that_is_no_setting_lists_the_parameters_only():
    with pytest.raises(ParameterError) as e:
        start("02_features", papermill_namespace("02_features", dropout=0.3))
    assert "'lora_rank'" in str(e.value) and "model_overrides" not in str(e.value)  # 02 takes no model settings


def test_a_modality_the_dataset_lacks_is_refused_before_any_work():
    """mosi-clean has audio and text (erc_lib/data/registry.py's table); video needs mosi or the SDT pickles."""
    base = notebook_defaults("03_sdt")
    with pytest.raises(ParameterError, match="mosi-clean has none of them"):
        validate("03_sdt", {**base, "dataset": "mosi-clean", "modalities": "v"})
    assert validate("03_sdt", {**base, "dataset": "mosi", "modalities": "v"})["modalities"] == "v"
    assert validate("03_sdt", {**base, "dataset": "iemocap", "modalities": "tav"})  # keeps the text it has


@pytest.mark.slow
def test_papermill_smoke_run_with_a_bad_model_setting_fails_in_start(tmp_path, monkeypatch):
    """The command of the report: papermill 03 -p smoke True -y "model_overrides: {dropout: 1.5}"."""
    error = papermill_refusal("03_sdt", {"smoke": True, "model_overrides": {"dropout": 1.5}}, tmp_path, monkeypatch)
    assert error.ename == "ParameterError" and "dropout=1.5 is outside its range" in error.evalue
    assert not list((tmp_path / "results").rglob("*.json"))


def test_notebooks_import_error_points_to_a_readme_section_that_exists():
    """The setup cell's ModuleNotFoundError names "README.md, Install": that heading must exist."""
    headings = [line.lstrip("#").strip() for line in (REPO_ROOT / "README.md").read_text().splitlines()
                if line.startswith("## ")]
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        text = "".join(c.source for c in nbformat.read(path, as_version=4).cells)
        for section in text.split("(README.md, ")[1:]:
            assert section.split(")")[0] in headings, (path.name, section.split(")")[0], headings)


def test_dataset_and_device_parameters_take_the_library_lists():
    """One list of dataset names (erc_lib.data) and one of devices (erc_lib.runtime) serve the
    notebooks: written here by hand, each accepted, and a name outside them refused."""
    for dataset in ("iemocap", "meld", "emorynlp", "mosi", "mosi-clean", "iemocap-sdt", "meld-sdt"):
        assert parameter_problems("03_sdt", {"dataset": dataset}) == []
    assert parameter_problems("01_data", {"datasets": ["iemocap", "meld-sdt"]}) == []
    assert parameter_problems("03_sdt", {"dataset": "imdb"})[0].startswith("dataset='imdb' is not allowed (one of ['iemocap',")
    assert parameter_problems("01_data", {"datasets": ["imdb"]}) == [
        "datasets: item 'imdb' is not allowed (allowed items: ['iemocap', 'meld', 'emorynlp', 'mosi', 'mosi-clean', "
        "'iemocap-sdt', 'meld-sdt'])"]
    for device in ("auto", "cpu", "cuda"):
        assert parameter_problems("03_sdt", {"device": device}) == []
    assert parameter_problems("03_sdt", {"device": "gpu"}) == ["device='gpu' is not allowed (one of ['auto', 'cpu', 'cuda'])"]
