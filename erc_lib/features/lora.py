"""LoRA fine-tuning of a text encoder for utterance-level emotion classification, and
utterance embeddings from the tuned encoder (MiSTER-E stage 1, seed ``003`` Sec. 3.2;
the SDT reproduction's RoBERTa fine-tuning, seed ``000`` Sec. 4.2).

MiSTER-E, Sec. 3.2: every utterance transcript ``t_ik`` is run through an LLM, the
token-level hidden states are pooled and passed through a two-layer feed-forward classifier
trained on the emotion labels; the LLM is adapted with LoRA (rank 8, alpha 32, dropout 0.1,
Sec. 4.3). The utterance embedding is taken from the classifier's first layer (Eq. 1):

    h_ik = MeanPool(Encoder_LoRA(t_ik))                  pooled encoder output  (d_enc)
    e_ik = ReLU(W_1 h_ik + b_1)                          Eq. 1, "fc1"           (hidden)
    p_ik = softmax(W_2 Dropout(e_ik) + b_2)              emotion posteriors     (C)

:class:`UtteranceClassifier` is exactly this (one utterance, no conversational context). It
trains through the project's one trainer (:func:`erc_lib.training.fit`, via
:func:`erc_lib.experiment.run_experiment`): an utterance is a "dialogue" of length one
(:class:`UtteranceTokens`, :func:`collate_utterances`), so seeding, AdamW, dev selection and
histories are the same code as for every conversation model. :func:`add_tuned_text_features`
then writes the tuned embeddings (``layer="fc1"``, Eq. 1, or ``"pooled"``) into the content-keyed
feature cache and into the dataset, where the conversation models read them like any encoder's.

Encoders: any name :func:`erc_lib.features.text.resolve_text_encoder` accepts (offline MiniLM,
SmolLM2-135M from its GGUF file, any Hugging Face name on a GPU). Token states are mean-pooled
over the attention mask for every encoder (decoder-only ones included).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import SPLITS, DataError, ERCData
from ..losses import focal_loss
from ..runtime import progress_bar, resolve_device
from .text import (EXTRACTOR_VERSION, encoder_fingerprint, feature_cache_path, load_text_encoder, put_features,
                   read_feature_cache, texts_digest, utterance_texts, write_feature_cache)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over real tokens: ``(B, T, H), (B, T) -> (B, H)``."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def add_lora(encoder: nn.Module, rank: int = 8, alpha: int = 32, dropout: float = 0.1,
             target_modules: list[str] | str | None = None) -> nn.Module:
    """Wrap ``encoder`` with peft LoRA adapters; peft freezes the base weights and only
    ``lora_A`` / ``lora_B`` train. ``target_modules=None`` uses peft's default for the
    architecture and falls back to ``"all-linear"`` where peft has none."""
    from peft import LoraConfig, get_peft_model

    def make(targets):
        return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")

    try:
        return get_peft_model(encoder, make(target_modules))
    except ValueError:
        if target_modules is not None:
            raise
        return get_peft_model(encoder, make("all-linear"))


# ----------------------------------------------------------------------------- utterance batches
@dataclass
class UtteranceBatch:
    """Utterances as dialogues of length one (the trainer's batch protocol).

    Attributes:
        input_ids, attention_mask: ``(B, T)`` tokens of each utterance.
        labels: ``(B, 1)`` int64; mask: ``(B, 1)`` bool, all True.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> "UtteranceBatch":
        return UtteranceBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.labels, self.mask)))

    @property
    def n_utterances(self) -> int:
        return int(self.labels.shape[0])


class UtteranceTokens(torch.utils.data.Dataset):
    """One split's utterances, tokenised once (``max_length`` tokens, truncated).

    Args:
        data: the dataset; split: ``train`` | ``dev`` | ``test``; tokenizer: a HF tokenizer.
        max_utterances: keep a seeded random subset of this many (None: all).
        seed: seeds that subset.
    """

    def __init__(self, data: ERCData, split: str, tokenizer, max_length: int = 64,
                 max_utterances: int | None = None, seed: int = 0):
        texts = [t if t.strip() else "." for d in data.splits[split] for t in d.texts]
        labels = np.concatenate([d.labels for d in data.splits[split]]).astype(np.int64)
        if max_utterances and max_utterances < len(texts):
            keep = np.sort(np.random.default_rng(seed).choice(len(texts), max_utterances, replace=False))
            texts, labels = [texts[i] for i in keep], labels[keep]
        self.ids = tokenizer(texts, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
        self.labels = labels
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.labels)

    def item_lengths(self) -> list[int]:
        """Tokens per utterance: the trainer buckets batches by it (less padding)."""
        return [len(ids) for ids in self.ids]

    def __getitem__(self, i: int) -> tuple[list[int], int, int]:
        return self.ids[i], int(self.labels[i]), self.pad_id


