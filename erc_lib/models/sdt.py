"""SDT: a Transformer-based model with self-distillation for multimodal ERC
(Ma, Wang, Lin, Zhang, Zhang, Xu; IEEE Transactions on Multimedia 2023).

Reading order follows the paper (and the seed report, ``shared/seeds/000_*.txt``):

1. Modality encoder input (Sec. 3.2 / seed Eq. 5): each modality's utterance features are
   projected by a 1-D convolution (kernel 1, no bias) to ``d_model``, and a sinusoidal
   position encoding PE and a speaker embedding SE are added:
   ``H_m = Conv1d(U_m) + PE + SE``. With speaker bios (seed Eq. 6-7),
   ``SE = V_s(s) + W h_desc``.
2. Intra- and inter-modal transformers: for every ordered pair (source s, target m) of
   present modalities, a one-layer transformer in which the target queries the source:
   ``H_{s->m} = Transformer(Q=H_m, K=V=H_s)`` (s = m is the intra-modal one).
3. Hierarchical gated fusion (Sec. 3.3): a unimodal gate on every stream,
   ``H'_{s->m} = sigmoid(W_{s->m} H_{s->m}) * H_{s->m}``; per target the streams are
   concatenated and projected, ``H'_m = Linear([H'_{s1->m}; H'_{s2->m}; ...])``; then the
   multimodal gate, a per-dimension softmax across modalities of a shared linear map,
   ``g_m = softmax_m(W_g H'_m)``, ``H = sum_m g_m * H'_m``.
4. Classifiers: per modality ``ReLU -> Dropout -> Linear`` on ``H'_m`` (students) and a
   linear layer on ``H`` (the fused teacher).
5. Self-distillation loss (Sec. 3.4 / seed Eq. 1-4):
   ``L = g1 CE(fused) + g2 sum_m CE(m) + g3 sum_m KL(fused^T || m^T)``, masked.

As in the authors' code the teacher is not detached and there is no T^2 factor by default
(``detach_teacher`` and ``scale_kl_by_t2`` switch both on).

Computation (not the model): with ``pack_utterances`` (the default) every position-wise layer
(projections, feed-forward networks, gates, classifiers) runs on the batch's real utterances
only (:class:`~erc_lib.models.layers.PackedUtterances`), and only attention sees the padded
dialogue layout. The outputs are the same function of the inputs as with padding (a test
checks it); dropout draws its masks over the packed rows, so a seed's numbers differ from
``pack_utterances=False``, the padded computation of the reference runs before 2026-12-06.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import canonical_modalities
from ..losses import class_weights_for, masked_cross_entropy, masked_kl_distillation
from ..ranges import FLAG, NON_NEGATIVE, POSITIVE, PROBABILITY, SIZE, Rule
from .layers import PackedUtterances, SinusoidalPositionalEncoding

MODALITY_CODES = {"t": "text", "a": "audio", "v": "visual"}
UNIMODAL_GATES = ("learned", "identity")
IEMOCAP_ROLES = {"M": 0, "F": 1}


def parse_modalities(spec: str | list[str]) -> list[str]:
    """``"tav"`` / ``"ta"`` / ``["text", "audio"]`` -> ordered list of modality names.

    Raises ValueError on unknown codes, duplicates or an empty selection."""
    names = [MODALITY_CODES.get(m, m) for m in (list(spec) if isinstance(spec, str) else spec)]
    bad = [m for m in names if m not in MODALITY_CODES.values()]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"bad modality selection {spec!r}: use a non-empty subset of 't', 'a', 'v'")
    return canonical_modalities(names)


@dataclass
class SDTConfig:
    """SDT hyper-parameters (paper values in brackets).

    Attributes:
        input_dims: modality -> utterance feature size (its keys choose the modalities).
        n_classes: number of emotion classes.
        n_speakers: speaker-embedding slots (per-dialogue speaker indices, or the 2 roles;
            padding gets an extra slot).
        d_model: hidden size [1024].
        n_heads: attention heads [8].
        d_ff: feed-forward size [1024].
        dropout: [0.5].
        temperature: KL temperature T [IEMOCAP 1, MELD 8].
        gammas: (g1, g2, g3) loss weights [1, 1, 1]; ``self_distillation=False`` sets g3 = 0.
        self_distillation: keep the KL term.
        class_weights: optional per-class CE weights (SDT uses inverse frequencies on IEMOCAP).
        bios_dim: size of the speaker-description embedding h_desc; None disables
            speaker bios (seed Sec. 4.4).
        speaker_roles: ``(n_global_speakers,)`` role index of every dataset-wide speaker id
            (IEMOCAP: 0 = M, 1 = F, the authors' fixed index from the one-hot qmask); None uses
            each speaker's order of first appearance in its dialogue.
        unimodal_gate: ``"learned"`` (``sigmoid(W x) * x``) or ``"identity"`` (``W`` frozen to
            I: ``sigmoid(x) * x``, the authors' MELD setting).
        scale_kl_by_t2, detach_teacher: see module docstring.
        pack_utterances: run position-wise layers on real utterances only (module
            docstring); False keeps the padded computation.
    """

    input_dims: dict[str, int]
    n_classes: int
    n_speakers: int = 9
    d_model: int = 1024
    n_heads: int = 8
    d_ff: int | None = None
    dropout: float = 0.5
    temperature: float = 1.0
    gammas: tuple[float, float, float] = (1.0, 1.0, 1.0)
    self_distillation: bool = True
    class_weights: list[float] | None = None
    bios_dim: int | None = None
    speaker_roles: list[int] | None = None
    unimodal_gate: str = "learned"
    scale_kl_by_t2: bool = False
    detach_teacher: bool = False
    pack_utterances: bool = True

    def __post_init__(self):
        if self.unimodal_gate not in UNIMODAL_GATES:
            raise ValueError(f"unimodal_gate must be one of {UNIMODAL_GATES}, got {self.unimodal_gate!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


#: :func:`build_sdt` argument (:class:`SDTConfig` field or builder flag) -> allowed values (:mod:`erc_lib.ranges`).
SDT_RULES = {"d_model": SIZE, "n_heads": SIZE, "d_ff": Rule(int, 1, nullable=True), "dropout": PROBABILITY,
             "temperature": POSITIVE, "gammas": Rule(list, length=3, item=NON_NEGATIVE), "self_distillation": FLAG,
             "bios_dim": Rule(int, 1, nullable=True), "unimodal_gate": Rule(str, choices=UNIMODAL_GATES),
             "scale_kl_by_t2": FLAG, "detach_teacher": FLAG, "pack_utterances": FLAG, "class_weighted": FLAG,
             "speaker_roles": FLAG, "n_speakers": SIZE}

#: Search space of :mod:`erc_lib.tune` (same budget for every model): ``model`` entries are
#: :func:`build_sdt` arguments, ``train`` entries :class:`erc_lib.training.TrainConfig` fields.
#: ``("log", a, b)`` log-uniform, ``("float", a, b)`` uniform, ``("int", a, b)``, ``("choice", [...])``.
SEARCH_SPACE = {
    "model": {"d_model": ("choice", [64, 128, 256]), "dropout": ("float", 0.1, 0.6),
              "temperature": ("choice", [1.0, 2.0, 4.0, 8.0]), "gammas": ("choice", [[1.0, 1.0, 1.0], [1.0, 0.5, 0.5],
                                                                                      [1.0, 1.0, 2.0]])},
    "train": {"lr": ("log", 1e-4, 3e-3), "batch_size": ("choice", [2, 4, 8, 16]), "weight_decay": ("log", 1e-6, 1e-3),
              "patience": ("choice", [5, 10, 15])},
}
#: The paper's size (Ma et al. 2023, Sec. 4.2, IEMOCAP): ``(model_args, train_args)`` for the benchmark's
#: "paper" size (:mod:`erc_lib.bench`); the notebooks use ``configs/defaults.yaml``.
PAPER_SIZE = ({"d_model": 1024, "n_heads": 8, "d_ff": 1024}, {"batch_size": 16})


class CrossModalTransformerLayer(nn.Module):
    """One SDT transformer layer where a target stream queries a source stream.

    ``x = q + Dropout(MHA(q, kv, kv))``; ``out = x + Dropout(FFN(LayerNorm(x)))`` with a
    GELU feed-forward network. Padded keys are masked; with ``kv is q`` it is intra-modal.

    Shapes: ``query`` ``(batch, L, d_model)``, ``source`` ``(batch, L, d_model)``,
    ``key_padding_mask`` ``(batch, L)`` True at padding -> ``(batch, L, d_model)``; or, with
    ``utterances`` (:class:`~erc_lib.models.layers.PackedUtterances`), ``query`` and ``source``
    ``(n_real, d_model)`` rows -> ``(n_real, d_model)`` (:meth:`attend_packed`).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout),
                                          nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, source: torch.Tensor, key_padding_mask: torch.Tensor,
                utterances: PackedUtterances | None = None) -> torch.Tensor:
        if utterances is None:
            attended, _ = self.attention(query, source, source, key_padding_mask=key_padding_mask, need_weights=False)
        else:
            attended = self.attend_packed(query, source, utterances)
        x = query + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.norm(x)))

    def attend_packed(self, query: torch.Tensor, source: torch.Tensor, utterances: PackedUtterances) -> torch.Tensor:
        """``MHA(Q=query, K=V=source)`` with the layer's own attention weights, its
        projections computed on real utterances only: ``(n_real, d_model)`` rows in and out.
        Queries and keys meet in the dialogue layout, padded keys masked (scaled dot-product
        attention, attention-weight dropout as :class:`torch.nn.MultiheadAttention`)."""
        mha = self.attention
        d, heads = query.shape[-1], mha.num_heads
        (q_weight, kv_weight), (q_bias, kv_bias) = mha.in_proj_weight.split([d, 2 * d]), mha.in_proj_bias.split([d, 2 * d])
        heads_first = lambda x: x.unflatten(-1, (heads, -1)).transpose(1, 2)  # (B, L, d) -> (B, heads, L, d / heads)
        q = heads_first(utterances.unpack(F.linear(query, q_weight, q_bias)))
        k, v = (heads_first(x) for x in utterances.unpack(F.linear(source, kv_weight, kv_bias)).chunk(2, dim=-1))
        keys = utterances.mask[:, None, None, :]                                 # (B, 1, 1, L): True = attend
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keys,
                                                  dropout_p=mha.dropout if self.training else 0.0)
        return mha.out_proj(utterances.pack(attended.transpose(1, 2).flatten(2)))


