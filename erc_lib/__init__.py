"""erc_lib: a small library for reproducing Emotion Recognition in Conversation papers.

Read from the bottom up: :mod:`.runtime` (device, seeds, threads) and :mod:`.paths`; :mod:`.data`
(datasets, batching, speakers, folds); :mod:`.features` (text, LoRA, audio, speaker bios);
:mod:`.models` (one module per paper model, and the baselines); :mod:`.losses`, :mod:`.metrics`;
:mod:`.training` (the one trainer) and :mod:`.experiment` (the one experiment loop); :mod:`.zoo`
(models by name and their settings), :mod:`.tune`, :mod:`.bench`, :mod:`.claims`;
:mod:`.notebook`, :mod:`.results`, :mod:`.published`, :mod:`.plots`, :mod:`.data.describe` for the
notebooks; :mod:`.report` for the one-command report.
"""
from . import runtime  # noqa: F401  (sets CUBLAS_WORKSPACE_CONFIG before anything initialises CUDA)

__version__ = "0.2.0"
