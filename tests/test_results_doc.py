"""docs/results.md (erc_lib.report.results_doc): generated from the reference runs, rewritten only on change."""
from __future__ import annotations

import os
import re

import pytest

from erc_lib.fitcache import code_hash
from erc_lib.paths import REPO_ROOT
from erc_lib.report.results_doc import REFERENCE_DIR, results_markdown, write_results_doc
from report_sandbox import fake_results, full_size_folders  # noqa: F401 (fixtures)


#: A row of the code-drift table: results file, recorded training-code hash, this checkout's hash.
_DRIFT_ROW = re.compile(r"^(\| [^|]+ \| [^|]+ \| )([0-9a-f]{12})( \|)$", re.M)


def _checkout_hashes(text: str) -> set[str]:
    return {m.group(2) for m in _DRIFT_ROW.finditer(text)}


_UNDER_MUTATION = pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ,
                                     reason="under mutation testing the checkout's code is the mutated copy, whose "
                                            "hash is another (so the page says the reference runs came from other code)")


@_UNDER_MUTATION
def test_results_doc_is_generated_from_the_reference_runs(tmp_path, monkeypatch):
    """docs/results.md is what the report command writes from results/reference/ (never edited by hand),
    this checkout's code hash aside (the next test)."""
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    doc = REPO_ROOT / "docs" / "results.md"
    mask = lambda text: _DRIFT_ROW.sub(r"\1<this checkout>\3", text)  # noqa: E731
    assert mask(doc.read_text(encoding="utf-8")) == mask(results_markdown(REFERENCE_DIR)), \
        "docs/results.md differs from results/reference/: run python -m erc_lib.report (it regenerates the file)"


def test_results_doc_tables_come_from_the_results_files_and_it_is_rewritten_only_on_change(tmp_path, monkeypatch):
    """The generated page holds the runs' tables (a constructed folder) and the file is written only when
    its text changes."""
    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    fake_results(tmp_path)
    text = results_markdown(tmp_path)
    assert "do not edit by hand" in text and "| `03_sdt_mosi.json` | cpu |" in text
    assert "| mosi | SDT | t+a | 63.00 ± 1.41 | 64.00 ± 1.41 | 2 |" in text and "| SDT | SDT beats its" in text
    out = tmp_path / "docs" / "results.md"
    assert write_results_doc(tmp_path, out) and not write_results_doc(tmp_path, out)  # only on change


@_UNDER_MUTATION
def test_results_doc_names_this_checkouts_code_hash():
    """The code-drift table of docs/results.md names this checkout's training-code hash in every row, so a
    results file computed by other code is visible there (regenerate the file after changing training code)."""
    hashes = _checkout_hashes((REPO_ROOT / "docs" / "results.md").read_text(encoding="utf-8"))
    assert hashes <= {code_hash()[:12]}, \
        f"docs/results.md names the checkout's code as {sorted(hashes)}, it is {code_hash()[:12]}: run python -m erc_lib.report"

