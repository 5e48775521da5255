"""MiSTER-E: a Mixture of Speech-Text Experts for Recognition of Emotions
(``shared/seeds/003_*.txt``; code digest in ``shared/docs/reference-implementations.md``).

Reading order follows the paper:

1. Context Addition Network, CAN (Sec. 3.3.1, Eq. 3-4), one per modality = the speech and
   text experts. A temporal inception network (1-D convolutions over the utterances with
   kernel sizes 1, 3 and 5, ReLU, summed as in the authors' code), a bidirectional GRU over
   the dialogue (packed, so padding never enters the recurrence), a residual from the input
   embedding, dropout and a classifier:
   ``h = BiGRU(sum_k ReLU(Conv_k(E))) + FC(E)``, ``y^s = FC(h^s)``, ``y^t = FC(h^t)``.
2. Multimodal expert (Sec. 3.3.2, Eq. 5-9). Both modalities are projected to ``d``; each of
   ``fusion_layers`` blocks applies bidirectional cross-attention
   ``M^{t->s} = LN(s + MHA(Q=s, K=V=t))``, ``M^{s->t} = LN(t + MHA(Q=t, K=V=s))`` (Eq. 5-6,
   with ``s = FC(E^s)``, ``t = FC(E^t)`` in the first block) and then per-modality
   self-attention over the dialogue ``M^s = LN(M^{t->s} + SelfAttn(M^{t->s}))`` (Eq. 7-8).
   ``y^m = FC([M^s; M^t])`` (Eq. 9). Every attention has a key padding mask.
3. Gate (Sec. 3.4, Eq. 10-11): ``beta = softmax(FC([y^s; y^t; y^m]) / T)`` per utterance and
   the final logit ``y = beta^s y^s + beta^t y^t + beta^m y^m``.
4. Loss (Sec. 3.5, Eq. 12-18), every term over real utterances only:
   ``FL(y^s) + FL(y^t) + FL(y^m) + lambda L_con(M^s, M^t) + FL(y) + alpha [KL(p^m||p^s) + KL(p^m||p^t)]``.

Variants (``MiSTEREConfig.variant``):

* ``mister_e``: the full model above.
* ``speech`` / ``text``: one CAN expert alone, focal loss only (Fig. 5b; ``text`` is also the
  text-only model of Sec. 5.3).
* ``multimodal``: the multimodal expert alone, focal + contrastive loss (Fig. 5b).
* ``monolithic`` (Sec. 4.5): no experts; the CAN context representations (not their logits)
  go straight into the fusion network, whose classifier is the only output (focal +
  contrastive loss; the CAN classifiers are left untrained and unused).
* ``feat_moe`` (Sec. 4.7): the gate weighs the experts' representations (each projected to
  ``fusion_hidden``) instead of their logits, and one classifier reads the mixture; the
  per-expert classifiers and losses are kept so that only the fusion point changes.
* ``no_loss_moe`` (Sec. 4.7): the full architecture trained only with the focal loss of the
  gated prediction (no per-expert focal, contrastive or KL term).

Modalities are named ``speech`` and ``text`` (the experts); :data:`FEATURE_OF` maps them onto
the dataset feature names (``audio``, ``text``).

Deliberate differences from the authors' code (see the digest): padding is excluded from
every loss term, all attention uses key padding masks, the GRU is packed, and model
selection is on dev (done by :func:`erc_lib.training.fit`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..losses import focal_loss, masked_kl_distillation, supervised_contrastive_loss
from ..ranges import FLAG, NON_NEGATIVE, POSITIVE, PROBABILITY, SIZE, Rule

EXPERT_MODALITIES = ("speech", "text")
FEATURE_OF = {"speech": "audio", "text": "text"}
EXPERTS = ("speech", "text", "multimodal")
KL_FORMS = ("symmetric", "directional")
MISTER_E_VARIANTS = ("mister_e", "speech", "text", "multimodal", "monolithic", "feat_moe", "no_loss_moe")


@dataclass
class MiSTEREConfig:
    """MiSTER-E hyper-parameters (paper values in brackets, Sec. 4.2).

    Attributes:
        input_dims: expert modality (``speech``/``text``) -> utterance feature size. Its
            keys choose the modalities; a single ``text`` key is the text-only mode.
        n_classes: number of emotion classes.
        variant: one of :data:`MISTER_E_VARIANTS`.
        can_hidden: CAN width: inception channels, BiGRU output (2 x hidden/2) and residual
            projection [1024; BiGRU hidden 512].
        gru_layers: BiGRU layers [3 IEMOCAP/MOSI, 2 MELD].
        can_dropout: dropout before the CAN classifier [0.2].
        input_dropout: dropout on the experts' input embeddings (not in the paper [0]; our small
            inputs overfit without it).
        fusion_layers, fusion_hidden, fusion_heads, fusion_dropout: multimodal expert
            [4, 120, 4, 0.5].
        gate_hidden: hidden units of the gate MLP (Eq. 10 says FC; the authors use
            Linear(3C, 10)-ReLU-Linear(10, 3)) [10].
        gate_temperature: softmax temperature of the gate [paper: not stated, i.e. 1; authors' code: 2].
        kl_form: ``"symmetric"``: the authors' code, a symmetric KL between every pair of the
            three experts; ``"directional"``: the paper's Eq. 17, ``KL(p^m || p^s) + KL(p^m || p^t)``.
        focal_gamma: focal loss gamma [3].
        lambda_con: contrastive weight lambda [1 MELD/MOSI, 2 IEMOCAP].
        con_temperature: contrastive temperature tau [1 IEMOCAP/MOSI, 0.05 MELD].
        con_per_dialogue: contrast within each dialogue (Eq. 14) or across the batch.
        alpha_kl: KL consistency weight alpha [0.1 IEMOCAP/MOSI, 1e-3 MELD].
    """

    input_dims: dict[str, int]
    n_classes: int
    variant: str = "mister_e"
    can_hidden: int = 1024
    gru_layers: int = 3
    can_dropout: float = 0.2
    input_dropout: float = 0.0
    fusion_layers: int = 4
    fusion_hidden: int = 120
    fusion_heads: int = 4
    fusion_dropout: float = 0.5
    gate_hidden: int = 10
    gate_temperature: float = 2.0
    kl_form: str = "symmetric"
    focal_gamma: float = 3.0
    lambda_con: float = 1.0
    con_temperature: float = 1.0
    con_per_dialogue: bool = True
    alpha_kl: float = 0.1

    def __post_init__(self):
        if self.variant not in MISTER_E_VARIANTS:
            raise ValueError(f"unknown MiSTER-E variant {self.variant!r}; expected one of {MISTER_E_VARIANTS}")
        bad = [m for m in self.input_dims if m not in EXPERT_MODALITIES]
        if bad or not self.input_dims:
            raise ValueError(f"input_dims keys must be a non-empty subset of {EXPERT_MODALITIES}, got {list(self.input_dims)}")
        needs = {"speech": ("speech",), "text": ("text",)}.get(self.variant, EXPERT_MODALITIES)
        missing = [m for m in needs if m not in self.input_dims]
        if missing:
            raise ValueError(f"variant {self.variant!r} needs {list(needs)} features; missing {missing} "
                             "(text-only data supports variant='text' only)")
        if self.kl_form not in KL_FORMS:
            raise ValueError(f"kl_form must be one of {KL_FORMS}, got {self.kl_form!r}")
        if self.can_hidden % 2 or self.fusion_hidden % self.fusion_heads:
            raise ValueError("can_hidden must be even and fusion_hidden divisible by fusion_heads")


#: :func:`build_mister_e` argument (:class:`MiSTEREConfig` field) -> allowed values (:mod:`erc_lib.ranges`).
MISTER_E_RULES = {"variant": Rule(str, choices=MISTER_E_VARIANTS),
                  "can_hidden": SIZE, "gru_layers": SIZE, "can_dropout": PROBABILITY, "input_dropout": PROBABILITY,
                  "fusion_layers": SIZE, "fusion_hidden": SIZE, "fusion_heads": SIZE, "fusion_dropout": PROBABILITY,
                  "gate_hidden": SIZE, "gate_temperature": POSITIVE,
                  "kl_form": Rule(str, choices=KL_FORMS), "focal_gamma": NON_NEGATIVE,
                  "lambda_con": NON_NEGATIVE, "con_temperature": POSITIVE, "con_per_dialogue": FLAG,
                  "alpha_kl": NON_NEGATIVE}

#: Search space of :mod:`erc_lib.tune` (see :data:`erc_lib.models.sdt.SEARCH_SPACE` for the format).
SEARCH_SPACE = {
    "model": {"can_hidden": ("choice", [64, 128, 256]), "can_dropout": ("float", 0.0, 0.6),
              "input_dropout": ("float", 0.0, 0.6),
              "fusion_dropout": ("float", 0.1, 0.6), "focal_gamma": ("choice", [0.0, 1.0, 2.0, 3.0]),
              "lambda_con": ("choice", [0.0, 0.5, 1.0, 2.0]), "alpha_kl": ("log", 1e-3, 1.0),
              "gate_temperature": ("choice", [1.0, 2.0])},
    "train": {"lr": ("log", 1e-4, 3e-3), "batch_size": ("choice", [4, 8, 16]), "weight_decay": ("log", 1e-6, 1e-3),
              "patience": ("choice", [5, 8, 12])},
}
#: The paper's size (CAN 1024 = BiGRU 2 x 512, 3 GRU layers, batch 16): ``(model_args, train_args)`` for the
#: benchmark's "paper" size (:mod:`erc_lib.bench`); the notebooks use ``configs/defaults.yaml``.
PAPER_SIZE = ({"can_hidden": 1024, "gru_layers": 3}, {"batch_size": 16})


# ----------------------------------------------------------------------------- 1. CAN
class ContextAdditionNetwork(nn.Module):
    """Context Addition Network, one modality's expert (Sec. 3.3.1, Eq. 3-4).

    ``x = sum_{k in 1,3,5} ReLU(Conv1d_k(E))`` (temporal inception network, "same" padding),
    ``h = BiGRU(x) + FC(E)`` (packed over the real utterances, residual from the input),
    ``logits = FC(Dropout(h))``.

    Shapes: ``features`` ``(batch, L, D)``, ``mask`` ``(batch, L)`` bool ->
    ``(h (batch, L, hidden), logits (batch, L, C))``. Positions past a dialogue's end are zero
    in ``h`` and never influence real positions (padding is zeroed before the convolutions,
    whose own zero padding then matches the unpadded dialogue).
    """

    def __init__(self, input_dim: int, hidden: int, n_classes: int, gru_layers: int = 1, dropout: float = 0.2):
        super().__init__()
        self.inception = nn.ModuleList([nn.Conv1d(input_dim, hidden, k, padding=k // 2) for k in (1, 3, 5)])
        self.gru = nn.GRU(hidden, hidden // 2, num_layers=gru_layers, batch_first=True, bidirectional=True)
        self.residual = nn.Linear(input_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, features: torch.Tensor, mask: torch.Tensor,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``lengths``: optional ``(batch,)`` int64 CPU tensor of real utterances per dialogue
        (``DialogueBatch.cpu_lengths()``); without it they are read from ``mask`` (a device
        sync on a GPU)."""
        e = features * mask.unsqueeze(-1)
        x = sum(torch.relu(conv(e.transpose(1, 2))) for conv in self.inception).transpose(1, 2)
        lengths = lengths if lengths is not None else mask.sum(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        context, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=x.shape[1])
        h = (context + self.residual(e)) * mask.unsqueeze(-1)
        return h, self.classifier(self.dropout(h))


# ----------------------------------------------------------------------------- 2. multimodal expert
class CrossModalBlock(nn.Module):
    """One fusion block: bidirectional cross-attention (Eq. 5-6) then per-modality
    self-attention over the dialogue (Eq. 7-8), each ``LN(x + Dropout(MHA(...)))``
    (attention-weight dropout 0.1 as in the authors' code; no position encoding, as in the paper).

    Shapes: ``s``, ``t`` ``(batch, L, d)``, ``pad`` ``(batch, L)`` True at padding ->
    ``(M^s, M^t)`` each ``(batch, L, d)``.
    """

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        mha = lambda: nn.MultiheadAttention(d, heads, dropout=0.1, batch_first=True)
        self.cross_s, self.cross_t, self.self_s, self.self_t = mha(), mha(), mha(), mha()
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(4)])
        self.dropout = nn.Dropout(dropout)

    def _attend(self, attention, norm, query, source, pad):
        out, _ = attention(query, source, source, key_padding_mask=pad, need_weights=False)
        return norm(query + self.dropout(out))

    def forward(self, s: torch.Tensor, t: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t_to_s = self._attend(self.cross_s, self.norms[0], s, t, pad)   # Eq. 5: speech queries text
        s_to_t = self._attend(self.cross_t, self.norms[1], t, s, pad)   # Eq. 6: text queries speech
        m_s = self._attend(self.self_s, self.norms[2], t_to_s, t_to_s, pad)  # Eq. 7
        m_t = self._attend(self.self_t, self.norms[3], s_to_t, s_to_t, pad)  # Eq. 8
        return m_s, m_t


class MultimodalExpert(nn.Module):
    """Multimodal expert (Sec. 3.3.2, Eq. 5-9): ``s = FC(E^s)``, ``t = FC(E^t)``, ``layers``
    :class:`CrossModalBlock` s, ``y^m = FC(Dropout([M^s; M^t]))``.

    Shapes: ``speech`` ``(batch, L, D_s)``, ``text`` ``(batch, L, D_t)``, ``mask`` ``(batch, L)``
    -> ``(M^s (batch, L, d), M^t (batch, L, d), logits (batch, L, C))``.
    """

    def __init__(self, speech_dim: int, text_dim: int, d: int, heads: int, layers: int, dropout: float, n_classes: int):
        super().__init__()
        self.project_s = nn.Linear(speech_dim, d)
        self.project_t = nn.Linear(text_dim, d)
        self.blocks = nn.ModuleList([CrossModalBlock(d, heads, dropout) for _ in range(layers)])
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * d, n_classes)

    def forward(self, speech: torch.Tensor, text: torch.Tensor, mask: torch.Tensor):
        pad = ~mask
        s, t = self.project_s(speech), self.project_t(text)
        for block in self.blocks:
            s, t = block(s, t, pad)
        return s, t, self.classifier(self.dropout(torch.cat([s, t], dim=-1)))


