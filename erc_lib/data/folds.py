"""Cross-validation folds that test every dialogue of a dataset exactly once.

A claim measured on the standard split sees one test set: 31 IEMOCAP dialogues, 31 MOSI videos,
85 EmoryNLP scenes, a fifth to a tenth of each dataset. Cross-validation tests every dialogue
once, so the paired bootstrap (:func:`erc_lib.metrics.paired_bootstrap` with ``strata``) resamples
all of them.

The folds of a dataset (:data:`FOLDS`), the same rule for every dataset:

* **fold 0 is the standard split**, exactly: its train, dev and test are the dataset's own
  (IEMOCAP session 5, the CMU-MultimodalSDK MOSI test fold, EmoryNLP's official test scenes), so
  fold 0 reproduces every standard-split number and its fits are shared with it in the fit cache;
* **folds 1 .. k-1 split the standard train + dev dialogues** into groups, each the test set of one
  fold: IEMOCAP by session (fold ``s`` tests session ``s``, leave-one-session-out with scikit-learn's
  :class:`~sklearn.model_selection.LeaveOneGroupOut`), MOSI (``mosi-clean``) and EmoryNLP by a seeded
  :class:`~sklearn.model_selection.KFold` over videos / scenes;
* in folds 1 .. k-1, **dev is carved from the fold's training dialogues the way the standard dev is
  sized**: as many dialogues as the standard dev holds, drawn with a fixed seed
  (:func:`~sklearn.model_selection.train_test_split`), never from the fold's test dialogues;
* every split keeps the dataset's file order (train file, dev file, test file), so speaker
  histories (CoMPM, EmoNet) read past utterances in the order they were recorded.

MELD keeps its standard split (its claims already detect differences under one point).

Features are standardised per fold with the fold's own training statistics
(:func:`fold_data` takes the dataset *before* :func:`erc_lib.data.standardize_features`, or
re-standardises when asked), so no statistic of a fold's test dialogues reaches its inputs.

Tuning is not repeated per fold: the tuned settings (``configs/tuned/``) were chosen on the
standard split, whose training and dev dialogues are the test dialogues of folds 1 .. k-1. Fold 0
is the only fold whose test dialogues no tuning saw; the report compares it with the others.
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
from sklearn.model_selection import KFold, LeaveOneGroupOut, train_test_split

from .records import SPLITS, DataError, Dialogue, ERCData

#: Datasets measured by cross-validation -> number of folds (fold 0 = the standard split).
FOLDS = {"iemocap": 5, "mosi-clean": 3, "emorynlp": 5}
#: The fold whose train / dev / test are the dataset's standard split.
STANDARD_FOLD = 0
#: Seed of the random folds (MOSI, EmoryNLP) and of the dev carved in folds 1 .. k-1.
FOLD_SEED = 0

_IEMOCAP_SESSION = re.compile(r"^Ses0([1-5])")


def n_folds(name: str) -> int:
    """Number of folds of dataset ``name`` (fold 0 included).

    Raises:
        ValueError: a dataset without cross-validation folds (named, with those that have them).
    """
    if name not in FOLDS:
        raise ValueError(f"dataset {name!r} has no cross-validation folds; datasets with folds: {sorted(FOLDS)}")
    return FOLDS[name]


def _session(dialogue_id: str) -> int:
    match = _IEMOCAP_SESSION.match(dialogue_id)
    if match is None:
        raise DataError(f"IEMOCAP dialogue id {dialogue_id!r} does not name its session (expected 'Ses01...' to 'Ses05...')")
    return int(match.group(1))


def fold_of_dialogues(data: ERCData, seed: int = FOLD_SEED) -> dict[str, int]:
    """The fold whose test set holds each dialogue: ``{dialogue_id: fold}`` over every dialogue of
    ``data`` (train, dev and test of its standard split).

    Args:
        data: a dataset of :data:`FOLDS`, as loaded (its ``splits`` are the standard split).
        seed: seeds the random folds (MOSI, EmoryNLP).

    Raises:
        ValueError: a dataset without folds.
        DataError: a dataset whose dialogues do not fit its fold rule (IEMOCAP: a training
            dialogue of session 5, or a test dialogue of another session; a dialogue id twice).
    """
    k = n_folds(data.name)
    pool = data.splits["train"] + data.splits["dev"]
    ids = [d.dialogue_id for split in SPLITS for d in data.splits[split]]
    if len(ids) != len(set(ids)):
        raise DataError(f"{data.name}: a dialogue id occurs twice, so folds cannot be told apart")
    out = {d.dialogue_id: STANDARD_FOLD for d in data.splits["test"]}
    if data.name == "iemocap":
        sessions = np.array([_session(d.dialogue_id) for d in pool])
        test_sessions = {_session(d.dialogue_id) for d in data.splits["test"]}
        if test_sessions != {5} or (sessions == 5).any():
            raise DataError("IEMOCAP folds are sessions: the standard test must be session 5 and train/dev sessions 1-4 "
                            f"(test sessions {sorted(test_sessions)}, train/dev sessions {sorted(set(sessions))})")
        # LeaveOneGroupOut takes the sessions in sorted order: fold s tests session s (1-4)
        folds = [test_index for _, test_index in LeaveOneGroupOut().split(pool, groups=sessions)]
    else:
        folds = [np.sort(test_index) for _, test_index in KFold(n_splits=k - 1, shuffle=True, random_state=seed).split(pool)]
        folds.sort(key=lambda index: index[0])  # fold 1 holds the first dialogue of the files, and so on
    for fold, index in enumerate(folds, start=1):
        out.update({pool[i].dialogue_id: fold for i in index})
    return out


def fold_data(data: ERCData, fold: int, seed: int = FOLD_SEED) -> ERCData:
    """The train / dev / test split of one fold of ``data`` (see the module docstring).

    Each dialogue is a new :class:`~erc_lib.data.Dialogue` with its own ``features`` dict (the
    arrays are shared until replaced), so standardising one fold's features
    (:func:`erc_lib.data.standardize_features` replaces the arrays) leaves ``data`` and every other
    fold as they were. Pass ``data`` unstandardised
    (:func:`erc_lib.features.text.prepare_dataset` with ``standardize=False``) and standardise
    each fold with its own training statistics.

    Args:
        data: a dataset of :data:`FOLDS` with its standard split.
        fold: 0 (the standard split, returned with the same dialogues in the same order) to
            ``n_folds(data.name) - 1``.
        seed: seeds the random folds and the dev carved in folds 1 .. k-1.

    Returns:
        an :class:`ERCData` with the same name, label names and notes, ``fold`` set, and splits
        ``{"train", "dev", "test"}``: test = the fold's dialogues; dev = as many of the remaining
        dialogues as the standard dev holds (seeded); train = the rest; each in file order.

    Raises:
        ValueError: a dataset without folds, or a fold out of range (both named).
    """
    k = n_folds(data.name)
    if not isinstance(fold, (int, np.integer)) or isinstance(fold, bool) or not 0 <= fold < k:
        raise ValueError(f"{data.name} has folds 0 .. {k - 1} (0 = the standard split), got fold={fold!r}")
    fold = int(fold)
    own = lambda d: replace(d, features=dict(d.features))  # noqa: E731 - one fold's dialogue
    if fold == STANDARD_FOLD:
        return replace(data, splits={s: [own(d) for d in data.splits[s]] for s in SPLITS}, fold=STANDARD_FOLD)
    assignment = fold_of_dialogues(data, seed)
    ordered: list[Dialogue] = [own(d) for split in SPLITS for d in data.splits[split]]
    test = [d for d in ordered if assignment[d.dialogue_id] == fold]
    rest = [d for d in ordered if assignment[d.dialogue_id] != fold]
    _, dev_index = train_test_split(np.arange(len(rest)), test_size=len(data.splits["dev"]), random_state=seed)
    in_dev = np.zeros(len(rest), dtype=bool)
    in_dev[dev_index] = True
    splits = {"train": [d for d, dev in zip(rest, in_dev) if not dev], "dev": [d for d, dev in zip(rest, in_dev) if dev],
              "test": test}
    return replace(data, splits=splits, fold=fold).validate()
