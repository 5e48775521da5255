"""Where the project reads data from and writes results and figures to.

Every notebook and test resolves paths through these helpers, so they work from any
working directory (JupyterLab, papermill, pytest, CI).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The folder that holds the datasets.

    Resolution order: the environment variable ``ERC_DATA_DIR``; else ``<repo>/data``
    when it exists; else ``../shared/data`` beside the checkout (the layout of the
    project's development and CI machines). The returned folder may not exist: the
    loaders raise :class:`erc_lib.data.DataError` naming the files they expected.
    """
    env = os.environ.get("ERC_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    local = REPO_ROOT / "data"
    if local.exists():
        return local
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if shared.exists() else local


def cache_dir() -> Path:
    """Feature cache (``ERC_CACHE_DIR``, default ``<repo>/.cache``), created on demand."""
    path = Path(os.environ.get("ERC_CACHE_DIR", REPO_ROOT / ".cache")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """Where notebooks write ``*.json`` metrics (``ERC_RESULTS_DIR``, default ``<repo>/results``)."""
    path = Path(os.environ.get("ERC_RESULTS_DIR", REPO_ROOT / "results")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir() -> Path:
    """Where notebooks write figures (``ERC_FIGURES_DIR``, default ``<repo>/figures``)."""
    path = Path(os.environ.get("ERC_FIGURES_DIR", REPO_ROOT / "figures")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def smoke_from_env(default: bool = False) -> bool:
    """True when ``ERC_SMOKE`` is set to 1/true/yes: CI's switch to smoke-size notebooks.

    nbval runs notebooks with their own defaults (papermill parameters do not reach it),
    so every notebook ORs its ``smoke`` parameter with this.
    """
    value = os.environ.get("ERC_SMOKE", "")
    return default or value.strip().lower() in {"1", "true", "yes", "on"}
