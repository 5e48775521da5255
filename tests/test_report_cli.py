"""The report's command line (erc_lib/report/cli.py): a bad config or job count is exit status 2 with the reason on
stderr, before any notebook runs (whole runs through the command line: tests/test_report_runner.py)."""
from __future__ import annotations

import pytest

from erc_lib.report.cli import main


def test_a_missing_config_is_status_2_named_on_stderr(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config file ") and "none.yaml does not exist" in err
    assert not (tmp_path / "out").exists()                          # no work started


def test_a_config_without_runs_is_status_2(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("runs: []\n")
    assert main(["--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "expected a non-empty list under 'runs:'" in capsys.readouterr().err


def test_config_is_required():
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
