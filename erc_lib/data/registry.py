"""The datasets by name: one table (:data:`REGISTRY`) of each dataset's loader and the file that
shows its data is present; :data:`DATASETS`, :func:`load_dataset` and :func:`available_datasets`
read it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..paths import data_dir
from .emorynlp import load_emorynlp
from .iemocap import load_iemocap
from .meld import load_meld
from .mosi import load_mosi, load_mosi_clean
from .records import ERCData
from .sdt_pickles import load_sdt_pickle


@dataclass(frozen=True)
class DatasetSource:
    """How one dataset is loaded and how to tell that its files are present.

    Attributes:
        load: ``load(root, trust_pickle) -> ERCData``; ``root`` is the data folder
            (``ERC_DATA_DIR``), ``trust_pickle`` as in :func:`erc_lib.data.load_pickle`.
        marker: the file, relative to ``root``, whose presence shows the dataset is there.
    """

    load: Callable[[Path, bool | None], ERCData]
    marker: str


#: Dataset name -> its loader and marker file, in the study's order (the order of :data:`DATASETS`).
REGISTRY: dict[str, DatasetSource] = {
    "iemocap": DatasetSource(lambda root, trust: load_iemocap(root, trust), "iemocap/cosmic/iemocap.pkl"),
    "meld": DatasetSource(lambda root, trust: load_meld(root), "meld/official/train_sent_emo.csv"),
    "emorynlp": DatasetSource(lambda root, trust: load_emorynlp(root), "emorynlp/compm/EMORY_train.txt"),
    "mosi": DatasetSource(lambda root, trust: load_mosi(root, trust_pickle=trust), "mosi/bclstm/audio_2way.pickle"),
    "mosi-clean": DatasetSource(lambda root, trust: load_mosi_clean(root, trust_pickle=trust),
                                "mosi/cmu_mosi_standard_folds.json"),
    "iemocap-sdt": DatasetSource(
        lambda root, trust: load_sdt_pickle(root / "sdt" / "iemocap_multimodal_features.pkl", "iemocap-sdt",
                                            trust_pickle=trust),
        "sdt/iemocap_multimodal_features.pkl"),
    "meld-sdt": DatasetSource(
        lambda root, trust: load_sdt_pickle(root / "sdt" / "meld_multimodal_features.pkl", "meld-sdt",
                                            trust_pickle=trust),
        "sdt/meld_multimodal_features.pkl"),
}
DATASETS = tuple(REGISTRY)
#: Datasets whose dev split cannot rank settings: an input was trained on the videos dev is carved from.
SATURATED_DEV = {"mosi": "the bc-LSTM text and visual extractors were trained on the training videos, so dev "
                          "(carved from them) is saturated (weighted F1 98-100); use mosi-clean"}


def load_dataset(name: str, root: str | Path | None = None, trust_pickle: bool | None = None) -> ERCData:
    """Load a dataset by name (one of :data:`DATASETS`) from ``root`` (default
    :func:`erc_lib.paths.data_dir`, i.e. ``ERC_DATA_DIR``). Pickles are read without running
    code unless ``trust_pickle`` (or ``ERC_TRUST_PICKLES=1``) says they are trusted
    (:func:`erc_lib.data.load_pickle`).

    Raises:
        ValueError: unknown name.
        DataError: a missing file (the message names it and its source) or malformed data;
            :class:`erc_lib.data.UnsafePickleError` for a pickle that would run code.
    """
    root = Path(root) if root is not None else data_dir()
    source = REGISTRY.get(name) if isinstance(name, str) else None
    if source is None:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    return source.load(root, trust_pickle)


def available_datasets(root: str | Path | None = None) -> list[str]:
    """Names of the datasets whose files are present under ``root``."""
    root = Path(root) if root is not None else data_dir()
    return [n for n in DATASETS if (root / REGISTRY[n].marker).exists()]
