"""CoMPM (Lee & Lee, NAACL 2022) with EmoNet's additions (EmoNet thesis, 2024) as options.

Reading order follows the EmoNet thesis (``shared/docs/emonet-thesis.txt``, Sec. 3.2.2) and
the CoMPM paper (Sec. 3):

1. Context model CoM ("DiCon", thesis 3.2.2.9): the dialogue up to and including the
   current utterance ``u_t``, every turn tagged with its speaker, pooled to one vector
   ``c_t = CoM(<cls>, S_{:t}, U_{:t})``.
2. Pre-trained memory PM ("Speaker Behaviour", thesis 3.2.2.10): the current speaker's
   previous utterances ``u_{i_1} .. u_{i_n}`` are encoded one by one, ``k_i = PM(<cls>, u_i)``,
   and tracked by a unidirectional GRU whose last output is ``kt_t`` (zero when the
   speaker has no history). CoMPM reads the speaker's earlier turns *in this dialogue*;
   EmoNet reads the speaker's last ``N`` utterances *across dialogues* (sliding window).
3. Output (thesis Eq. for ``O_t``; CoMPM Eq. 6): ``O_t = c_t + W_p kt_t`` and
   ``P(e_t) = softmax(W_o O_t)``. ``W_p`` is in the thesis but not in either code base
   (identity by default, as in the code; it is used whenever the GRU is narrower than CoM,
   ``pm_hidden != d_model``, or with ``pm_projection=True``).
4. Loss (thesis 3.2.2.12): cross-entropy, optionally multiplied per utterance by the
   inverse-frequency weight of its label, ``L = mean_i w_{y_i} CE_i`` with
   ``w_c = min_k n_k / n_c`` ("normalised") or ``w_c = N / n_c`` ("unnormalised"), applied
   as EmoNet's code does (a per-sample multiplier on the mean CE, not torch's
   weighted mean, which would cancel the weight at EmoNet's batch size of one).

Two encoder modes share this code path (:class:`CoMPM`):

* ``encoder_mode="frozen"``: utterance vectors are the cached sentence-encoder embeddings
  of :func:`erc_lib.features.text.add_text_features`. CoM is a small causal transformer over
  the utterance sequence so far (utterance vector + speaker embedding + position), read at
  position ``t``; PM's GRU reads the cached vectors of the history utterances.
* ``encoder_mode="finetune"``: a Hugging Face encoder reads the speaker-tagged token
  sequence ``<s{k}> u_1 <s{k}> u_2 ... <s{k}> u_t`` (left-truncated, CoMPM utils.py) and
  its first-token state is ``c_t``; a second encoder gives ``k_i`` from each history
  utterance. Full fine-tuning or LoRA (peft). Padding is masked everywhere, so batches of
  several dialogues give the same predictions as one dialogue at a time (CoMPM's issue #2
  is not copied).

EmoNet's options (:data:`VARIANTS`, the thesis's ablation rows): global speaker identity
(:func:`speaker_tags`), speaker behaviour across dialogues (:func:`speaker_history`), and
weighted cross-entropy (:func:`weighted_cross_entropy`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from ..data import SPLITS, Dialogue, ERCData
from ..losses import inverse_frequency_weights
from .layers import SinusoidalPositionalEncoding

ENCODER_MODES = ("frozen", "finetune")
HISTORY_SCOPES = ("dialogue", "dataset")


# ============================================================================ data preparation
def utterance_offsets(data: ERCData) -> dict[str, int]:
    """Dialogue id -> index of its first utterance in the dataset's *file order*: train,
    then dev, then test, dialogues and utterances in order. This flat numbering is what
    :func:`speaker_history` returns and what :func:`utterance_table` indexes."""
    offsets, n = {}, 0
    for split in SPLITS:
        for d in data.splits[split]:
            offsets[d.dialogue_id] = n
            n += len(d)
    return offsets


def utterance_table(data: ERCData, modality: str | None = None):
    """All utterances in file order (see :func:`utterance_offsets`).

    Returns the list of texts when ``modality`` is None, else the ``(n_total, dim)`` float32
    matrix of that modality's features. Raises KeyError when a dialogue lacks the modality.
    """
    dialogues = [d for split in SPLITS for d in data.splits[split]]
    if modality is None:
        return [t for d in dialogues for t in d.texts]
    return np.concatenate([d.features[modality] for d in dialogues]).astype(np.float32)


def speaker_tags(data: ERCData, global_ids: bool) -> tuple[dict[str, np.ndarray], int]:
    """Speaker tag of every utterance: the per-dialogue index (CoMPM) or the dataset-wide id
    (EmoNet's global speaker identity, thesis 3.2.2.1).

    Global ids come from :meth:`ERCData.speaker_vocab`, built over train, dev and test in
    file order, as EmoNet's persisted ``speaker_list``: the same name gets the same id in
    every split.

    Returns:
        ``({dialogue_id: (n_utterances,) int64}, n_tags)`` where ``n_tags`` is the number of
        distinct tag values (embedding size).
    """
    if global_ids:
        vocab = data.speaker_vocab()
        tags = {d.dialogue_id: np.array([vocab[s] for s in d.speakers], dtype=np.int64)
                for split in SPLITS for d in data.splits[split]}
        return tags, len(vocab)
    tags = {d.dialogue_id: d.speaker_index for split in SPLITS for d in data.splits[split]}
    return tags, data.max_speakers_per_dialogue()


def speaker_history(data: ERCData, scope: str = "dataset", window: int | None = 11) -> dict[str, list[list[int]]]:
    """Which earlier utterances the PM reads for every utterance (flat indices, oldest first).

    ``scope="dialogue"`` (CoMPM): the current speaker's previous utterances in the current
    dialogue (the last ``window`` of them; ``None`` = all).

    ``scope="dataset"`` (EmoNet's speaker behaviour, thesis 3.2.2.2-3.2.2.3): the current
    speaker's last ``window`` utterances across dialogues, keyed by speaker *name*, in file
    order. Train is read first; dev and test each start from the history at the end of
    train (EmoNet's ``uttr_history.json``) and carry on in their own file order, so dev
    never sees test and test never sees dev.

    Only indices are returned, never texts or labels: the history cannot leak a label, and
    it never contains the current or a later utterance (the current utterance is added to
    the speaker's queue only after its own history was read).

    Args:
        data: the dataset.
        scope: ``"dialogue"`` or ``"dataset"``.
        window: sliding-window size N (EmoNet: 11 past utterances), or None for no limit.
    Returns:
        ``{dialogue_id: [history of utterance 0, history of utterance 1, ...]}``, each
        history a list of flat utterance indices (:func:`utterance_offsets`).
    Raises:
        ValueError: unknown scope or a window < 1.
    """
    if scope not in HISTORY_SCOPES:
        raise ValueError(f"unknown history scope {scope!r}; expected one of {HISTORY_SCOPES}")
    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1 or None, got {window}")
    offsets = utterance_offsets(data)
    history: dict[str, list[list[int]]] = {}
    end_of_train: dict[str, deque] = {}
    for split in SPLITS:
        if scope == "dataset":
            queues = {s: deque(q, maxlen=window) for s, q in end_of_train.items()}
        for d in data.splits[split]:
            if scope == "dialogue":
                queues = {}
            rows = []
            for j, speaker in enumerate(d.speakers):
                queue = queues.setdefault(speaker, deque(maxlen=window))
                rows.append(list(queue))
                queue.append(offsets[d.dialogue_id] + j)
            history[d.dialogue_id] = rows
        if split == "train" and scope == "dataset":
            end_of_train = queues
    return history


def subset_dialogues(data: ERCData, n_dialogues: dict[str, int] | None) -> ERCData:
    """A new :class:`ERCData` with the FIRST ``n_dialogues[split]`` dialogues of each split
    (file order kept, so speaker histories stay meaningful); ``None`` returns ``data``.
    Used for smoke-size runs. Raises ValueError for a count < 1."""
    if not n_dialogues:
        return data
    if any(n < 1 for n in n_dialogues.values()):
        raise ValueError(f"dialogue counts must be >= 1, got {n_dialogues}")
    splits = {s: list(data.splits[s][: n_dialogues.get(s, len(data.splits[s]))]) for s in SPLITS}
    return ERCData(data.name, data.label_names, splits, data.notes).validate()


def load_text_dataset(name: str, encoder: str = "all-MiniLM-L6-v2", n_dialogues: dict[str, int] | None = None,
                      device: str = "auto", with_features: bool = True, progress: bool = True) -> ERCData:
    """Load dataset ``name``, keep the first ``n_dialogues`` per split (smoke runs), and add
    cached ``text`` embeddings of ``encoder`` (frozen mode). When a subset is asked for and
    the whole dataset's cache already exists, the vectors come from it; otherwise only the
    subset is encoded (so a fresh smoke run never embeds the full dataset)."""
    from ..data import load_dataset
    from ..features.text import add_text_features, cache_path

    full = load_dataset(name)
    data = subset_dialogues(full, n_dialogues)
    if with_features:
        if data is not full and cache_path(full, encoder).exists():
            add_text_features(full, encoder, device=device, progress=progress)
        else:
            add_text_features(data, encoder, device=device, progress=progress)
    return data


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

    def to(self, device) -> "CoMPMBatch":
        move = lambda x: x.to(device) if isinstance(x, torch.Tensor) else x
        return CoMPMBatch(**{k: move(v) for k, v in self.__dict__.items()})

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


# ============================================================================ variants
@dataclass(frozen=True)
class Variant:
    """One row of the EmoNet ablation.

    Attributes:
        global_speakers: dataset-wide speaker ids as CoM's speaker tags (else per-dialogue).
        history_scope: ``"dialogue"`` (CoMPM's PM) or ``"dataset"`` (EmoNet's speaker
            behaviour, sliding window).
        class_weights: None, ``"unnormalised"`` (``N / n_c``) or ``"normalised"``
            (``min_k n_k / n_c``).
    """

    global_speakers: bool = False
    history_scope: str = "dialogue"
    class_weights: str | None = None


#: The thesis's ablation (Table 5-1), cumulative, named as in :mod:`erc_lib.published`.
VARIANTS: dict[str, Variant] = {
    "CoMPM": Variant(False, "dialogue", None),
    "+ global speaker ID": Variant(True, "dialogue", None),
    "+ speaker behaviour": Variant(True, "dataset", None),
    "+ unnormalised weighted CE": Variant(True, "dataset", "unnormalised"),
    "+ normalised weighted CE": Variant(True, "dataset", "normalised"),
}


def class_weights_for(data: ERCData, kind: str | None) -> torch.Tensor | None:
    """Inverse-frequency class weights from the TRAIN labels (:func:`erc_lib.losses.inverse_frequency_weights`):
    ``kind`` None -> None, ``"normalised"`` -> ``min_k n_k / n_c``, ``"unnormalised"`` -> ``N / n_c``.
    Raises ValueError for another ``kind``."""
    if kind is None:
        return None
    if kind not in ("normalised", "unnormalised"):
        raise ValueError(f"class_weights must be None, 'normalised' or 'unnormalised', got {kind!r}")
    return inverse_frequency_weights(data.train_labels(), data.n_classes, normalise=kind == "normalised")


def load_tokenizer(encoder: str):
    """The Hugging Face tokenizer of ``encoder`` (a name, folder, or ``all-MiniLM-L6-v2``,
    resolved offline by :func:`erc_lib.features.text.resolve_encoder`)."""
    from transformers import AutoTokenizer

    from ..features.text import resolve_encoder

    return AutoTokenizer.from_pretrained(resolve_encoder(encoder))


def build_datasets(data: ERCData, variant: Variant, encoder_mode: str = "frozen", window: int | None = 11,
                   tokenizer=None, max_context_tokens: int = 512, max_utterance_tokens: int = 64,
                   modality: str = "text") -> tuple[list[CoMPMDataset], int]:
    """Train/dev/test :class:`CoMPMDataset` for one ablation ``variant``.

    CoMPM's own PM (``history_scope="dialogue"``) reads all of the speaker's earlier turns
    in the dialogue; ``window`` applies to EmoNet's speaker behaviour only.

    Returns: ``([train, dev, test], n_speaker_tags)``.
    Raises: ValueError for an unknown ``encoder_mode``; KeyError when frozen mode lacks the
        ``modality`` features (run :func:`erc_lib.features.text.add_text_features`).
    """
    if encoder_mode not in ENCODER_MODES:
        raise ValueError(f"unknown encoder_mode {encoder_mode!r}; expected one of {ENCODER_MODES}")
    tags, n_tags = speaker_tags(data, variant.global_speakers)
    history = speaker_history(data, variant.history_scope, window if variant.history_scope == "dataset" else None)
    if encoder_mode == "frozen":
        if any(modality not in d.features for s in SPLITS for d in data.splits[s]):
            raise KeyError(f"frozen mode needs '{modality}' features: run erc_lib.features.text.add_text_features(data)")
        table = utterance_table(data, modality)
        sets = [CoMPMDataset(data.splits[s], tags, history, embeddings=table, modality=modality) for s in SPLITS]
    else:
        if tokenizer is None:
            raise ValueError("finetune mode needs a tokenizer (see load_tokenizer)")
        texts, offsets = utterance_table(data), utterance_offsets(data)
        sets = [CoMPMDataset(data.splits[s], tags, history, texts=texts, tokenizer=tokenizer,
                             max_context_tokens=max_context_tokens, max_utterance_tokens=max_utterance_tokens,
                             offsets=offsets) for s in SPLITS]
    return sets, n_tags


# ============================================================================ model
@dataclass
class CoMPMConfig:
    """Hyper-parameters (CoMPM / EmoNet values in brackets).

    Attributes:
        n_classes: number of emotion classes.
        n_speaker_tags: speaker-embedding slots (frozen mode; see :func:`speaker_tags`).
        encoder_mode: ``"frozen"`` or ``"finetune"``.
        input_dim: frozen mode: cached utterance-embedding size (384 for MiniLM).
        d_model: frozen mode: CoM width = GRU hidden size [finetune: the encoder's, 1024].
        n_layers, n_heads, d_ff: frozen CoM transformer.
        dropout: frozen mode dropout on inputs and CoM.
        gru_layers, gru_dropout: PM tracker [2 layers, dropout 0.3].
        pm_hidden: GRU hidden size (None: the CoM width, as CoMPM); a different size turns
            on ``W_p``, which maps it to the CoM width.
        pm_projection: add the thesis's ``W_p`` (not in the code) [False].
        class_weights: optional ``(C,)`` per-class multipliers for the CE.
        encoder: finetune mode: HF name or folder (``all-MiniLM-L6-v2`` resolves offline).
        finetune: ``"full"`` or ``"lora"`` (peft) for both encoders.
        lora_r, lora_alpha, lora_dropout, lora_targets: LoRA settings.
        freeze_pm: keep the PM encoder fixed (CoMPM's ``--freeze``).
    """

    n_classes: int
    n_speaker_tags: int = 16
    encoder_mode: str = "frozen"
    input_dim: int = 384
    d_model: int = 256
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    dropout: float = 0.3
    gru_layers: int = 2
    gru_dropout: float = 0.3
    pm_hidden: int | None = None
    pm_projection: bool = False
    class_weights: list[float] | None = None
    encoder: str = "all-MiniLM-L6-v2"
    finetune: str = "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = ("query", "value")
    freeze_pm: bool = False


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                           class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """EmoNet's weighted CE (thesis 3.2.2.12; code ``WCELoss``): ``mean_i w_{y_i} CE_i``
    over real utterances, i.e. each utterance's CE multiplied by its class weight and
    averaged by the number of utterances (not by the sum of weights as torch's
    ``CrossEntropyLoss(weight=w)`` does). Plain mean CE when ``class_weights`` is None.

    Args:
        logits: ``(B, L, C)``; labels: ``(B, L)`` int64; mask: ``(B, L)`` bool;
        class_weights: optional ``(C,)``.
    Returns: scalar tensor (nats per utterance, weighted).
    """
    flat_mask = mask.reshape(-1)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1])[flat_mask], labels.reshape(-1)[flat_mask],
                         reduction="none")
    if class_weights is not None:
        ce = ce * class_weights[labels.reshape(-1)[flat_mask]]
    return ce.mean()


def causal_mask(n: int, device=None) -> torch.Tensor:
    """``(n, n)`` bool mask, True above the diagonal: utterance t attends to 1..t only."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), diagonal=1)


class FrozenContext(nn.Module):
    """CoM over cached utterance vectors: ``h_j = W x_j + SE(s_j) + PE(j)``, a causal
    transformer encoder, read at position ``t`` (so ``c_t`` sees ``u_1..u_t``, like CoMPM's
    CLS over the truncated context).

    ``forward(batch) -> (B, L, d_model)``.
    """

    def __init__(self, cfg: CoMPMConfig):
        super().__init__()
        self.project = nn.Linear(cfg.input_dim, cfg.d_model)
        self.speaker = nn.Embedding(cfg.n_speaker_tags, cfg.d_model)
        self.position = SinusoidalPositionalEncoding(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff or 2 * cfg.d_model, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, batch: CoMPMBatch) -> torch.Tensor:
        x = batch.features
        if batch.speakers.max() >= self.speaker.num_embeddings:
            raise ValueError(f"speaker tag {int(batch.speakers.max())} >= n_speaker_tags {self.speaker.num_embeddings}")
        h = self.project(self.dropout(x)) + self.speaker(batch.speakers) + self.position(x.shape[1])
        h = self.transformer(self.dropout(h), mask=causal_mask(x.shape[1], x.device),
                             src_key_padding_mask=~batch.mask)
        return self.norm(h)


def load_encoder(cfg: CoMPMConfig) -> nn.Module:
    """A Hugging Face ``AutoModel`` for ``cfg.encoder`` (offline MiniLM by default), wrapped
    in LoRA adapters (peft) when ``cfg.finetune == "lora"``. Raises ValueError for another
    ``finetune`` value."""
    from transformers import AutoModel

    from ..features.text import resolve_encoder

    model = AutoModel.from_pretrained(resolve_encoder(cfg.encoder))
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                 lora_dropout=cfg.lora_dropout,
                                                 target_modules=list(cfg.lora_targets)))
    elif cfg.finetune != "full":
        raise ValueError(f"finetune must be 'full' or 'lora', got {cfg.finetune!r}")
    return model


def first_token_state(encoder: nn.Module, ids: torch.Tensor, attention: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """``(n, T)`` token ids + attention mask -> ``(n, H)`` first-token ([CLS] / <s>) states,
    in chunks of ``chunk`` sequences, each chunk cut to its longest real sequence."""
    out = []
    for a in range(0, ids.shape[0], chunk):
        i, m = ids[a:a + chunk], attention[a:a + chunk]
        t = int(m.sum(1).max())
        out.append(encoder(input_ids=i[:, :t], attention_mask=m[:, :t]).last_hidden_state[:, 0])
    return torch.cat(out) if out else ids.new_zeros(0, encoder.config.hidden_size, dtype=torch.float32)


class CoMPM(nn.Module):
    """CoMPM / EmoNet: ``logits_t = W_o (c_t + W_p kt_t)`` (see the module docstring).

    ``forward(batch: CoMPMBatch)`` returns ``{"logits": (B, L, C), "context": (B, L, H),
    "memory": (B, L, H)}``; ``loss(out, batch)`` returns ``{"total", "ce"}``.
    """

    def __init__(self, cfg: CoMPMConfig):
        super().__init__()
        if cfg.encoder_mode not in ENCODER_MODES:
            raise ValueError(f"unknown encoder_mode {cfg.encoder_mode!r}; expected one of {ENCODER_MODES}")
        self.cfg = cfg
        if cfg.encoder_mode == "frozen":
            self.context_model = FrozenContext(cfg)
            self.memory_encoder = None
            hidden, pm_in = cfg.d_model, cfg.input_dim
        else:
            self.context_model = load_encoder(cfg)
            self.memory_encoder = load_encoder(cfg)
            if cfg.freeze_pm:
                self.memory_encoder.requires_grad_(False)
            hidden = pm_in = self.context_model.config.hidden_size
        self.pm_hidden = cfg.pm_hidden or hidden
        self.tracker = nn.GRU(pm_in, self.pm_hidden, num_layers=cfg.gru_layers, batch_first=True,
                              dropout=cfg.gru_dropout if cfg.gru_layers > 1 else 0.0)
        use_wp = cfg.pm_projection or self.pm_hidden != hidden
        self.pm_projection = nn.Linear(self.pm_hidden, hidden) if use_wp else nn.Identity()
        self.classifier = nn.Linear(hidden, cfg.n_classes)
        weights = torch.as_tensor(cfg.class_weights, dtype=torch.float32) if cfg.class_weights is not None else None
        if weights is not None and weights.shape != (cfg.n_classes,):
            raise ValueError(f"class_weights must have {cfg.n_classes} entries, got {tuple(weights.shape)}")
        self.register_buffer("class_weights", weights)

    # -- CoM: c_t for every real utterance
    def context(self, batch: CoMPMBatch) -> torch.Tensor:
        """``(B, L, H)`` context vectors ``c_t`` (zeros at padding in finetune mode)."""
        if self.cfg.encoder_mode == "frozen":
            return self.context_model(batch)
        B, L = batch.mask.shape
        c = first_token_state(self.context_model, batch.context_ids[batch.mask], batch.context_attention[batch.mask])
        out = c.new_zeros(B, L, c.shape[-1])
        out[batch.mask] = c
        return out

    # -- PM: k_i for every history utterance, tracked by the GRU
    def memory(self, batch: CoMPMBatch) -> torch.Tensor:
        """``(B, L, H_pm)`` speaker-memory vectors ``kt_t``: the GRU's last output over the
        history utterances (oldest first); zero where there is no history."""
        B, L = batch.mask.shape
        lengths = batch.history_len * batch.mask
        has = lengths > 0
        out = torch.zeros(B, L, self.pm_hidden, device=batch.mask.device)
        if not has.any():
            return out
        if self.cfg.encoder_mode == "frozen":
            k = batch.history[has]                                   # (n, W, D)
        else:
            W = batch.history_ids.shape[2]
            slots = torch.arange(W, device=lengths.device) < lengths[..., None]   # (B, L, W)
            enc = first_token_state(self.memory_encoder, batch.history_ids[slots], batch.history_attention[slots])
            k_all = enc.new_zeros(B, L, W, enc.shape[-1])
            k_all[slots] = enc
            k = k_all[has]
        # Histories are right-padded, so the top layer's output at step len-1 is the state
        # after the last real utterance (a unidirectional GRU never reads ahead): no packing.
        steps, _ = self.tracker(k)                                   # (n, W, H_pm)
        n_real = lengths[has]
        out[has] = steps[torch.arange(len(n_real), device=k.device), n_real - 1]
        return out

    def forward(self, batch: CoMPMBatch) -> dict[str, torch.Tensor]:
        c = self.context(batch)
        k = self.memory(batch)
        logits = self.classifier(c + self.pm_projection(k))
        return {"logits": logits, "context": c, "memory": k}

    def loss(self, out: dict[str, torch.Tensor], batch: CoMPMBatch) -> dict[str, torch.Tensor]:
        ce = weighted_cross_entropy(out["logits"], batch.labels, batch.mask, self.class_weights)
        return {"total": ce, "ce": ce}


def build_compm(data: ERCData, variant: Variant | str, encoder_mode: str = "frozen", n_speaker_tags: int | None = None,
                **overrides) -> CoMPM:
    """A :class:`CoMPM` for ``data`` and an ablation ``variant`` (a :class:`Variant` or a
    key of :data:`VARIANTS`); ``overrides`` set :class:`CoMPMConfig` fields."""
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    if n_speaker_tags is None:
        n_speaker_tags = speaker_tags(data, variant.global_speakers)[1]
    weights = class_weights_for(data, variant.class_weights)
    input_dim = data.feature_dims().get("text", 384) if encoder_mode == "frozen" else 384
    cfg = CoMPMConfig(n_classes=data.n_classes, n_speaker_tags=n_speaker_tags, encoder_mode=encoder_mode,
                      input_dim=input_dim, class_weights=None if weights is None else weights.tolist())
    return CoMPM(replace(cfg, **overrides))


def train_variant(data: ERCData, variant: str | Variant, config, encoder_mode: str = "frozen", window: int | None = 11,
                  max_context_tokens: int = 512, max_utterance_tokens: int = 64, desc: str = "",
                  **model_overrides):
    """Seed, build and train one ablation row (:func:`erc_lib.training.fit`, dev-selected).

    Args:
        data: the dataset (frozen mode: with ``text`` features).
        variant: key of :data:`VARIANTS` or a :class:`Variant`.
        config: :class:`erc_lib.training.TrainConfig` (its ``seed`` seeds everything).
        encoder_mode: ``"frozen"`` or ``"finetune"``.
        window: EmoNet's sliding window N.
        max_context_tokens, max_utterance_tokens: finetune-mode truncation.
        model_overrides: :class:`CoMPMConfig` fields.
    Returns: ``(model with best-dev weights, FitResult)``.
    """
    from functools import partial

    from ..training import fit, seed_everything

    spec = VARIANTS[variant] if isinstance(variant, str) else variant
    tokenizer = None
    if encoder_mode == "finetune":
        tokenizer = load_tokenizer(model_overrides.get("encoder", CoMPMConfig.encoder))
    (train, dev, test), n_tags = build_datasets(data, spec, encoder_mode, window, tokenizer,
                                                max_context_tokens, max_utterance_tokens)
    pad_id = tokenizer.pad_token_id if tokenizer is not None and tokenizer.pad_token_id is not None else 0
    seed_everything(config.seed)
    model = build_compm(data, spec, encoder_mode, n_tags, **model_overrides)
    result = fit(model, train, dev, test, data.label_names, config, collate_fn=partial(collate_compm, pad_id=pad_id),
                 desc=desc or str(variant))
    return model, result
