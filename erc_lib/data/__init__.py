"""One representation for every ERC dataset, the loaders, and dialogue batching (a package; its
names are re-exported here, so ``from erc_lib.data import load_dataset`` works).

A dataset is a set of :class:`Dialogue` objects split into ``train`` / ``dev`` / ``test``.
Each dialogue holds per-utterance speakers, texts, labels and optional per-modality
feature matrices ``(n_utterances, dim)``. :class:`DialogueDataset` and
:func:`collate_dialogues` pad a batch of dialogues to ``(batch, max_len, dim)`` with an
utterance mask, which is what every model in :mod:`erc_lib.models` reads.

Datasets by name (see :func:`load_dataset`):

==============  ======================================================  ==============
name            source (under ``ERC_DATA_DIR``)                          modalities
==============  ======================================================  ==============
``iemocap``     ``iemocap/cosmic/iemocap.pkl`` (COSMIC), 6 classes       text (strings)
``meld``        ``meld/official/{train,dev,test}_sent_emo.csv``          text (strings)
``emorynlp``    ``emorynlp/compm/EMORY_{train,dev,test}.txt`` (CoMPM)    text (strings)
``mosi``        ``mosi/bclstm/`` bc-LSTM features, binary sentiment      t 100, a 73, v 100
``mosi-clean``  bc-LSTM audio + ``transcripts.csv``, SDK standard folds   a 73, text (strings)
``iemocap-sdt`` ``sdt/iemocap_multimodal_features.pkl`` (SDT authors)    t 1024, a 1582, v 342
``meld-sdt``    ``sdt/meld_multimodal_features.pkl`` (SDT authors)       t 1024, a 300, v 342
==============  ======================================================  ==============

Text-only datasets get their ``text`` feature matrix from a sentence encoder, see
:func:`erc_lib.features.text.add_text_features`.

Modules: :mod:`.records` (:class:`Dialogue`, :class:`ERCData`, transcript repair), :mod:`.safe_pickle`
(the allow-list unpickler), one loader module per corpus (:mod:`.iemocap`, :mod:`.meld`,
:mod:`.emorynlp`, :mod:`.mosi`, :mod:`.sdt_pickles`, :mod:`.emodb`), :mod:`.registry` (the table
above as code), :mod:`.batches` (padding), :mod:`.speakers` (speaker identities and histories),
:mod:`.folds` (cross-validation folds), :mod:`.describe` (notebook 01's tables) and the command
line ``python -m erc_lib.data convert`` (:mod:`.__main__`).
"""
from __future__ import annotations

from .batches import DialogueBatch, DialogueDataset, collate_dialogues
from .emorynlp import EMORYNLP_LABELS, load_emorynlp, read_tsv_dialogues
from .iemocap import IEMOCAP_LABELS, load_iemocap
from .meld import MELD_LABELS, load_meld
from .mosi import MOSI_CLEAN_NOTES, MOSI_LABELS, MOSI_NOTES, load_mosi, load_mosi_clean, mosi_csv_order
from .records import (MODALITIES, SPLITS, DataError, Dialogue, ERCData, canonical_modalities, clean_text,
                      require_file, split_dev, standardize_features, subset_dialogues)
from .registry import DATASETS, REGISTRY, SATURATED_DEV, DatasetSource, available_datasets, load_dataset
from .safe_pickle import (SAFE_PICKLE_GLOBALS, UnsafePickleError, convert_pickle, load_pickle, read_safe_archive,
                          safe_archive_path, trusted_pickles)
from .sdt_pickles import SDT_DIMS, SDT_NOTES, load_sdt_pickle

__all__ = [
    "DATASETS", "EMORYNLP_LABELS", "IEMOCAP_LABELS", "MELD_LABELS", "MODALITIES", "MOSI_CLEAN_NOTES", "MOSI_LABELS",
    "MOSI_NOTES", "REGISTRY", "SAFE_PICKLE_GLOBALS", "SATURATED_DEV", "SDT_DIMS", "SDT_NOTES", "SPLITS",
    "DataError", "DatasetSource", "Dialogue", "DialogueBatch", "DialogueDataset", "ERCData", "UnsafePickleError",
    "available_datasets", "canonical_modalities", "clean_text", "collate_dialogues", "convert_pickle",
    "load_dataset", "load_emorynlp", "load_iemocap", "load_meld", "load_mosi", "load_mosi_clean", "load_pickle",
    "load_sdt_pickle", "mosi_csv_order", "read_safe_archive", "read_tsv_dialogues", "require_file",
    "safe_archive_path", "split_dev", "standardize_features", "subset_dialogues", "trusted_pickles",
]
