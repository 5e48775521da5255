"""The description cache and driver (erc_lib/features/bios/cache.py): each description generated once,
never shared across models or prompts; unusable ones reported and given a zero h_desc."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bios_fakes import FakeDescriber, toy_data
from erc_lib.features.bios import PROMPT, encode_descriptions, generate_descriptions


def test_cache_generates_once_and_never_shares_text_across_models_or_prompts(tmp_path):
    data = toy_data()
    cache = tmp_path / "bios.json"
    fake = FakeDescriber("model-a")
    first, report = generate_descriptions(data, fake, None, cache_file=cache, progress=False)
    assert report.n_generated == report.n_pairs == len(first) and fake.calls == 1
    again, report2 = generate_descriptions(data, fake, None, cache_file=cache, progress=False)
    assert again == first and report2.n_cached == report2.n_pairs and fake.calls == 1
    assert report2.generation_seconds > 0  # model time of the cached run is kept
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert {"dataset", "dialogue_id", "speaker", "model", "prompt_sha1", "description"} <= set(entry)

    other_model = FakeDescriber("model-b")
    b, rep_b = generate_descriptions(data, other_model, None, cache_file=cache, progress=False)
    assert rep_b.n_generated == rep_b.n_pairs and all(b[k] != first[k] for k in first)
    other_settings = FakeDescriber("model-a", settings={"max_new_tokens": 32})
    _, rep_s = generate_descriptions(data, other_settings, None, cache_file=cache, progress=False)
    assert rep_s.n_generated == rep_s.n_pairs
    new_prompt = PROMPT.replace("250 words", "100 words")
    c, rep_c = generate_descriptions(data, FakeDescriber("model-a"), None, cache_file=cache, template=new_prompt,
                                     progress=False)
    assert rep_c.n_generated == rep_c.n_pairs and all(c[k] != first[k] for k in first)
    # the original entries are still there and still used
    again, rep = generate_descriptions(data, FakeDescriber("model-a"), None, cache_file=cache, progress=False)
    assert again == first and rep.n_generated == 0


@pytest.mark.slow
def test_garbled_descriptions_are_reported_and_get_zero_vectors(tmp_path):
    data = toy_data()
    fake = FakeDescriber(answer=lambda p: "" if "speaker Cleo?" in p else
                         "This speaker sounds curious and friendly, and asks many questions.")
    with pytest.warns(UserWarning, match="unusable"):
        descriptions, report = generate_descriptions(data, fake, None, cache_file=tmp_path / "c.json",
                                                     progress=False)
    flagged = {(p["dialogue_id"], p["speaker"]) for p in report.problems}
    assert flagged == {k for k in descriptions if k[1] == "Cleo"} and flagged
    assert {p["reason"] for p in report.problems} == {"empty"}
    table = encode_descriptions(descriptions, device="cpu", unusable=report.problems, progress=False)
    for k, v in table.items():
        assert v.shape == (384,) and (np.abs(v).sum() == 0) == (k in flagged)
