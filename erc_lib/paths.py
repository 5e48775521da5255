"""Where the project reads data from and writes results and figures to.

Every notebook and test resolves paths through these helpers, so they work from any
working directory (JupyterLab, papermill, pytest, CI).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

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


def _folder(variable: str, default: Path) -> Path:
    """``$variable`` (or ``default``), created on demand; PermissionError naming both when it
    cannot be created."""
    path = Path(os.environ.get(variable, default)).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create the folder {path} ({e.strerror or e}); make it writable or set "
                              f"{variable} to a writable folder") from None
    return path


def cache_dir() -> Path:
    """Feature cache (``ERC_CACHE_DIR``, default ``<repo>/.cache``), created on demand."""
    return _folder("ERC_CACHE_DIR", REPO_ROOT / ".cache")


#: The sub-folder of the results and figures folders that smoke runs write to and read from.
SMOKE_FOLDER = "smoke"
_smoke_folders = False


def _subfolder(base: Path, variable: str) -> Path:
    path = base / SMOKE_FOLDER
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create the folder {path} ({e.strerror or e}); make {variable} writable") from None
    return path


def use_smoke_folders(on: bool = True) -> None:
    """Send this process's results and figures to the :data:`SMOKE_FOLDER` sub-folders (called
    by :func:`erc_lib.notebook.start` for a smoke run), so a smoke run never overwrites, and is
    never read as, a full-size result. ``ERC_SMOKE=1`` has the same effect."""
    global _smoke_folders
    _smoke_folders = bool(on)


def _smoke(smoke: bool | None) -> bool:
    return (_smoke_folders or smoke_from_env()) if smoke is None else smoke


def results_dir(smoke: bool | None = None) -> Path:
    """Where notebooks write ``*.json`` metrics (``ERC_RESULTS_DIR``, default ``<repo>/results``);
    its ``smoke/`` sub-folder for smoke runs (``smoke=None``: this process's setting,
    :func:`use_smoke_folders` or ``ERC_SMOKE=1``)."""
    base = _folder("ERC_RESULTS_DIR", REPO_ROOT / "results")
    return _subfolder(base, "ERC_RESULTS_DIR") if _smoke(smoke) else base


def figures_dir(smoke: bool | None = None) -> Path:
    """Where notebooks write figures (``ERC_FIGURES_DIR``, default ``<repo>/figures``); its
    ``smoke/`` sub-folder for smoke runs (as :func:`results_dir`)."""
    base = _folder("ERC_FIGURES_DIR", REPO_ROOT / "figures")
    return _subfolder(base, "ERC_FIGURES_DIR") if _smoke(smoke) else base


def smoke_from_env(default: bool = False) -> bool:
    """True when ``ERC_SMOKE`` is set to 1/true/yes: CI's switch to smoke-size notebooks.

    nbval runs notebooks with their own defaults (papermill parameters do not reach it),
    so every notebook ORs its ``smoke`` parameter with this.
    """
    value = os.environ.get("ERC_SMOKE", "")
    return default or value.strip().lower() in {"1", "true", "yes", "on"}


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` all at once: ``write(tmp)`` fills a temporary file in the same folder,
    which then replaces ``path`` (``os.replace``, atomic on one file system). A run killed
    mid-write leaves the old file (or none), never a half-written one. The temporary name
    keeps ``path``'s suffix, so writers that add one (``np.savez``) write where they are told.

    Every cache and results writer of the project goes through this function. Returns ``path``.
    Raises ``OSError`` (after removing the temporary file) when writing fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: str | Path, payload, indent: int | None = 1) -> Path:
    """:func:`atomic_write` of ``payload`` as JSON (numpy scalars become floats); ``indent=None``
    writes it compactly (results files with per-utterance predictions)."""
    text = json.dumps(payload, indent=indent, default=float, separators=None if indent else (",", ":"))
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any work.

    Raises ``PermissionError`` naming the folder and the environment variable that moves it."""
    folder = Path(folder)
    probe = folder / f".write-check-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"cannot write to {folder} ({e.strerror or e}); make it writable or point "
                              "ERC_RESULTS_DIR / ERC_FIGURES_DIR / ERC_CACHE_DIR at a writable folder") from None
    return folder
