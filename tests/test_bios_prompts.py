"""Speaker-bios prompts (erc_lib/features/bios/prompts.py): the seed prompt (Appendix A.2) built from
texts and names only, readable IEMOCAP names, the token budget and its truncation strategies, and
the checks that flag an unusable description."""
from __future__ import annotations


import pytest

from bios_fakes import LABELS, toy_data, words
from erc_lib.features.bios import PROMPT, build_requests, description_problem, speaker_display_name


def test_prompt_is_the_seed_prompt_from_texts_and_names_only():
    data = toy_data()
    requests = build_requests(data)
    assert len(requests) == sum(len(set(d.speakers)) for ds in data.splits.values() for d in ds)
    r = requests[0]
    d = data.splits["train"][0]
    conversation = "\n".join(f"{s}: {t}" for s, t in zip(d.speakers, d.texts))
    assert r.prompt == PROMPT.format(conversation=conversation, speaker_name=r.speaker_name)
    assert "what do you think about the characteristics of speaker Anna?" in r.prompt
    assert "(Note: provide an answer within 250 words)" in r.prompt
    for req in requests:
        for label in LABELS:
            assert label not in req.prompt
    # changing every label changes no prompt
    other = toy_data(labels=[2, 1, 0, 2, 1])
    assert [q.prompt for q in build_requests(other)] == [q.prompt for q in requests]


def test_iemocap_speakers_get_readable_pseudo_names():
    assert speaker_display_name("iemocap", "Ses01_M") != speaker_display_name("iemocap", "Ses01_F")
    assert speaker_display_name("iemocap", "Ses03_F") == speaker_display_name("iemocap-sdt", "Ses03_F")
    assert speaker_display_name("meld", "Rachel Green") == "Rachel Green"
    data = toy_data("iemocap")
    for ds in data.splits.values():
        for d in ds:
            d.speakers = [f"Ses02_{'M' if s == 'Anna' else 'F'}" for s in d.speakers]
    for r in build_requests(data):
        assert "Ses02" not in r.prompt and r.speaker_name in r.prompt


def test_token_budget_keeps_whole_utterances_from_the_start():
    data = toy_data()
    full = build_requests(data)
    cut = build_requests(data, max_conversation_tokens=14, count_tokens=words, strategy="start")
    d = data.splits["train"][2]  # 5 utterances, 7 words each + name
    r = [q for q in cut if q.dialogue_id == d.dialogue_id]
    assert r[0].utterances_kept == 2 and d.texts[1] in r[0].prompt and d.texts[2] not in r[0].prompt
    assert {q.speaker: q.speaker_in_prompt for q in r} == {"Anna": True, "Ben": True, "Cleo": False}
    assert all(len(a.prompt) >= len(b.prompt) for a, b in zip(full, cut))


def test_speaker_strategy_keeps_the_described_speakers_turns():
    data = toy_data()
    d = data.splits["train"][2]
    cut = {q.speaker: q for q in build_requests(data, max_conversation_tokens=14, count_tokens=words)
           if q.dialogue_id == d.dialogue_id}
    assert all(q.speaker_in_prompt for q in cut.values())          # every speaker reads his own words
    last = max(i for i, s in enumerate(d.speakers) if s == "Cleo")
    assert d.texts[last] in cut["Cleo"].prompt and d.texts[last - 1] in cut["Cleo"].prompt  # and what it answers
    whole = build_requests(data)                                     # no budget: the whole dialogue (BiosERC)
    assert all(all(t in q.prompt for t in data.splits["train"][2].texts) for q in whole if q.dialogue_id == d.dialogue_id)
    with pytest.raises(ValueError):
        build_requests(data, max_conversation_tokens=10)  # budget without a tokenizer
    with pytest.raises(ValueError):
        build_requests(data, template="no placeholders")


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("   \n", "empty"), ("Calm and kind.", "too short"),
    ("1234 5678 !!!! #### ---- 42 ab", "mostly non-alphabetic"),
    ("she is kind " * 10, "repeating"),
    ("Anna: I lost my job today.\nBen: Oh no, what happened at work?", "continues the dialogue"),
    ("Anna is warm and patient, but she gets frustrated quickly when Ben ignores her questions.", None),
])
def test_description_problem(text, reason):
    assert description_problem(text) == reason
