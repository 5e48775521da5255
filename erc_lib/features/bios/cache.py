"""The description cache (keyed by dataset, dialogue, speaker, model, rendered prompt and decoding
settings) and the driver :func:`generate_descriptions`, which writes every missing description once
and reports the unusable ones (:class:`BiosReport`)."""
from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ...data import ERCData
from ...paths import cache_dir as default_cache_dir
from ...paths import write_json
from .prompts import PROMPT, BioRequest, build_requests, description_problem

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
