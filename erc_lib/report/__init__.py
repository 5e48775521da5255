"""The full reproduction report: run the numbered notebooks from one YAML file, skip those whose
inputs did not change, and render one self-contained HTML report; plus the front page's tables
(``notebooks/99_report.ipynb`` only calls the functions below).

    python -m erc_lib.report --config configs/full.yaml [--device cuda] [--only 03,05] [--force]
                             [--jobs 2] [--notebooks-dir DIR] [--out reports] [--screenshot report.png]

State (``<out>/state.json``, written atomically after every run) keeps each run's fingerprint at
its last successful run: a stopped runner, started again, redoes only the unfinished runs.

Modules: :mod:`.config` (the YAML config and its validation), :mod:`.runner` (fingerprints and
running), :mod:`.html` (the HTML page), :mod:`.front_page` (the front page's tables),
:mod:`.results_doc` (``docs/results.md``) and :mod:`.cli` (the command line).
"""
from __future__ import annotations

from .config import (REPORT_NOTEBOOK, ConfigError, Run, config_is_smoke, front_matter, load_config, notebook_parameters,
                     select_runs, shown_path)
from .runner import (KERNEL_ARGUMENTS, code_files, duration_text, error_lines, fingerprint, fit_cache_counts, run_all,
                     unexecuted_cells)
from .html import (MATHJAX_FILE, anchor, build_html, header_parameters, offline_mathjax, param_text, ran_with,
                   reader_problems, reading_order, screenshot)
from .front_page import (CLAIM_EXTRAS, TEST_SELECTED, VERDICT_COLOURS, claims_frame, figure_files, front_verdicts,
                         load_results, measured_table, plot_inflation, provenance_table, published_vs_ours,
                         selection_inflation, style_table)
from .results_doc import REFERENCE_DIR, RESULTS_DOC, results_markdown, write_results_doc
from .cli import main