def collate_utterances(items: list[tuple[list[int], int, int]]) -> UtteranceBatch:
    """Right-pad :class:`UtteranceTokens` items into an :class:`UtteranceBatch`."""
    width = max(len(ids) for ids, _, _ in items)
    input_ids = torch.full((len(items), width), items[0][2], dtype=torch.int64)
    attention = torch.zeros((len(items), width), dtype=torch.int64)
    for r, (ids, _, _) in enumerate(items):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        attention[r, : len(ids)] = 1
    labels = torch.tensor([y for _, y, _ in items], dtype=torch.int64).unsqueeze(1)
    return UtteranceBatch(input_ids, attention, labels, torch.ones_like(labels, dtype=torch.bool))


def utterance_splits(data: ERCData, tokenizer, max_length: int = 64, max_train_utterances: int | None = None,
                     seed: int = 0) -> tuple:
    """``(train, dev, test, collate_fn)`` of :class:`UtteranceTokens` (the ``inputs`` of an
    :class:`erc_lib.experiment.RunSpec`); raises DataError for a dataset without transcripts (MOSI)."""
    if any(not any(d.texts) for s in SPLITS for d in data.splits[s]):
        raise DataError(f"{data.name}: some dialogues have no transcripts to fine-tune on")
    sets = [UtteranceTokens(data, s, tokenizer, max_length, max_train_utterances if s == "train" else None, seed)
            for s in SPLITS]
    return (*sets, collate_utterances)


# ----------------------------------------------------------------------------- model
class UtteranceClassifier(nn.Module):
    """No-context utterance classifier: pooled (LoRA-adapted) encoder + two-layer head (Eq. 1).

    ``forward(batch: UtteranceBatch)`` returns ``{"logits": (B, 1, C), "fc1": (B, 1, hidden)}``
    (the Eq. 1 embedding, after ReLU) ``"pooled": (B, 1, d_enc)}``; ``loss`` is the focal loss
    (``focal_gamma = 0``: cross-entropy) as MiSTER-E trains its encoders.
    """

    def __init__(self, encoder: nn.Module, n_classes: int, hidden: int = 256, dropout: float = 0.1,
                 focal_gamma: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.fc1 = nn.Linear(encoder.config.hidden_size, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, n_classes)
        self.focal_gamma = focal_gamma

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"pooled": (B, d_enc), "fc1": (B, hidden)}`` float32."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        pooled = mean_pool(out.last_hidden_state, attention_mask).float()  # the head runs in float32
        return {"pooled": pooled, "fc1": torch.relu(self.fc1(pooled))}        # Eq. 1

    def forward(self, batch: UtteranceBatch) -> dict[str, torch.Tensor]:
        e = self.embed(batch.input_ids, batch.attention_mask)
        return {"logits": self.fc2(self.dropout(e["fc1"])).unsqueeze(1), "fc1": e["fc1"].unsqueeze(1),
                "pooled": e["pooled"].unsqueeze(1)}

    def loss(self, out: dict, batch: UtteranceBatch) -> dict[str, torch.Tensor]:
        fl = focal_loss(out["logits"], batch.labels, batch.mask, self.focal_gamma)
        return {"total": fl, "focal": fl}


def build_utterance_classifier(encoder: str, n_classes: int, lora: bool = True, rank: int = 8, alpha: int = 32,
                               lora_dropout: float = 0.1, target_modules=None, hidden: int = 256,
                               dropout: float = 0.1, focal_gamma: float = 0.0, dtype: str = "float32"):
    """A fresh :class:`UtteranceClassifier` over ``encoder`` with LoRA adapters (``lora=True``)
    or a frozen encoder (only the head trains). MiSTER-E: rank 8, alpha 32, dropout 0.1."""
    base = load_text_encoder(encoder, dtype)[1]
    base = add_lora(base, rank, alpha, lora_dropout, target_modules) if lora else base.requires_grad_(False)
    return UtteranceClassifier(base, n_classes, hidden, dropout, focal_gamma)


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    return (sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters()))


