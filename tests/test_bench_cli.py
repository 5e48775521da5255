"""The benchmark's command line (erc_lib/bench/cli.py): bad options are refused with argparse's status 2 and a
message before anything is measured."""
from __future__ import annotations

import pytest

from erc_lib.bench import cli


@pytest.mark.parametrize("argv, message", [
    (["--metrics-seeds", "1"], "--metrics-seeds must be >= 2"),
    (["--finetune-dialogues", "0"], "--finetune-dialogues must be >= 1"),
    (["--models", "gpt"], "invalid choice: 'gpt'"),
    (["--sizes", "huge"], "invalid choice: 'huge'"),
    (["--epochs", "two"], "invalid int value: 'two'"),
])
def test_bad_options_are_refused_before_work(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run_benchmark", lambda **kw: pytest.fail("the benchmark ran"))
    with pytest.raises(SystemExit) as e:
        cli.main([*argv, "--out", str(tmp_path / "bench.json")])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "bench.json").exists()


def test_quick_settings_reach_the_run_and_the_report_is_written(tmp_path, monkeypatch):
    """``--quick`` without other options: the quick models, both sizes, default and fast modes, one epoch,
    32 dialogues, one thread, the cells and scaling sections (the package docstring's quick run)."""
    seen = {}
    report = {"rows": [], "speedup": [], "scaling": [], "padding": [], "device": "cpu", "device_name": "x",
              "torch": "t", "threads": 1, "load_average": [0, 0], "best_threads": {}, "notes": [], "seconds": 0.0}
    monkeypatch.setattr(cli, "run_benchmark", lambda **kw: seen.update(kw) or report)
    assert cli.main(["--quick", "--out", str(tmp_path / "b.json")]) == report
    assert seen["models"] == cli.QUICK_MODELS and seen["sizes"] == ("notebook", "paper")
    assert seen["modes"] == ("default", "fast") and seen["epochs"] == 1 and seen["train_dialogues"] == 32
    assert seen["threads"] == [1] and seen["sections"] == ("cells", "scaling") and seen["quick"] is True
    assert (tmp_path / "b.json").exists()
