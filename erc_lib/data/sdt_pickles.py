"""The SDT authors' multimodal feature pickles (``iemocap-sdt``, ``meld-sdt``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .iemocap import IEMOCAP_LABELS
from .meld import MELD_LABELS
from .records import DataError, Dialogue, ERCData, clean_text, require_file, split_dev
from .safe_pickle import load_pickle

SDT_DIMS = {
    "iemocap-sdt": {"text": 1024, "audio": 1582, "visual": 342},
    "meld-sdt": {"text": 1024, "audio": 300, "visual": 342},
}
SDT_NOTES = ("The SDT authors' features (RoBERTa text, openSMILE audio, DenseFace visual); "
             "the authors had no dev split: ours is a fixed, seeded 10% of their train dialogues.")


def load_sdt_pickle(path: Path, name: str, dev_fraction: float = 0.1, seed: int = 0,
                    trust_pickle: bool | None = None) -> ERCData:
    """Load the SDT authors' multimodal feature pickle (``iemocap-sdt`` or ``meld-sdt``).

    Format (latin1 pickle): ``(videoIDs, videoSpeakers, videoLabels, videoText, roberta2,
    roberta3, roberta4, videoAudio, videoVisual, videoSentence, trainVid, testVid[, unused])``,
    dicts keyed by dialogue id. IEMOCAP speakers are ``'M'``/``'F'``; MELD speakers are 9-d
    one-hot vectors (a per-dialogue slot). Text is ``videoText`` (1024-d RoBERTa). Dev is a
    fixed, seeded ``dev_fraction`` of ``trainVid``.

    Raises:
        DataError: missing file, wrong tuple length, missing dialogue keys, or features of
            the wrong dimension / with NaN.
    """
    if name not in SDT_DIMS:
        raise ValueError(f"unknown SDT dataset {name!r}; expected one of {list(SDT_DIMS)}")
    require_file(path, "the SDT authors' feature pickle (Google Drive link in butterfliesss/SDT's README)")
    content = load_pickle(path, trust_pickle)
    expected_len = 12 if name == "iemocap-sdt" else 13
    if not isinstance(content, (tuple, list)) or len(content) not in (12, 13):
        raise DataError(f"{path}: expected a {expected_len}-tuple, got {type(content).__name__} of length {len(content)}")
    (ids, speakers, labels, text, _r2, _r3, _r4, audio, visual, sentences, train_vid, test_vid) = content[:12]
    label_names = IEMOCAP_LABELS if name == "iemocap-sdt" else MELD_LABELS

    def make(vid) -> Dialogue:
        try:
            spk = speakers[vid]
            names = [str(s) if isinstance(s, str) else f"slot{int(np.argmax(s))}" for s in spk]
            if name == "iemocap-sdt":
                names = [f"{str(vid)[:5]}_{s}" for s in names]
            else:
                names = [f"{vid}_{s}" for s in names]
            return Dialogue(
                dialogue_id=str(vid), speakers=names,
                texts=[clean_text(str(s)) for s in sentences[vid]],
                labels=np.asarray(labels[vid], dtype=np.int64),
                features={"text": np.asarray(text[vid], dtype=np.float32),
                          "audio": np.asarray(audio[vid], dtype=np.float32),
                          "visual": np.asarray(visual[vid], dtype=np.float32)})
        except KeyError as e:
            raise DataError(f"{path}: dialogue {vid!r} is missing from field {e}") from None

    train = [make(v) for v in sorted(train_vid)]
    test = [make(v) for v in sorted(test_vid)]
    train, dev = split_dev(train, dev_fraction, seed)
    return ERCData(name, label_names, {"train": train, "dev": dev, "test": test}, notes=SDT_NOTES).validate(SDT_DIMS[name])