# ----------------------------------------------------------------------------- embeddings into the cache
@torch.no_grad()
def embed_utterances(model: UtteranceClassifier, tokenizer, texts: list[str], max_length: int = 64,
                     batch_size: int = 64, device="cpu", progress: bool = True, desc: str = "embed") -> dict:
    """Eval-mode pass: ``{"pooled": (n, d_enc), "fc1": (n, hidden)}`` float32 numpy in the order
    of ``texts`` (batches are length-sorted to cut padding)."""
    model.eval().to(device)
    order = np.argsort([len(t) for t in texts], kind="stable")
    outs = {"pooled": [], "fc1": []}
    for i in progress_bar(range(0, len(texts), batch_size), desc=desc, disable=not progress, leave=False):
        enc = tokenizer([texts[j] for j in order[i:i + batch_size]], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        e = model.embed(enc["input_ids"].to(device), enc["attention_mask"].to(device))
        for k in outs:
            outs[k].append(e[k].cpu())
    inverse = np.argsort(order)
    return {k: torch.cat(v).numpy().astype(np.float32)[inverse] for k, v in outs.items()}


def weights_digest(model: nn.Module) -> str:
    """SHA-1 over the model's trainable tensors (adapters and head): what a tuned encoder is."""
    h = hashlib.sha1()
    for name, p in model.named_parameters():
        if p.requires_grad:
            h.update(name.encode())
            h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def add_tuned_text_features(data: ERCData, model: UtteranceClassifier, tokenizer, encoder: str, layer: str = "fc1",
                            max_length: int = 64, device: str = "auto", cache_dir: str | Path | None = None,
                            modality: str = "text", progress: bool = True) -> str:
    """Embed every utterance of ``data`` with a tuned :class:`UtteranceClassifier` and put
    ``layer``'s vectors into ``features[modality]`` (in place).

    Args:
        layer: ``"fc1"`` (the classifier's first layer, MiSTER-E Eq. 1, ``(n, hidden)``) or
            ``"pooled"`` (the mean-pooled LoRA-adapted encoder output, ``(n, d_enc)``).
    Returns: a label of these features (``lora-<encoder>-<layer>-<weights hash>``).
    The cache key covers the base encoder's files, the tuned weights, the layer, the token
    length, every text and the extractor version; one pass caches both layers.
    """
    if layer not in ("fc1", "pooled"):
        raise ValueError(f"layer must be 'fc1' (Eq. 1) or 'pooled', got {layer!r}")
    digest = weights_digest(model)
    label_of = lambda lay: f"lora-{Path(encoder).name}-{lay}-{digest[:8]}"  # noqa: E731
    lengths = [len(d) for s in SPLITS for d in data.splits[s]]
    keys = {lay: {"extractor": EXTRACTOR_VERSION, "encoder": encoder_fingerprint(encoder), "tuned_weights": digest,
                  "layer": lay, "pooling": "mean", "max_length": max_length, "texts": texts_digest(data)}
            for lay in ("fc1", "pooled")}
    path = feature_cache_path(data, label_of(layer), keys[layer], cache_dir)
    emb = read_feature_cache(path, keys[layer], lengths)
    if emb is None:
        out = embed_utterances(model, tokenizer, utterance_texts(data), max_length, device=resolve_device(device),
                               progress=progress, desc=f"embed {data.name}")
        for lay in ("fc1", "pooled"):
            write_feature_cache(feature_cache_path(data, label_of(lay), keys[lay], cache_dir),
                                keys[lay], out[lay], lengths)
        emb = out[layer]
    put_features(data, emb, modality)
    return label_of(layer)


def add_frozen_text_features(data: ERCData, encoder: str = "all-MiniLM-L6-v2", max_length: int = 64,
                             device: str = "auto", batch_size: int = 64, cache_dir: str | Path | None = None,
                             modality: str = "text", progress: bool = True) -> str:
    """Put the mean-pooled outputs of the frozen (un-adapted) encoder into ``features[modality]``
    (in place): the "frozen" counterpart of :func:`add_tuned_text_features` for any encoder
    (SmolLM2 included). Cached under a content key; returns a label of these features. For
    MiniLM this equals the sentence-transformers embedding before its L2 normalisation."""
    label = f"frozen-pooled-{Path(encoder).name}-len{max_length}"
    lengths = [len(d) for s in SPLITS for d in data.splits[s]]
    key = {"extractor": EXTRACTOR_VERSION, "encoder": encoder_fingerprint(encoder), "layer": "pooled",
           "pooling": "mean", "max_length": max_length, "texts": texts_digest(data)}
    path = feature_cache_path(data, label, key, cache_dir)
    emb = read_feature_cache(path, key, lengths)
    if emb is None:
        tokenizer, base = load_text_encoder(encoder)
        model = UtteranceClassifier(base.requires_grad_(False), data.n_classes)
        emb = embed_utterances(model, tokenizer, utterance_texts(data), max_length, batch_size, resolve_device(device),
                               progress, desc=f"frozen {Path(encoder).name} {data.name}")["pooled"]
        write_feature_cache(path, key, emb, lengths)
    put_features(data, emb, modality)
    return label
