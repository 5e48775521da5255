"""Tables that describe the datasets (notebook 01): splits, label shares, dialogue lengths and
speakers, each a tidy DataFrame."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .records import DataError, ERCData
from .registry import available_datasets, load_dataset
from ..paths import data_dir


def load_present(names: list[str]) -> dict[str, ERCData]:
    """Load every dataset of ``names`` whose files are under ``ERC_DATA_DIR``; print the missing.

    Raises :class:`erc_lib.data.DataError` naming the data folder when none of them is present."""
    present = available_datasets()
    missing = [n for n in names if n not in present]
    if len(missing) == len(names):
        raise DataError(f"none of the datasets {names} was found under {data_dir()}; set ERC_DATA_DIR to the "
                        "folder that holds iemocap/, meld/, emorynlp/, mosi/ (README.md, 'Data')")
    print(f"data folder: {data_dir()} | present: {[n for n in names if n in present]} | missing: {missing}")
    return {n: load_dataset(n) for n in names if n in present}


def split_table(datasets: dict[str, ERCData]) -> pd.DataFrame:
    """Per dataset and split (and ``all``): dialogues, utterances, distinct speakers, utterances per dialogue."""
    rows = []
    for name, data in datasets.items():
        summary = data.summary()
        for split, s in summary.items():
            rows.append({"dataset": name, "split": split, **s, "utterances / dialogue": round(s["utterances"] / s["dialogues"], 1)})
        total = {k: sum(v[k] for v in summary.values()) for k in ("dialogues", "utterances")}
        rows.append({"dataset": name, "split": "all", **total, "speakers": len(data.speaker_vocab()),
                     "utterances / dialogue": round(total["utterances"] / total["dialogues"], 1)})
    return pd.DataFrame(rows)


def label_table(datasets: dict[str, ERCData]) -> pd.DataFrame:
    """Per dataset, split and label: utterance count and share in percent."""
    rows = []
    for name, data in datasets.items():
        for split, dialogues in data.splits.items():
            counts = np.bincount(np.concatenate([d.labels for d in dialogues]), minlength=data.n_classes)
            rows += [{"dataset": name, "split": split, "label": label, "count": int(c),
                      "share %": round(100 * c / counts.sum(), 1)} for label, c in zip(data.label_names, counts)]
    return pd.DataFrame(rows)


def length_table(datasets: dict[str, ERCData]) -> pd.DataFrame:
    """One row per dialogue: dataset, split, utterances, distinct speakers."""
    return pd.DataFrame([{"dataset": name, "split": split, "utterances": len(d), "speakers": len(set(d.speakers))}
                         for name, data in datasets.items() for split, ds in data.splits.items() for d in ds])


def top_speakers(datasets: dict[str, ERCData], n: int = 8) -> pd.DataFrame:
    """The ``n`` speakers with most utterances per dataset, with their share of the utterances."""
    frames = []
    for name, data in datasets.items():
        counts = pd.Series([s for ds in data.splits.values() for d in ds for s in d.speakers]).value_counts()
        frames.append(pd.DataFrame({"dataset": name, "speaker": counts.index[:n], "utterances": counts.values[:n],
                                    "share of utterances %": (100 * counts.values[:n] / counts.sum()).round(1)}))
    return pd.concat(frames, ignore_index=True)