# ----------------------------------------------------------------------------- 3. gate
class ExpertGate(nn.Module):
    """Gate (Sec. 3.4, Eq. 10): ``beta = softmax(MLP(x) / T)`` over ``n_experts``.

    ``x`` is the concatenation of the experts' logits (MiSTER-E) or representations
    (feat-MoE). Shapes: ``(batch, L, in_dim)`` -> ``(batch, L, n_experts)``, rows sum to 1.
    """

    def __init__(self, in_dim: int, n_experts: int, hidden: int = 10, temperature: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError("gate temperature must be > 0")
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_experts))
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.mlp(x) / self.temperature, dim=-1)


# ----------------------------------------------------------------------------- the model
class MiSTERE(nn.Module):
    """MiSTER-E and its ablations (module docstring; ``config.variant``).

    Input: a :class:`erc_lib.data.DialogueBatch` with ``features["audio"]`` (speech) and/or
    ``features["text"]`` ``(batch, L, D)`` and ``mask`` ``(batch, L)``.

    Output dict:
        ``logits`` ``(batch, L, C)``: the final prediction (gated mixture, or the single
        expert / monolithic network's logits);
        ``gate`` ``(batch, L, n_experts)``: per-utterance expert weights (rows sum to 1;
        ``(batch, L, 1)`` of ones when there is no gate);
        ``logits_<expert>`` for every expert that exists (``speech``, ``text``, ``multimodal``);
        ``rep_speech_mm``, ``rep_text_mm`` ``(batch, L, fusion_hidden)``: the fusion network's
        speech/text representations (contrastive views), when it exists.

    Raises ValueError when a needed feature is missing or has the wrong size.
    """

    def __init__(self, config: MiSTEREConfig):
        super().__init__()
        self.config = c = config
        v = c.variant
        self.unimodal = [m for m in EXPERT_MODALITIES if m in c.input_dims and v in ("mister_e", "feat_moe", "no_loss_moe", "monolithic", m)]
        self.cans = nn.ModuleDict({m: ContextAdditionNetwork(c.input_dims[m], c.can_hidden, c.n_classes,
                                                             c.gru_layers, c.can_dropout) for m in self.unimodal})
        self.fusion = None
        if v in ("mister_e", "feat_moe", "no_loss_moe", "multimodal", "monolithic"):
            dims = ((c.can_hidden, c.can_hidden) if v == "monolithic"
                    else (c.input_dims["speech"], c.input_dims["text"]))
            self.fusion = MultimodalExpert(*dims, c.fusion_hidden, c.fusion_heads, c.fusion_layers,
                                           c.fusion_dropout, c.n_classes)
        self.experts = list(EXPERTS) if v in ("mister_e", "feat_moe", "no_loss_moe") else []
        self.gate = None
        if v in ("mister_e", "no_loss_moe"):
            self.gate = ExpertGate(len(EXPERTS) * c.n_classes, len(EXPERTS), c.gate_hidden, c.gate_temperature)
        elif v == "feat_moe":
            d = c.fusion_hidden
            self.to_common = nn.ModuleDict({"speech": nn.Linear(c.can_hidden, d), "text": nn.Linear(c.can_hidden, d),
                                            "multimodal": nn.Linear(2 * d, d)})
            self.gate = ExpertGate(len(EXPERTS) * d, len(EXPERTS), c.gate_hidden, c.gate_temperature)
            self.mixture_classifier = nn.Sequential(nn.Dropout(c.fusion_dropout), nn.Linear(d, c.n_classes))
        self.input_dropout = nn.Dropout(c.input_dropout)

    def _features(self, batch, modality: str) -> torch.Tensor:
        name = FEATURE_OF[modality]
        if name not in batch.features:
            raise ValueError(f"MiSTER-E {modality} expert needs batch.features[{name!r}]; batch has {list(batch.features)}")
        x = batch.features[name]
        if x.shape[-1] != self.config.input_dims[modality]:
            raise ValueError(f"{name} features are {x.shape[-1]}-d, model expects {self.config.input_dims[modality]}-d")
        return self.input_dropout(x)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        mask, v = batch.mask, self.config.variant
        out: dict[str, torch.Tensor] = {}
        reps = {}
        lengths = batch.cpu_lengths() if hasattr(batch, "cpu_lengths") else None  # CPU side: no device sync
        for m in self.unimodal:                                   # Eq. 3-4
            reps[m], out[f"logits_{m}"] = self.cans[m](self._features(batch, m), mask, lengths)
        if self.fusion is not None:                               # Eq. 5-9
            inputs = ((reps["speech"], reps["text"]) if v == "monolithic"
                      else (self._features(batch, "speech"), self._features(batch, "text")))
            m_s, m_t, out["logits_multimodal"] = self.fusion(*inputs, mask)
            out["rep_speech_mm"], out["rep_text_mm"] = m_s, m_t
            reps["multimodal"] = torch.cat([m_s, m_t], dim=-1)
        if v in ("mister_e", "no_loss_moe"):                      # Eq. 10-11: gate the logits
            expert_logits = torch.stack([out[f"logits_{e}"] for e in EXPERTS], dim=2)  # (B, L, 3, C)
            out["gate"] = self.gate(expert_logits.flatten(2))
            out["logits"] = (out["gate"].unsqueeze(-1) * expert_logits).sum(2)
        elif v == "feat_moe":                                     # gate the representations
            common = torch.stack([self.to_common[e](reps[e]) for e in EXPERTS], dim=2)  # (B, L, 3, d)
            out["gate"] = self.gate(common.flatten(2))
            out["logits"] = self.mixture_classifier((out["gate"].unsqueeze(-1) * common).sum(2))
        else:                                                     # one network, no gate
            single = "multimodal" if v in ("multimodal", "monolithic") else v
            out["logits"] = out[f"logits_{single}"]
            out["gate"] = torch.ones(*mask.shape, 1, device=mask.device)
        return out

    def loss(self, out: dict[str, torch.Tensor], batch) -> dict[str, torch.Tensor]:
        """Sec. 3.5 (Eq. 12, 15-18), masked to real utterances.

        Returns ``{"total", "focal_mix"?, "focal_<expert>"..., "contrastive"?, "kl"?}``: the
        unweighted terms this variant uses (``focal_mix`` is the gated prediction's focal loss;
        single networks only have their own ``focal_<expert>``) and
        ``total = sum focal + lambda * contrastive + alpha * kl``.
        """
        c, v = self.config, self.config.variant
        labels, mask = batch.labels, batch.mask
        fl = lambda logits: focal_loss(logits, labels, mask, c.focal_gamma)
        terms: dict[str, torch.Tensor] = {}
        if v in ("mister_e", "feat_moe", "no_loss_moe"):
            terms["focal_mix"] = fl(out["logits"])                                        # Eq. 16
        if v != "no_loss_moe":
            for e in ("speech", "text", "multimodal"):
                if f"logits_{e}" in out and (v != "monolithic" or e == "multimodal"):
                    terms[f"focal_{e}"] = fl(out[f"logits_{e}"])                           # Eq. 12, 15
            if "rep_speech_mm" in out and c.lambda_con:                                   # Eq. 13-15
                views = torch.stack([out["rep_speech_mm"], out["rep_text_mm"]], dim=2)
                terms["contrastive"] = supervised_contrastive_loss(
                    views, labels, mask, c.con_temperature, c.con_per_dialogue)
            if self.experts and c.alpha_kl:                                               # Eq. 17
                if c.kl_form == "directional":   # the paper: the multimodal expert teaches the unimodal ones
                    pairs = [("multimodal", "speech"), ("multimodal", "text")]
                else:                            # the authors' code: both directions, every pair of experts
                    pairs = [(a, b) for a in EXPERTS for b in EXPERTS if a != b]
                terms["kl"] = sum(masked_kl_distillation(out[f"logits_{student}"], out[f"logits_{teacher}"], mask)
                                  for teacher, student in pairs)
        weights = {"contrastive": c.lambda_con, "kl": c.alpha_kl}
        terms["total"] = sum(weights.get(k, 1.0) * t for k, t in terms.items())            # Eq. 18
        return terms


