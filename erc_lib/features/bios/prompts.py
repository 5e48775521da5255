"""What the language model is asked: the seed's prompt (Appendix A.2), the speakers' display names,
the dialogue as text (truncated to a token budget), one request per (dialogue, speaker), and the
checks that flag an unusable answer."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...data import SPLITS, Dialogue, ERCData

# Seed report, Appendix A.2, verbatim (the two placeholders are filled per dialogue and speaker).
PROMPT = (
    "Given this conversation between speakers:\n\n"
    "{conversation}\n\n"
    "In overall above conversation, what do you think about the characteristics of speaker {speaker_name}?\n\n"
    "(Note: provide an answer within 250 words)"
)


# IEMOCAP speakers are "Ses0k_M" / "Ses0k_F" (one actor per session and gender). Like
# BiosERC, the language model sees a fixed, readable pseudo-name per session x gender.
IEMOCAP_PSEUDO_NAMES = {
    "Ses01_F": "Emma", "Ses01_M": "James", "Ses02_F": "Olivia", "Ses02_M": "Henry",
    "Ses03_F": "Sophia", "Ses03_M": "Daniel", "Ses04_F": "Grace", "Ses04_M": "Thomas",
    "Ses05_F": "Chloe", "Ses05_M": "Samuel",
}


# ----------------------------------------------------------------------------- prompts
def speaker_display_name(dataset: str, speaker: str) -> str:
    """The name the language model sees for a dataset-wide speaker name: IEMOCAP's
    ``Ses0k_G`` codes become fixed pseudo-names (:data:`IEMOCAP_PSEUDO_NAMES`), other
    datasets (MELD, EmoryNLP: character names) keep the real name."""
    if dataset.startswith("iemocap"):
        if speaker in IEMOCAP_PSEUDO_NAMES:
            return IEMOCAP_PSEUDO_NAMES[speaker]
        return f"Speaker {speaker.split('_')[-1]}"
    return speaker


TRUNCATION_STRATEGIES = ("speaker", "start")


def conversation_text(dialogue: Dialogue, names: list[str], max_tokens: int | None = None,
                      count_tokens=None, speaker: str | None = None, strategy: str = "speaker") -> tuple[str, int]:
    """``"Name: utterance"`` lines of ``dialogue`` (texts and speaker names only).

    Args:
        dialogue: the dialogue; only ``texts`` and ``speakers`` are read (labels never are).
        names: display name per utterance.
        max_tokens: token budget for the conversation; None keeps the whole dialogue (BiosERC).
        count_tokens: ``str -> int`` (the generator's tokenizer); needed with ``max_tokens``.
        speaker: the described speaker (for ``strategy="speaker"``).
        strategy: what a dialogue over the budget keeps, whole utterances in dialogue order:
            ``"speaker"``: every utterance of ``speaker`` and the one just before each (the turn
            it answers), from the start while they fit, so the description reads the speaker's
            own words; ``"start"``: the utterances from the start while they fit. At least one
            utterance is always kept.

    Returns: ``(text, n_utterances_kept)``.
    Raises: ValueError for an unknown strategy, or a budget without ``count_tokens``.
    """
    if strategy not in TRUNCATION_STRATEGIES:
        raise ValueError(f"strategy must be one of {TRUNCATION_STRATEGIES}, got {strategy!r}")
    lines = [f"{n}: {t}" for n, t in zip(names, dialogue.texts)]
    if max_tokens is None:
        return "\n".join(lines), len(lines)
    if count_tokens is None:
        raise ValueError("a token budget needs count_tokens")
    costs = [count_tokens(line + "\n") for line in lines]
    if sum(costs) <= max_tokens:
        return "\n".join(lines), len(lines)
    order = range(len(lines))
    if strategy == "speaker" and speaker is not None:
        own = [i for i, s in enumerate(dialogue.speakers) if s == speaker]
        order = sorted({j for i in own for j in (i - 1, i) if j >= 0})
    kept, used = [], 0
    for i in order:
        if kept and used + costs[i] > max_tokens:
            break
        kept.append(i)
        used += costs[i]
    return "\n".join(lines[i] for i in kept), len(kept)


@dataclass(frozen=True)
class BioRequest:
    """One description to write: the speaker ``speaker`` of ``dialogue_id`` in ``dataset``,
    named ``speaker_name`` in ``prompt`` (the user message, :data:`PROMPT` filled in)."""

    dataset: str
    dialogue_id: str
    speaker: str
    speaker_name: str
    prompt: str
    utterances_kept: int
    speaker_in_prompt: bool


def build_requests(data: ERCData, max_conversation_tokens: int | None = None, count_tokens=None,
                   template: str = PROMPT, splits: tuple[str, ...] = SPLITS,
                   strategy: str = "speaker") -> list[BioRequest]:
    """One :class:`BioRequest` per (dialogue, speaker) pair of ``splits``, speakers in order
    of first appearance. The prompt is built from utterance texts and speaker display
    names only (:func:`speaker_display_name`); labels are never read. Dialogues over
    ``max_conversation_tokens`` are cut by ``strategy`` (:func:`conversation_text`).

    Raises ValueError when ``template`` lacks ``{conversation}`` or ``{speaker_name}``."""
    if "{conversation}" not in template or "{speaker_name}" not in template:
        raise ValueError("the prompt template needs {conversation} and {speaker_name}")
    requests = []
    for split in splits:
        for d in data.splits[split]:
            names = [speaker_display_name(data.name, s) for s in d.speakers]
            for speaker in dict.fromkeys(d.speakers):
                text, kept = conversation_text(d, names, max_conversation_tokens, count_tokens, speaker, strategy)
                name = speaker_display_name(data.name, speaker)
                prompt = template.replace("{conversation}", text).replace("{speaker_name}", name)
                requests.append(BioRequest(data.name, d.dialogue_id, speaker, name, prompt, kept,
                                           f"{name}: " in text))
    return requests


# ----------------------------------------------------------------------------- checks
def description_problem(text: str, min_words: int = 5, min_alpha: float = 0.6,
                        min_distinct_trigrams: float = 0.4) -> str | None:
    """Why a generated description is unusable, or None when it looks fine.

    Flags: ``"empty"``; ``"too short"`` (fewer than ``min_words`` words); ``"mostly
    non-alphabetic"`` (letters are less than ``min_alpha`` of the non-space characters);
    ``"repeating"`` (with 12+ words, distinct word trigrams are less than
    ``min_distinct_trigrams`` of all trigrams, i.e. the model looped); ``"continues the
    dialogue"`` (two or more lines start like a transcript turn, ``"Name: ..."``)."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    words = stripped.split()
    if len(words) < min_words:
        return "too short"
    chars = [c for c in stripped if not c.isspace()]
    if sum(c.isalpha() for c in chars) < min_alpha * len(chars):
        return "mostly non-alphabetic"
    if len(words) >= 12:
        lowered = [w.lower() for w in words]
        trigrams = list(zip(lowered, lowered[1:], lowered[2:]))
        if len(set(trigrams)) < min_distinct_trigrams * len(trigrams):
            return "repeating"
    if len(_TURN.findall(stripped)) >= 2:
        return "continues the dialogue"
    return None


_TURN = re.compile(r"(?:^|\n)[ \t]*[A-Z][\w'.-]*(?: [A-Z][\w'.-]*)?:[ \t]", re.MULTILINE)
