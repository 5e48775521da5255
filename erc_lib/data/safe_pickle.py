"""Reading the authors'-format feature pickles without letting them run code: an allow-list
unpickler (:data:`SAFE_PICKLE_GLOBALS`), and the pickle-free ``.safe.npz`` copy
(:func:`convert_pickle`) that :func:`load_pickle` reads instead when present."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

from ..paths import atomic_write
from .records import DataError

# Classes an ERC feature pickle may need: numpy arrays, dtypes and scalars, and plain containers.
SAFE_PICKLE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list"), ("builtins", "dict"),
    ("builtins", "tuple"), ("builtins", "slice"), ("builtins", "complex"), ("builtins", "bytearray"),
    ("builtins", "str"), ("builtins", "int"), ("builtins", "float"), ("builtins", "bool"),
    ("_codecs", "encode"),  # how protocol-2 pickles (Python 2 era) store bytes; it only encodes a string
}


class UnsafePickleError(DataError):
    """A pickle asked for a class outside :data:`SAFE_PICKLE_GLOBALS`; nothing in it ran."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only :data:`SAFE_PICKLE_GLOBALS`: a pickle that would import anything else (and so
    could run code, e.g. ``os.system`` through ``__reduce__``) is refused before it runs."""

    path: Path = Path("<pickle>")

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_PICKLE_GLOBALS or (module.startswith("numpy") and name == "dtype"):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.path}: refused to load: the pickle asks for {module}.{name}, which is not a numpy array or a "
            "plain container, so loading it could run code. If you trust this file (e.g. you downloaded it from "
            "the authors' link yourself), load it with trust_pickle=True or set ERC_TRUST_PICKLES=1, or convert "
            "it once with `python -m erc_lib.data convert PATH --trust` and keep the .safe.npz it writes.")


def trusted_pickles() -> bool:
    """True when ``ERC_TRUST_PICKLES`` is 1/true/yes (the user vouches for every pickle)."""
    return os.environ.get("ERC_TRUST_PICKLES", "").strip().lower() in {"1", "true", "yes", "on"}


def safe_archive_path(path: Path) -> Path:
    """Where :func:`convert_pickle` writes the pickle-free copy of ``path``: ``<name>.safe.npz``."""
    return path.with_name(path.name + ".safe.npz")


def load_pickle(path: Path, trust_pickle: bool | None = None):
    """Load an authors'-format pickle (``latin1``) without letting it run code.

    A pickle-free copy ``<name>.safe.npz`` beside it (:func:`convert_pickle`) is read instead
    when present. Otherwise the pickle is read through an allow-list unpickler (numpy arrays
    and plain containers only, :data:`SAFE_PICKLE_GLOBALS`) unless ``trust_pickle`` (or
    ``ERC_TRUST_PICKLES=1``) says the file is trusted.

    Raises:
        UnsafePickleError: the file needs another class (it names the class and how to allow it).
        DataError: a truncated or corrupt file (named, with the likely cause and the fix).
    """
    path = Path(path)
    safe = safe_archive_path(path)
    if safe.exists():
        return read_safe_archive(safe)
    trust = trusted_pickles() if trust_pickle is None else trust_pickle
    try:
        with open(path, "rb") as f:
            if trust:
                return pickle.load(f, encoding="latin1")
            unpickler = _RestrictedUnpickler(f, encoding="latin1")
            unpickler.path = path
            return unpickler.load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        size = path.stat().st_size if path.exists() else 0
        raise DataError(f"{path}: cannot read this pickle ({type(e).__name__}: {e}); {size} bytes on disk. "
                        "Likely a truncated or interrupted download or a file of another format: download it "
                        "again and compare it with the SHA256SUMS of its source (see README.md, 'Data').") from None


def _to_structure(obj, arrays: dict) -> object:
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": [[_to_structure(k, arrays), _to_structure(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__": [_to_structure(v, arrays) for v in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [_to_structure(v, arrays) for v in sorted(obj, key=repr)]}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} pickle-free")


def _from_structure(node, arrays):
    if isinstance(node, dict):
        (tag, value), = node.items()
        if tag == "__array__":
            return arrays[value]
        if tag == "__dict__":
            return {_hashable(_from_structure(k, arrays)): _from_structure(v, arrays) for k, v in value}
        items = [_from_structure(v, arrays) for v in value]
        return {"__list__": list, "__tuple__": tuple, "__set__": set}[tag](items)
    return node


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def convert_pickle(path: str | Path, trust_pickle: bool = False) -> Path:
    """Write a pickle-free copy of an authors'-format pickle beside it (``<name>.safe.npz``:
    the arrays, and the nesting as JSON); :func:`load_pickle` reads it from then on.

    The pickle itself is read through the allow-list unpickler unless ``trust_pickle``.
    Returns the new file's path."""
    path = Path(path)
    content = load_pickle(path, trust_pickle=trust_pickle)
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps(_to_structure(content, arrays))
    target = safe_archive_path(path)
    atomic_write(target, lambda tmp: np.savez(tmp, __structure__=np.array(structure), **arrays))
    return target


def read_safe_archive(path: Path):
    """Read a :func:`convert_pickle` archive (no pickle involved)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "__structure__"}
            return _from_structure(json.loads(str(z["__structure__"])), arrays)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: damaged pickle-free archive ({type(e).__name__}: {e}); delete it and run "
                        "`python -m erc_lib.data convert` on the original pickle again") from None
