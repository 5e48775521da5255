"""erc_lib: a small library for reproducing Emotion Recognition in Conversation papers.

Modules: :mod:`.data` (datasets, batching), :mod:`.features` (utterance features),
:mod:`.losses`, :mod:`.metrics`, :mod:`.training` (one trainer), :mod:`.results`
(JSON rows and tables), :mod:`.published` (published numbers, cited), :mod:`.plots`,
and :mod:`.models` (one module per paper model).
"""
__version__ = "0.1.0"
