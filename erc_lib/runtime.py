"""Where and how torch runs: device resolution, seeding, CPU threads, determinism.

Everything that needs a device or a seed imports it from here (never from the trainer), and a
notebook sets itself up with one call (:func:`setup`, used by :func:`erc_lib.notebook.start`).

Determinism: ``CUBLAS_WORKSPACE_CONFIG`` must be set before CUDA initialises, so it is set
when this module is imported (``erc_lib/__init__`` imports it first). With
:func:`seed_everything`, the same seed on the same device gives the same numbers.
"""
from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA initialises

import random  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from .paths import REPO_ROOT  # noqa: E402

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(RuntimeError):
    """A device was asked for that this machine does not have (e.g. ``cuda`` without CUDA)."""


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cpu"``; ``"cuda"`` / ``"cuda:k"``.

    Raises:
        DeviceError: CUDA requested but ``torch.cuda.is_available()`` is False (the message
            says how to run on the CPU instead).
        ValueError: any other device string.
    """
    if not isinstance(device, str):
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda:k'), got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device={device!r} was requested but torch.cuda.is_available() is False on this "
                              f"machine (torch {torch.__version__}); run with device='cpu' or 'auto' "
                              "(papermill: -p device cpu)")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be one of {DEVICES} (or 'cuda:k'), got {device!r}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels,
    so the same seed on the same device gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def measured_cpu_threads(model: str | None = None, path: str | os.PathLike | None = None) -> tuple[int, str, bool]:
    """``(threads, note, measured)``: the CPU thread count the benchmark measured as fastest, a
    note saying where it came from, and whether a measurement was found.

    Reads ``best_threads`` (model -> thread count) from ``path`` (default
    ``results/reference/bench.json``, written by ``python -m erc_lib.bench``). With ``model``
    (a benchmark model name: ``sdt``, ``mister_e``, ``compm``, ...) its own entry is used;
    otherwise, or when that model was not measured, the count that most models chose (ties:
    fewer threads). Without the file, or without entries, it is 1 (the note says so).
    """
    path = Path(path) if path is not None else REPO_ROOT / "results" / "reference" / "bench.json"
    try:
        best = json.loads(path.read_text()).get("best_threads") or {}
    except (OSError, ValueError) as e:
        return 1, f"no measured thread policy ({path}: {type(e).__name__}); using 1 thread", False
    if model in best:
        return int(best[model]), f"{model}: {best[model]} thread(s), measured in {path}", True
    if not best:
        return 1, f"{path} has no best_threads; using 1 thread", False
    counts = Counter(int(v) for v in best.values())
    choice = min(counts, key=lambda n: (-counts[n], n))
    return choice, f"{choice} thread(s): the best for {counts[choice]} of {len(best)} models in {path}", True


def set_cpu_threads(device: str | torch.device, n_threads: int | str | None, model: str | None = None) -> int:
    """On CPU, limit torch to ``n_threads`` intra-op threads (None or 0: leave torch's default;
    ``"auto"``: the count ``python -m erc_lib.bench`` measured as fastest, for ``model`` when
    given, see :func:`measured_cpu_threads`; without a reference benchmark, 1 with a warning).

    The models of this study are small: one thread was as fast as two on an idle 2-core
    machine and many times faster on a busy one (measured: SDT on MOSI, 521 vs 39
    utterances/s with other jobs running); ``python -m erc_lib.bench`` measures it per model.
    Returns the thread count in force. Raises ValueError for a negative count or another string.
    """
    if n_threads == "auto":
        n_threads, note, measured = measured_cpu_threads(model)
        if not measured:
            warnings.warn(f"cpu_threads='auto': {note}", RuntimeWarning, stacklevel=2)
    elif isinstance(n_threads, str):
        raise ValueError(f"cpu_threads must be an integer >= 0, None or 'auto', got {n_threads!r}")
    if n_threads is not None and int(n_threads) < 0:
        raise ValueError(f"cpu_threads must be >= 0 or None, got {n_threads}")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if n_threads and dev.type == "cpu":
        torch.set_num_threads(int(n_threads))
    return torch.get_num_threads()


def setup(device: str = "auto", cpu_threads: int | str | None = 1) -> torch.device:
    """Resolve ``device``, set the CPU threads and the determinism switches; return the device.

    Raises :class:`DeviceError` before any work when the device is not available."""
    dev = resolve_device(device)
    set_cpu_threads(dev, cpu_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    return dev


def progress_bar(iterable=None, **kwargs):
    """A tqdm progress bar that suits where the code runs.

    ``ERC_PROGRESS`` chooses: ``widget`` (a JupyterLab widget; ipywidgets is a requirement),
    ``text`` (plain text on stderr, refreshed at most every 10 s: papermill runs and the report
    runner, whose HTML drops stderr), ``off``; unset = a widget inside a Jupyter kernel, text
    elsewhere. Keyword arguments go to tqdm (``total``, ``desc``, ``disable``, ...).
    """
    mode = os.environ.get("ERC_PROGRESS", "").strip().lower() or ("widget" if in_kernel() else "text")
    if mode not in ("widget", "text", "off"):
        raise ValueError(f"ERC_PROGRESS must be widget, text or off, got {mode!r}")
    if mode == "off":
        kwargs["disable"] = True
    if mode == "widget":
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
        kwargs.setdefault("mininterval", 10.0)
    return tqdm(iterable, **kwargs)


def in_kernel() -> bool:
    """Whether this process runs inside a Jupyter kernel (an IPython kernel app), as papermill and
    JupyterLab run notebooks; False in a plain Python or IPython terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
