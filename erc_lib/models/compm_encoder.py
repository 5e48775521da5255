"""CoMPM's engineering around the paper's model (:mod:`erc_lib.models.compm`): the padded batch of
dialogues (speaker tags, PM histories, token sequences) and the chunked, gradient-checkpointed
Hugging Face encoder that keeps finetune mode's memory flat in the dialogue's length."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.utils.checkpoint
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from ..data import Dialogue

# ============================================================================ batches
@dataclass
class CoMPMBatch:
    """A padded batch of dialogues for :class:`CoMPM` (``B`` dialogues, ``L`` utterances,
    ``W`` history slots, ``T`` tokens).

    Attributes:
        labels: ``(B, L)`` int64, -100 at padding.
        mask: ``(B, L)`` bool, True at real utterances.
        speakers: ``(B, L)`` int64 speaker tags (per-dialogue or global, see :func:`speaker_tags`).
        history_len: ``(B, L)`` int64 number of history utterances of each utterance.
        features: frozen mode: ``(B, L, D)`` cached utterance embeddings.
        history: frozen mode: ``(B, L, W, D)`` embeddings of the history utterances (zeros past
            ``history_len``).
        context_ids, context_attention: finetune mode: ``(B, L, T)`` token ids and attention
            mask of each utterance's speaker-tagged, left-truncated context.
        history_ids, history_attention: finetune mode: ``(B, L, W, T)`` tokens of each history
            utterance.
        dialogue_ids: the ``B`` dialogue ids.
    """

    labels: torch.Tensor
    mask: torch.Tensor
    speakers: torch.Tensor
    history_len: torch.Tensor
    features: torch.Tensor | None = None
    history: torch.Tensor | None = None
    context_ids: torch.Tensor | None = None
    context_attention: torch.Tensor | None = None
    history_ids: torch.Tensor | None = None
    history_attention: torch.Tensor | None = None
    dialogue_ids: list[str] = field(default_factory=list)

    def to(self, device, non_blocking: bool = False) -> "CoMPMBatch":
        """The batch on ``device``; ``non_blocking=True`` copies asynchronously from pinned memory."""
        move = lambda x: x.to(device, non_blocking=non_blocking) if isinstance(x, torch.Tensor) else x
        return CoMPMBatch(**{k: move(v) for k, v in self.__dict__.items()})

    def pin_memory(self) -> "CoMPMBatch":
        """The batch in page-locked memory (called by ``DataLoader(pin_memory=True)``)."""
        return CoMPMBatch(**{k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()})

    @property
    def n_utterances(self) -> int:
        return int(self.mask.sum())


class CoMPMDataset(torch.utils.data.Dataset):
    """One split's dialogues with speaker tags and PM histories, for either encoder mode.

    Args:
        dialogues: the split's dialogues.
        tags: ``{dialogue_id: (n,) int64}`` from :func:`speaker_tags`.
        history: ``{dialogue_id: [[flat indices], ...]}`` from :func:`speaker_history`.
        embeddings: frozen mode: ``(n_total, D)`` utterance matrix in file order
            (:func:`utterance_table` with a modality); the current dialogue's own vectors
            are read from ``dialogue.features[modality]``.
        texts: finetune mode: all utterance texts in file order.
        tokenizer: finetune mode: a Hugging Face tokenizer with CLS/SEP (or BOS/EOS) tokens.
        max_context_tokens: finetune: context length incl. special tokens (left-truncated).
        max_utterance_tokens: finetune: history-utterance length incl. special tokens.
        offsets: finetune mode: :func:`utterance_offsets` (flat index of each dialogue's
            first utterance, to find its texts).
        modality: feature name used in frozen mode.
    Raises:
        ValueError: neither or both of ``embeddings`` and ``tokenizer`` given, or finetune
            mode without ``texts``/``offsets``.
    """

    def __init__(self, dialogues: list[Dialogue], tags: dict, history: dict, embeddings: np.ndarray | None = None,
                 texts: list[str] | None = None, tokenizer=None, max_context_tokens: int = 512,
                 max_utterance_tokens: int = 64, offsets: dict[str, int] | None = None, modality: str = "text"):
        if (embeddings is None) == (tokenizer is None):
            raise ValueError("give exactly one of embeddings (frozen mode) or tokenizer + texts (finetune mode)")
        self.dialogues, self.tags, self.history = list(dialogues), tags, history
        self.embeddings, self.modality = embeddings, modality
        self.tokenizer = tokenizer
        if tokenizer is not None:
            if texts is None or offsets is None:
                raise ValueError("finetune mode needs the texts of all utterances and their offsets")
            self.texts, self.offsets = texts, offsets
            self.max_context_tokens, self.max_utterance_tokens = max_context_tokens, max_utterance_tokens
            self.cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
            self.sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
            self._token_cache: dict[int, list[int]] = {}
            self._tag_cache: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self.dialogues)

    def _tokens(self, flat_index: int) -> list[int]:
        if flat_index not in self._token_cache:
            self._token_cache[flat_index] = self.tokenizer(self.texts[flat_index], add_special_tokens=False)["input_ids"]
        return self._token_cache[flat_index]

    def _tag(self, tag: int) -> list[int]:
        # CoMPM prefixes each turn with "<s{k}> " as plain text (BPE'd, not a new token);
        # EmoNet writes the global id + 1 there.
        if tag not in self._tag_cache:
            self._tag_cache[tag] = self.tokenizer(f"<s{tag + 1}>", add_special_tokens=False)["input_ids"]
        return self._tag_cache[tag]

    def __getitem__(self, i: int) -> dict:
        d = self.dialogues[i]
        tags = self.tags[d.dialogue_id]
        hist = self.history[d.dialogue_id]
        item = {"id": d.dialogue_id, "labels": torch.as_tensor(d.labels, dtype=torch.int64),
                "speakers": torch.as_tensor(tags, dtype=torch.int64),
                "history_len": torch.tensor([len(h) for h in hist], dtype=torch.int64)}
        if self.embeddings is not None:
            width = max(1, max(len(h) for h in hist))
            dim = self.embeddings.shape[1]
            past = np.zeros((len(d), width, dim), dtype=np.float32)
            for j, h in enumerate(hist):
                if h:
                    past[j, : len(h)] = self.embeddings[h]
            item["features"] = torch.from_numpy(np.ascontiguousarray(d.features[self.modality], dtype=np.float32))
            item["history"] = torch.from_numpy(past)
            return item
        # finetune: tokens of "<s{k}> u_1 <s{k}> u_2 ... <s{k}> u_t", left-truncated.
        start = self.offsets[d.dialogue_id]
        turns, contexts = [], []
        for j in range(len(d)):
            turns.extend(self._tag(int(tags[j])) + self._tokens(start + j))
            body = turns[-(self.max_context_tokens - 2):]
            contexts.append(torch.tensor([self.cls_id, *body, self.sep_id], dtype=torch.int64))
        histories = [[torch.tensor([self.cls_id, *self._tokens(h)[: self.max_utterance_tokens - 2], self.sep_id],
                                   dtype=torch.int64) for h in row] for row in hist]
        item["contexts"], item["histories"] = contexts, histories
        return item


def collate_compm(items: list[dict], pad_id: int = 0) -> CoMPMBatch:
    """Pad :meth:`CoMPMDataset.__getitem__` items into a :class:`CoMPMBatch` (padding is
    masked: labels -100, ``mask`` False, attention 0, ``history_len`` 0)."""
    B, L = len(items), max(len(it["labels"]) for it in items)
    labels = pad_sequence([it["labels"] for it in items], batch_first=True, padding_value=-100)
    batch = CoMPMBatch(
        labels=labels, mask=labels != -100,
        speakers=pad_sequence([it["speakers"] for it in items], batch_first=True),
        history_len=pad_sequence([it["history_len"] for it in items], batch_first=True),
        dialogue_ids=[it["id"] for it in items])
    if "features" in items[0]:
        W = max(it["history"].shape[1] for it in items)
        D = items[0]["features"].shape[1]
        batch.features = pad_sequence([it["features"] for it in items], batch_first=True)
        batch.history = torch.zeros(B, L, W, D)
        for b, it in enumerate(items):
            h = it["history"]
            batch.history[b, : h.shape[0], : h.shape[1]] = h
        return batch
    T = max(len(c) for it in items for c in it["contexts"])
    Th = max([len(h) for it in items for row in it["histories"] for h in row] or [1])
    W = max([len(row) for it in items for row in it["histories"]] or [1]) or 1
    batch.context_ids = torch.full((B, L, T), pad_id, dtype=torch.int64)
    batch.context_attention = torch.zeros(B, L, T, dtype=torch.int64)
    batch.history_ids = torch.full((B, L, W, Th), pad_id, dtype=torch.int64)
    batch.history_attention = torch.zeros(B, L, W, Th, dtype=torch.int64)
    for b, it in enumerate(items):
        for j, c in enumerate(it["contexts"]):
            batch.context_ids[b, j, : len(c)] = c
            batch.context_attention[b, j, : len(c)] = 1
        for j, row in enumerate(it["histories"]):
            for k, h in enumerate(row):
                batch.history_ids[b, j, k, : len(h)] = h
                batch.history_attention[b, j, k, : len(h)] = 1
    return batch


# ============================================================================ chunked encoder
def load_encoder(cfg) -> nn.Module:
    """The Hugging Face encoder ``cfg.encoder`` of a :class:`erc_lib.models.compm.CoMPMConfig`
    (:func:`erc_lib.features.text.load_text_encoder`),
    wrapped in LoRA adapters (peft) when ``cfg.finetune == "lora"``. Raises ValueError for
    another ``finetune`` value than ``"full"`` / ``"lora"``."""
    from ..features.text import load_text_encoder  # transformers: optional, only finetune mode needs it

    if cfg.finetune not in ("full", "lora"):
        raise ValueError(f"finetune must be 'full' or 'lora', got {cfg.finetune!r}")
    model = load_text_encoder(cfg.encoder)[1]
    if cfg.finetune == "lora":
        from ..features.lora import add_lora  # peft: optional, only LoRA needs it

        model = add_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, list(cfg.lora_targets))
    return model


def first_token_state(encoder: nn.Module, ids: torch.Tensor, attention: torch.Tensor, chunk: int = 256,
                      max_tokens: int | None = None, checkpoint: bool = False) -> torch.Tensor:
    """``(n, T)`` token ids + attention mask -> ``(n, H)`` first-token ([CLS] / <s>) states.

    The sequences go through ``encoder`` in chunks, each cut to its longest real sequence:

    * ``max_tokens=None``: consecutive chunks of ``chunk`` sequences (the earlier behaviour).
    * ``max_tokens=N``: the sequences sorted by real length (ascending) and cut greedily into
      chunks of at most ``chunk`` sequences and at most ``N`` padded tokens (``count x
      longest``); a sequence longer than ``N`` goes alone. The states are returned in input order.

    ``checkpoint=True`` (autograd on and the encoder has trainable parameters): each chunk
    runs under ``torch.utils.checkpoint.checkpoint`` (RNG state preserved, so a recomputed
    dropout mask equals the first one): the forward keeps only the chunk's ``(count, H)``
    output, and the backward recomputes one chunk at a time and back-propagates through it.
    The encoder's activation memory is then one chunk's (``<= N`` tokens), however many
    sequences there are, and the gradients are those of the un-checkpointed chunks. The
    reentrant variant is used: its forward builds no autograd graph at all, so nothing small
    outlives a chunk between its large, freed activations (the non-reentrant variant keeps
    each op's graph node, which fragmented glibc's heap: 7 GB resident at 63 utterances against
    1.8 GB). Its output requires grad through a zero-dimensional ``anchor`` input (token ids
    carry no gradient); the parameters get their gradients in the recomputation, so use
    ``loss.backward()``, not ``torch.autograd.grad``.
    """
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be None or >= 1, got {max_tokens}")
    n = ids.shape[0]
    if n == 0:
        return ids.new_zeros(0, encoder.config.hidden_size, dtype=torch.float32)
    lengths = attention.sum(1)
    if max_tokens is None:
        order, spans = None, [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    else:
        order = torch.argsort(lengths, stable=True)
        ids, attention = ids[order], attention[order]
        spans, start, longest = [], 0, 0
        for j, t in enumerate(lengths[order].tolist()):
            longest = max(longest, t)
            if j > start and (j - start >= chunk or (j - start + 1) * longest > max_tokens):
                spans.append((start, j))
                start, longest = j, t
        spans.append((start, n))

    def encode(i: torch.Tensor, m: torch.Tensor, *_anchor) -> torch.Tensor:
        return encoder(input_ids=i, attention_mask=m).last_hidden_state[:, 0].clone()

    use_checkpoint = checkpoint and torch.is_grad_enabled() and any(p.requires_grad for p in encoder.parameters())
    anchor = torch.zeros((), device=ids.device, requires_grad=True)
    out = []
    for a, b in spans:
        i, m = ids[a:b], attention[a:b]
        t = int(m.sum(1).max())
        i, m = i[:, :t], m[:, :t]
        if use_checkpoint:
            out.append(torch.utils.checkpoint.checkpoint(encode, i, m, anchor, use_reentrant=True))
        else:
            out.append(encode(i, m))
    states = torch.cat(out)
    return states if order is None else states[torch.argsort(order)]
