"""docs/results.md (erc_lib.report.results_doc): generated from the reference runs, rewritten only on change."""
from __future__ import annotations

from erc_lib.paths import REPO_ROOT
from erc_lib.report.results_doc import REFERENCE_DIR, results_markdown, write_results_doc
from report_sandbox import fake_results, full_size_folders  # noqa: F401 (fixtures)


def test_results_doc_is_generated_from_the_reference_runs(tmp_path, monkeypatch):
    """docs/results.md is what the report command writes from results/reference/ (never edited by hand)."""
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    doc = REPO_ROOT / "docs" / "results.md"
    assert doc.read_text(encoding="utf-8") == results_markdown(REFERENCE_DIR), \
        "docs/results.md differs from results/reference/: run python -m erc_lib.report (it regenerates the file)"
    fake_results(tmp_path)
    text = results_markdown(tmp_path)
    assert "do not edit by hand" in text and "| `03_sdt_mosi.json` | cpu |" in text
    assert "| mosi | SDT | t+a | 63.00 ± 1.41 | 64.00 ± 1.41 | 2 |" in text and "| SDT | SDT beats its" in text
    out = tmp_path / "docs" / "results.md"
    assert write_results_doc(tmp_path, out) and not write_results_doc(tmp_path, out)  # only on change