class UnimodalGate(nn.Module):
    """First-level gate: ``sigmoid(W x) * x`` (no bias). ``(..., d) -> (..., d)``.

    ``learned=False`` freezes ``W`` to the identity, ``sigmoid(x) * x`` (the authors' MELD
    setting, model.py)."""

    def __init__(self, d_model: int, learned: bool = True):
        super().__init__()
        self.linear = nn.Linear(d_model, d_model, bias=False) if learned else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x) if self.linear is not None else x) * x


class MultimodalGate(nn.Module):
    """Second-level gate: per-dimension softmax across modalities of a shared linear map,
    then the weighted sum. ``(..., M, d) -> fused (..., d), weights (..., M, d)`` (``...`` is
    ``(batch, L)``, or ``(n_real,)`` packed)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.linear = nn.Linear(d_model, d_model, bias=False)

    def forward(self, streams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.linear(streams), dim=-2)
        return (weights * streams).sum(dim=-2), weights


class SDT(nn.Module):
    """Self-Distillation Transformer over any non-empty subset of text / audio / visual.

    Input: a :class:`erc_lib.data.DialogueBatch` with ``features[m]`` ``(batch, L, D_m)``
    for every modality of ``config.input_dims``, ``speakers`` ``(batch, L)`` (per-dialogue
    indices ``< n_speakers``), ``mask`` ``(batch, L)`` and, with bios, ``extra["bios"]``
    ``(batch, L, bios_dim)``.

    Output dict: ``logits`` ``(batch, L, C)`` (fused teacher), ``logits_<m>`` per modality
    (students), ``gate`` ``(batch, L, M)`` mean multimodal gate weight per modality. Only real
    utterances carry meaning: with ``pack_utterances`` every output is zero at padding.

    Raises ValueError for a speaker index ``>= n_speakers`` or missing inputs.
    """

    def __init__(self, config: SDTConfig):
        super().__init__()
        self.config = config
        self.modalities = parse_modalities(list(config.input_dims))
        d, M = config.d_model, len(self.modalities)
        self.projections = nn.ModuleDict({
            m: nn.Conv1d(config.input_dims[m], d, kernel_size=1, bias=False) for m in self.modalities})
        self.position = SinusoidalPositionalEncoding(d)
        self.speaker_embedding = nn.Embedding(config.n_speakers + 1, d, padding_idx=config.n_speakers)
        self.bios_projection = nn.Linear(config.bios_dim, d, bias=False) if config.bios_dim else None
        self.input_dropout = nn.Dropout(config.dropout)
        d_ff = config.d_ff or d
        pairs = [(s, m) for m in self.modalities for s in self.modalities]  # source s -> target m
        self.transformers = nn.ModuleDict({
            f"{s}_{m}": CrossModalTransformerLayer(d, config.n_heads, d_ff, config.dropout) for s, m in pairs})
        self.unimodal_gates = nn.ModuleDict({f"{s}_{m}": UnimodalGate(d, config.unimodal_gate == "learned")
                                             for s, m in pairs})
        self.stream_projections = nn.ModuleDict({m: nn.Linear(M * d, d) for m in self.modalities})
        self.multimodal_gate = MultimodalGate(d)
        self.unimodal_heads = nn.ModuleDict({
            m: nn.Sequential(nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(d, config.n_classes))
            for m in self.modalities})
        self.fused_head = nn.Linear(d, config.n_classes)
        weights = torch.tensor(config.class_weights, dtype=torch.float) if config.class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        roles = torch.tensor(config.speaker_roles, dtype=torch.long) if config.speaker_roles is not None else None
        self.register_buffer("speaker_roles", roles, persistent=False)

    def speaker_index(self, batch) -> torch.Tensor:
        """``(batch, L)`` speaker-embedding index: the role of each dataset-wide speaker id
        (``config.speaker_roles``) or the per-dialogue index of the batch."""
        if self.speaker_roles is None:
            return batch.speakers
        ids = batch.global_speakers.clamp(min=0)
        if ids.device.type == "cpu" and int(ids.max()) >= len(self.speaker_roles):  # free on CPU; see speaker_encoding
            raise ValueError(f"speaker id {int(ids.max())} has no role ({len(self.speaker_roles)} known); build the "
                             "model with the same dataset (build_sdt) that the batches come from")
        return self.speaker_roles[ids]

    def speaker_encoding(self, batch) -> torch.Tensor:
        """SE ``(batch, L, d_model)``: ``V_s(s)`` (+ ``W h_desc`` with bios), padding -> pad slot.

        The speaker-index range is checked on CPU tensors only, where reading the maximum is
        free; on a GPU it would stall every step, and :func:`build_sdt` sizes ``n_speakers``
        and the roles from the dataset, so an index out of range there can only come from
        a model built for other data (the embedding lookup then fails with a device assert).
        """
        n = self.config.n_speakers
        index = self.speaker_index(batch)
        if index.device.type == "cpu" and int(index.max()) >= n:
            raise ValueError(f"speaker index {int(index.max())} >= n_speakers={n}; raise n_speakers")
        speakers = index.masked_fill(~batch.mask, n)
        se = self.speaker_embedding(speakers)
        if self.bios_projection is not None:
            if "bios" not in batch.extra:
                raise ValueError("SDT was built with bios_dim but the batch has no extra['bios']")
            se = se + self.bios_projection(batch.extra["bios"]) * batch.mask.unsqueeze(-1)
        return se

    def forward(self, batch) -> dict[str, torch.Tensor]:
        mask = batch.mask
        pad = ~mask
        L = mask.shape[1]
        # Position-wise layers see rows: (batch, L, .) padded, or (n_real, .) packed.
        utterances = PackedUtterances(mask) if self.config.pack_utterances else None
        rows = utterances.pack if utterances is not None else (lambda x: x)
        layout = utterances.unpack if utterances is not None else (lambda x: x)
        context = rows(self.position(L).unsqueeze(0) + self.speaker_encoding(batch))  # PE + SE
        # 1. H_m = Conv1d(U_m) + PE + SE                                  (seed Eq. 5/7)
        hidden = {}
        for m in self.modalities:
            u = batch.features[m]
            if u.shape[-1] != self.config.input_dims[m]:
                raise ValueError(f"{m} features are {u.shape[-1]}-d, model expects {self.config.input_dims[m]}-d")
            if utterances is None:
                projected = self.projections[m](u.transpose(1, 2)).transpose(1, 2)
            else:  # the kernel-1 convolution is a linear map of each utterance
                projected = F.linear(utterances.pack(u), self.projections[m].weight.squeeze(-1))
            hidden[m] = self.input_dropout(projected + context)
        # 2-3. intra/inter-modal transformers, unimodal gates, per-target projection
        per_modality = {}
        for m in self.modalities:
            streams = [self.unimodal_gates[f"{s}_{m}"](self.transformers[f"{s}_{m}"](hidden[m], hidden[s], pad, utterances))
                       for s in self.modalities]
            per_modality[m] = self.stream_projections[m](torch.cat(streams, dim=-1))
        # 3. multimodal gate: H = sum_m softmax_m(W_g H'_m) * H'_m
        if len(self.modalities) == 1:
            # A softmax over one modality is exactly 1 (and its gradient exactly 0): H = H'_m,
            # bit for bit, without the gate's d x d map (forward and backward).
            fused = per_modality[self.modalities[0]]
            gate_mean = fused.new_ones(*fused.shape[:-1], 1)
        else:
            stacked = torch.stack([per_modality[m] for m in self.modalities], dim=-2)  # (..., M, d)
            fused, gate = self.multimodal_gate(stacked)
            gate_mean = gate.mean(-1)
        out = {"logits": layout(self.fused_head(fused)), "gate": layout(gate_mean)}
        for m in self.modalities:
            out[f"logits_{m}"] = layout(self.unimodal_heads[m](per_modality[m]))
        return out

    def loss(self, out: dict[str, torch.Tensor], batch) -> dict[str, torch.Tensor]:
        """``g1 CE(fused) + g2 sum_m CE(m) + g3 sum_m KL(fused || m)`` (seed Eq. 3-4), masked.

        Returns ``{"total", "ce_fused", "ce_<m>", "kl_<m>"}`` (KL terms only with
        self-distillation on)."""
        g1, g2, g3 = self.config.gammas
        labels, mask = batch.labels, batch.mask
        terms = {"ce_fused": masked_cross_entropy(out["logits"], labels, mask, self.class_weights)}
        total = g1 * terms["ce_fused"]
        for m in self.modalities:
            terms[f"ce_{m}"] = masked_cross_entropy(out[f"logits_{m}"], labels, mask, self.class_weights)
            total = total + g2 * terms[f"ce_{m}"]
            if self.config.self_distillation and g3:
                terms[f"kl_{m}"] = masked_kl_distillation(
                    out[f"logits_{m}"], out["logits"], mask, self.config.temperature,
                    scale_by_t2=self.config.scale_kl_by_t2, detach_teacher=self.config.detach_teacher)
                total = total + g3 * terms[f"kl_{m}"]
        terms["total"] = total
        return terms


def speaker_roles_of(data) -> list[int]:
    """Role index of every dataset-wide speaker id (:meth:`erc_lib.data.ERCData.speaker_vocab`):
    IEMOCAP's speakers end in ``_M`` / ``_F`` -> 0 / 1 (:data:`IEMOCAP_ROLES`).

    Raises ValueError when a speaker name carries no M/F role (e.g. MELD character names)."""
    roles = []
    for name in data.speaker_vocab():
        role = name.rsplit("_", 1)[-1]
        if role not in IEMOCAP_ROLES:
            raise ValueError(f"{data.name}: speaker {name!r} has no M/F role; speaker_roles applies to IEMOCAP only")
        roles.append(IEMOCAP_ROLES[role])
    return roles


def build_sdt(data, modalities: str | list[str], class_weighted: bool = False, speaker_roles: bool = False,
              **overrides) -> SDT:
    """An :class:`SDT` sized for ``data`` (feature dims, classes, speakers per dialogue).

    Args:
        data: :class:`erc_lib.data.ERCData` with features for the chosen modalities.
        modalities: e.g. ``"tav"``, ``"t"``.
        class_weighted: use inverse train frequencies as CE weights (SDT's IEMOCAP setting:
            ``w_c = 1 / freq_c``, normalised to sum 1 like the authors' constants).
        speaker_roles: index the speaker embedding by IEMOCAP's fixed M/F role (the authors'
            setting; :func:`speaker_roles_of`) instead of the order of first appearance.
        overrides: any other :class:`SDTConfig` field.
    """
    names = parse_modalities(modalities)
    dims = data.feature_dims()
    missing = [m for m in names if m not in dims]
    if missing:
        raise ValueError(f"{data.name} has no {missing} features (available: {list(dims)})")
    weights = class_weights_for(data.train_labels(), data.n_classes, "sum-to-one").tolist() if class_weighted else None
    roles = speaker_roles_of(data) if speaker_roles else None
    config = SDTConfig(input_dims={m: dims[m] for m in names}, n_classes=data.n_classes,
                       n_speakers=len(IEMOCAP_ROLES) if roles else data.max_speakers_per_dialogue(),
                       class_weights=weights, speaker_roles=roles, **overrides)
    return SDT(config)


