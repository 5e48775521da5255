"""The benchmark's run specs (erc_lib/bench/specs.py): a model at a size is the model table's spec with the size's
and the caller's overrides; SDT + bios gets random descriptions; unknown models and sizes are refused."""
from __future__ import annotations

import pytest

from erc_lib.bench.specs import bench_spec
from erc_lib.bench.synthetic import BIOS_DIM, iemocap_shaped, sample_dialogues


@pytest.fixture(scope="module")
def data():
    return sample_dialogues(iemocap_shaped({"text": 8, "audio": 4})[0], 2)


def test_sdt_bios_at_the_papers_size_is_sdt_with_random_descriptions(data):
    spec = bench_spec("sdt_bios", "paper", data, {"epochs": 1})
    assert spec.variant == "sdt_bios/paper" and spec.identity["model"] == "sdt"
    args = spec.identity["model_args"]
    assert (args["d_model"], args["n_heads"], args["d_ff"], args["bios_dim"]) == (1024, 8, 1024, BIOS_DIM)
    assert spec.train["batch_size"] == 16 and spec.train["epochs"] == 1          # the paper's batch, the caller's epochs
    assert list(spec.extra) == ["bios"] and spec.identity["inputs"] == ["text"]


def test_the_notebook_size_adds_no_override(data):
    notebook = bench_spec("sdt", "notebook", data, {})
    assert notebook.variant == "sdt/notebook" and "bios_dim" not in notebook.identity["model_args"]
    assert notebook.identity["model_args"]["d_model"] != 1024 and not notebook.extra
    assert bench_spec("mister_e", "notebook", data, {}).identity["inputs"] == ["speech", "text"]


def test_unknown_models_and_sizes_are_refused(data):
    with pytest.raises(ValueError, match="unknown model 'emonet'"):
        bench_spec("emonet", "paper", data, {})
    with pytest.raises(ValueError, match=r"unknown size 'huge'; expected one of \['notebook', 'paper'\]"):
        bench_spec("sdt", "huge", data, {})
