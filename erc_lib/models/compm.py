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
  is not copied). The encoders run in gradient-checkpointed chunks of at most
  ``CoMPMConfig.chunk_tokens`` tokens, with the gradients of one graph, so peak memory does
  not grow with the dialogue (see :class:`CoMPM`; the batches and the chunked encoder are in
  :mod:`erc_lib.models.compm_encoder`).

EmoNet's options (:class:`EmoNetOptions`; :data:`EMONET_ABLATION` holds the thesis's ablation
rows): global speaker identity (:func:`erc_lib.data.speakers.speaker_tags`), speaker behaviour across
dialogues (:func:`erc_lib.data.speakers.speaker_history`), and weighted cross-entropy
(:func:`erc_lib.losses.weighted_cross_entropy`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

from ..data import SPLITS, ERCData
from ..losses import class_weights_for, weighted_cross_entropy
from ..ranges import FLAG, POSITIVE, PROBABILITY, SIZE, Rule
from ..data.speakers import HISTORY_SCOPES, speaker_history, speaker_tags, utterance_offsets, utterance_table
from .compm_encoder import CoMPMBatch, CoMPMDataset, collate_compm, first_token_state, load_encoder
from .layers import SinusoidalPositionalEncoding

__all__ = ["ENCODER_MODES", "EmoNetOptions", "EMONET_ABLATION", "compm_splits", "CoMPMConfig", "causal_mask",
           "FrozenContext", "CoMPM", "build_compm", "SEARCH_SPACE", "EMONET_SEARCH_SPACE",
           # re-exported from erc_lib.models.compm_encoder
           "CoMPMBatch", "CoMPMDataset", "collate_compm", "first_token_state", "load_encoder"]

ENCODER_MODES = ("frozen", "finetune")

# ============================================================================ EmoNet options
@dataclass(frozen=True)
class EmoNetOptions:
    """EmoNet's additions to CoMPM; every combination is a row of the ablation.

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

    def __post_init__(self):
        if self.history_scope not in HISTORY_SCOPES:
            raise ValueError(f"history_scope must be one of {HISTORY_SCOPES}, got {self.history_scope!r}")


#: The thesis's ablation (Table 5-1), cumulative, named as in :mod:`erc_lib.published`.
EMONET_ABLATION: dict[str, EmoNetOptions] = {
    "CoMPM": EmoNetOptions(False, "dialogue", None),
    "+ global speaker ID": EmoNetOptions(True, "dialogue", None),
    "+ speaker behaviour": EmoNetOptions(True, "dataset", None),
    "+ unnormalised weighted CE": EmoNetOptions(True, "dataset", "unnormalised"),
    "+ normalised weighted CE": EmoNetOptions(True, "dataset", "normalised"),
}


def _options(options: EmoNetOptions | str) -> EmoNetOptions:
    if isinstance(options, EmoNetOptions):
        return options
    if options not in EMONET_ABLATION:
        raise ValueError(f"unknown EmoNet ablation row {options!r}; expected one of {list(EMONET_ABLATION)} "
                         "or an EmoNetOptions")
    return EMONET_ABLATION[options]


def compm_splits(data: ERCData, options: EmoNetOptions | str, encoder_mode: str = "frozen", window: int | None = 11,
                 encoder: str = "all-MiniLM-L6-v2", max_context_tokens: int = 512, max_utterance_tokens: int = 64,
                 modality: str = "text") -> tuple:
    """``(train, dev, test, collate_fn)``: :class:`CoMPMDataset` s for one ablation row, and
    the collation (the ``inputs`` of an :class:`erc_lib.experiment.RunSpec`).

    CoMPM's own PM (``history_scope="dialogue"``) reads all of the speaker's earlier turns
    in the dialogue; ``window`` applies to EmoNet's speaker behaviour only. Finetune mode
    tokenises with ``encoder``'s tokenizer.

    Raises: ValueError for an unknown ``encoder_mode``; KeyError when frozen mode lacks the
        ``modality`` features (run :func:`erc_lib.features.text.add_text_features`).
    """
    options = _options(options)
    if encoder_mode not in ENCODER_MODES:
        raise ValueError(f"unknown encoder_mode {encoder_mode!r}; expected one of {ENCODER_MODES}")
    tags, _ = speaker_tags(data, options.global_speakers)
    history = speaker_history(data, options.history_scope, window if options.history_scope == "dataset" else None)
    if encoder_mode == "frozen":
        if any(modality not in d.features for s in SPLITS for d in data.splits[s]):
            raise KeyError(f"frozen mode needs '{modality}' features: run erc_lib.features.text.add_text_features(data)")
        table = utterance_table(data, modality)
        sets = [CoMPMDataset(data.splits[s], tags, history, embeddings=table, modality=modality) for s in SPLITS]
        return (*sets, collate_compm)
    from ..features.text import load_tokenizer  # transformers: optional, only finetune mode needs it

    tokenizer = load_tokenizer(encoder)
    texts, offsets = utterance_table(data), utterance_offsets(data)
    sets = [CoMPMDataset(data.splits[s], tags, history, texts=texts, tokenizer=tokenizer,
                         max_context_tokens=max_context_tokens, max_utterance_tokens=max_utterance_tokens,
                         offsets=offsets) for s in SPLITS]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return (*sets, partial(collate_compm, pad_id=pad_id))


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
        chunk_tokens: finetune mode: at most this many padded tokens go through an encoder at
            once, and in training each such chunk is gradient-checkpointed
            (:func:`first_token_state`), so the encoders' activation memory is bounded by the
            chunk instead of growing with the dialogue; same gradients as one graph (tested).
            None: every sequence of the batch in one graph (chunks of 256 sequences, no
            checkpointing): memory grows with the dialogue (MiniLM, a 20-utterance IEMOCAP
            dialogue: 7 GB resident after the forward pass; IEMOCAP's longest went past
            23 GB). Ignored in frozen mode, whose CoM is a small causal transformer over the
            whole dialogue.
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
    chunk_tokens: int | None = 1024

    def __post_init__(self):
        if self.chunk_tokens is not None and (not isinstance(self.chunk_tokens, int) or self.chunk_tokens < 1):
            raise ValueError(f"chunk_tokens must be None or an integer >= 1, got {self.chunk_tokens!r}")


#: :func:`build_compm` / :func:`compm_splits` argument (:class:`CoMPMConfig` field, the EmoNet ablation ``row``,
#: the speaker ``window``, the token limits) -> allowed values (:mod:`erc_lib.ranges`); every CoMPM-family model.
COMPM_RULES = {"row": Rule(str, choices=tuple(EMONET_ABLATION)),
               "window": SIZE, "max_context_tokens": SIZE, "max_utterance_tokens": SIZE, "n_speaker_tags": SIZE,
               "input_dim": SIZE, "d_model": SIZE, "n_layers": SIZE, "n_heads": SIZE,
               "d_ff": Rule(int, 1, nullable=True), "dropout": PROBABILITY, "gru_layers": SIZE,
               "gru_dropout": PROBABILITY, "pm_hidden": Rule(int, 1, nullable=True), "pm_projection": FLAG,
               "encoder": Rule(str), "finetune": Rule(str, choices=("full", "lora")), "lora_r": SIZE,
               "lora_alpha": POSITIVE, "lora_dropout": PROBABILITY, "lora_targets": Rule(list, item=Rule(str)),
               "freeze_pm": FLAG, "chunk_tokens": Rule(int, 1, nullable=True)}

#: Search space of :mod:`erc_lib.tune` for CoMPM in the frozen encoder mode (format:
#: :data:`erc_lib.models.sdt.SEARCH_SPACE`); EmoNet adds its speaker-behaviour window.
SEARCH_SPACE = {
    "model": {"d_model": ("choice", [64, 128, 256]), "pm_hidden": ("choice", [32, 64, 128]),
              "dropout": ("float", 0.1, 0.6)},
    "train": {"lr": ("log", 1e-4, 3e-3), "batch_size": ("choice", [4, 8, 16]), "weight_decay": ("log", 1e-6, 1e-3),
              "patience": ("choice", [3, 5, 8])},
}
EMONET_SEARCH_SPACE = {"model": {**SEARCH_SPACE["model"], "window": ("choice", [3, 5, 11, 20])},
                       "train": SEARCH_SPACE["train"]}


def paper_size(data) -> tuple[dict, dict]:
    """CoMPM's size in the paper, frozen encoder: the context model as wide as the encoder (the text
    features' width, ``data.feature_dims()["text"]``) and the pre-trained memory's GRU as wide;
    ``(model_args, train_args)`` for the benchmark's "paper" size (:mod:`erc_lib.bench`)."""
    return {"d_model": data.feature_dims()["text"], "pm_hidden": None}, {}


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
        # Checked where it is free (CPU tensors); on a GPU the embedding's own bounds check
        # asserts instead, so the hot path never waits for the device.
        if batch.speakers.device.type == "cpu" and batch.speakers.max() >= self.speaker.num_embeddings:
            raise ValueError(f"speaker tag {int(batch.speakers.max())} >= n_speaker_tags {self.speaker.num_embeddings}")
        h = self.project(self.dropout(x)) + self.speaker(batch.speakers) + self.position(x.shape[1])
        h = self.transformer(self.dropout(h), mask=causal_mask(x.shape[1], x.device),
                             src_key_padding_mask=~batch.mask)
        return self.norm(h)


class CoMPM(nn.Module):
    """CoMPM / EmoNet: ``logits_t = W_o (c_t + W_p kt_t)`` (see the module docstring).

    ``forward(batch: CoMPMBatch)`` returns ``{"logits": (B, L, C), "context": (B, L, H),
    "memory": (B, L, H_pm)}``; ``loss(out, batch)`` returns ``{"total", "ce"}`` (nats per
    utterance).

    Memory in finetune mode. Every ``c_t`` is the encoder's state over its own context
    sequence and every ``k_i`` the PM encoder's state over one utterance, so the only things
    that couple utterances are the GRU over each speaker history and the mean of the loss;
    neither holds encoder activations. The encoders therefore run in chunks of at most
    ``cfg.chunk_tokens`` tokens, gradient-checkpointed in training (:func:`first_token_state`):
    the autograd graph keeps each chunk's ``(n, H)`` output, the backward recomputes one chunk
    at a time and sends it exactly the gradient the one-graph computation would, and peak
    memory no longer grows with the dialogue's length (cost: one more encoder forward per
    step). What still grows is the GRU over the ``(n, W, H)`` stacked histories (tens of MB at
    110 utterances) and the ``(n, T)`` token ids. ``k_i`` is computed once per distinct
    history utterance of the batch (:meth:`memory`), not once per reader.
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
        c = first_token_state(self.context_model, batch.context_ids[batch.mask], batch.context_attention[batch.mask],
                              **self._chunking())
        out = c.new_zeros(B, L, c.shape[-1])
        out[batch.mask] = c
        return out

    def _chunking(self) -> dict:
        """:func:`first_token_state`'s chunking arguments for ``cfg.chunk_tokens``."""
        if self.cfg.chunk_tokens is None:
            return {}
        return {"max_tokens": self.cfg.chunk_tokens, "checkpoint": True}

    # -- PM: k_i for every history utterance, tracked by the GRU
    def memory(self, batch: CoMPMBatch) -> torch.Tensor:
        """``(B, L, H_pm)`` speaker-memory vectors ``kt_t``: the GRU's last output over the
        history utterances (oldest first); zero where there is no history.

        Finetune mode: ``k_i = PM(<cls>, u_i)`` depends on ``u_i`` only, so it is computed once
        for every distinct history sequence of the batch (``torch.unique`` over the token ids
        and masks) and gathered into every history that holds ``u_i``; autograd sums the
        gradients of all its readers into the one encoding, which is the gradient of encoding it
        once per reader. In eval mode this is the same function as encoding it per reader; in
        training the readers of ``u_i`` share one dropout mask within a step."""
        B, L = batch.mask.shape
        lengths = batch.history_len * batch.mask
        has = lengths > 0
        out = torch.zeros(B, L, self.pm_hidden, device=batch.mask.device)
        if not has.any():
            return out
        if self.cfg.encoder_mode == "frozen":
            k = batch.history[has]                                   # (n, W, D)
        else:
            W, Th = batch.history_ids.shape[2:]
            slots = torch.arange(W, device=lengths.device) < lengths[..., None]   # (B, L, W)
            seqs = torch.cat([batch.history_ids[slots], batch.history_attention[slots]], dim=1)   # (m, 2 Th)
            distinct, reader = torch.unique(seqs, dim=0, return_inverse=True)                    # (u, 2 Th), (m,)
            enc = first_token_state(self.memory_encoder, distinct[:, :Th], distinct[:, Th:], **self._chunking())[reader]
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


def build_compm(data: ERCData, options: EmoNetOptions | str = "CoMPM", encoder_mode: str = "frozen",
                n_speaker_tags: int | None = None, **overrides) -> CoMPM:
    """A :class:`CoMPM` for ``data`` with EmoNet ``options`` (an :class:`EmoNetOptions` or a
    row name of :data:`EMONET_ABLATION`); ``overrides`` set :class:`CoMPMConfig` fields."""
    options = _options(options)
    if n_speaker_tags is None:
        n_speaker_tags = speaker_tags(data, options.global_speakers)[1]
    weights = class_weights_for(data.train_labels(), data.n_classes, options.class_weights)
    input_dim = data.feature_dims().get("text", 384) if encoder_mode == "frozen" else 384
    cfg = CoMPMConfig(n_classes=data.n_classes, n_speaker_tags=n_speaker_tags, encoder_mode=encoder_mode,
                      input_dim=input_dim, class_weights=None if weights is None else weights.tolist())
    return CoMPM(replace(cfg, **overrides))