def build_mister_e(data, modalities: tuple[str, ...] | list[str] | str = ("speech", "text"), **overrides) -> MiSTERE:
    """A :class:`MiSTERE` sized for ``data`` (feature sizes and number of classes).

    Args:
        data: :class:`erc_lib.data.ERCData` whose dialogues carry the features of
            ``modalities`` (``speech`` -> ``audio``, ``text`` -> ``text``; for text-only
            datasets run :func:`erc_lib.features.text.add_text_features` first).
        modalities: expert modalities; ``("text",)`` (or ``"text"``) is the text-only mode
            (Sec. 5.3), which defaults to ``variant="text"``.
        overrides: any other :class:`MiSTEREConfig` field (``variant``, ``focal_gamma`` ...).
    Raises: ValueError for unknown modalities, missing features or a variant the modalities
        cannot support.
    """
    names = _expert_modalities(modalities)
    dims = data.feature_dims()
    missing = [FEATURE_OF[m] for m in names if FEATURE_OF[m] not in dims]
    if missing:
        raise ValueError(f"{data.name} has no {missing} features (available: {list(dims)}); "
                         "text features come from erc_lib.features.text.add_text_features")
    if names == ["text"]:
        overrides.setdefault("variant", "text")
    return MiSTERE(MiSTEREConfig(input_dims={m: dims[FEATURE_OF[m]] for m in names}, n_classes=data.n_classes,
                                 **overrides))


def expert_features(modalities: tuple[str, ...] | list[str] | str) -> list[str]:
    """Expert modalities -> dataset feature names to batch, e.g. ``["audio", "text"]``."""
    return [FEATURE_OF[m] for m in _expert_modalities(modalities)]


def _expert_modalities(modalities) -> list[str]:
    names = [modalities] if isinstance(modalities, str) else list(modalities)
    if not names or any(m not in EXPERT_MODALITIES for m in names):
        raise ValueError(f"modalities must name MiSTER-E's experts: ('speech', 'text') for the full model or "
                         f"('text',) / 'text' for the text-only mode (Sec. 5.3); got {modalities!r}")
    return names


# ----------------------------------------------------------------------------- outputs kept from the test pass
def kept_outputs(variant: str) -> tuple[str, ...]:
    """Per-utterance outputs to keep from the dev-selected test pass (for :func:`erc_lib.training.fit`):
    the gate, and every expert's logits when the variant has experts."""
    experts = tuple(f"logits_{e}" for e in EXPERTS) if variant in ("mister_e", "feat_moe", "no_loss_moe") else ()
    return ("gate",) + experts


