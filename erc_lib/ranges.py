"""The allowed range of every model and training setting, checked when a configuration is built.

A value reaches a model through ``configs/defaults.yaml``, a tuned file (``configs/tuned/``) or a
notebook's ``model_overrides`` / ``train_overrides``; :func:`erc_lib.zoo.settings` merges them and
calls :func:`check_settings`, so a bad value (a dropout of 1.5, a negative learning rate, an
unknown gate) fails before any training with the field, the value and the allowed range, and an
unknown name fails with the list of known ones.

Probabilities lie in [0, 1); sizes, rates, temperatures and counts are positive; exponents and
loss weights are non-negative; choices are listed.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """The allowed values of one setting.

    Attributes:
        kind: ``int`` | ``float`` | ``bool`` | ``str`` | ``list``; an ``int`` passes as a ``float``.
        low, high: bounds (``None``: unbounded); ``low_open`` / ``high_open`` exclude the bound.
        choices: allowed values (``str``).
        nullable: ``None`` is allowed.
        length: a list's exact length; ``item``: the rule of every list item.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    nullable: bool = False
    length: int | None = None
    item: Rule | None = None

    def describe(self) -> str:
        """The allowed range in words, e.g. ``a number in [0, 1)``."""
        if self.kind is bool:
            text = "True or False"
        elif self.choices is not None:
            text = f"one of {list(self.choices)}"
        elif self.kind is list:
            text = f"a list of {self.length or 'any number of'} item(s), each {self.item.describe() if self.item else 'any'}"
        else:
            noun = {int: "an integer", float: "a number", str: "a string"}[self.kind]
            if self.low is not None and self.high is not None:
                text = f"{noun} in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
            elif self.low is not None:
                text = f"{noun} {'>' if self.low_open else '>='} {self.low}"
            else:
                text = noun
        return text + (" or None" if self.nullable else "")

    def allows(self, value) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.nullable
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind is float:
            if not isinstance(value, (int, float)):
                return False
        elif self.kind is list:
            if not isinstance(value, (list, tuple)) or (self.length is not None and len(value) != self.length):
                return False
            return all(self.item.allows(v) for v in value) if self.item else True
        elif not isinstance(value, self.kind):
            return False
        if self.choices is not None:
            return value in self.choices
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True


PROBABILITY = Rule(float, 0, 1, high_open=True)  # dropout rates
POSITIVE = Rule(float, 0, low_open=True)  # rates, temperatures, scales
NON_NEGATIVE = Rule(float, 0)  # exponents, loss weights, penalties
SIZE = Rule(int, 1)  # widths, layers, heads, counts
FLAG = Rule(bool)

_COMPM = {"row": Rule(str, choices=("CoMPM", "+ global speaker ID", "+ speaker behaviour", "+ unnormalised weighted CE",
                                    "+ normalised weighted CE")),
          "window": SIZE, "max_context_tokens": SIZE, "max_utterance_tokens": SIZE, "n_speaker_tags": SIZE,
          "input_dim": SIZE, "d_model": SIZE, "n_layers": SIZE, "n_heads": SIZE,
          "d_ff": Rule(int, 1, nullable=True), "dropout": PROBABILITY, "gru_layers": SIZE, "gru_dropout": PROBABILITY,
          "pm_hidden": Rule(int, 1, nullable=True), "pm_projection": FLAG, "encoder": Rule(str),
          "finetune": Rule(str, choices=("full", "lora")), "lora_r": SIZE, "lora_alpha": POSITIVE,
          "lora_dropout": PROBABILITY, "lora_targets": Rule(list, item=Rule(str)), "freeze_pm": FLAG,
          "chunk_tokens": Rule(int, 1, nullable=True)}

#: Model name (:data:`erc_lib.zoo.MODELS`) -> builder argument -> :class:`Rule`.
MODEL_RULES: dict[str, dict[str, Rule]] = {
    "logreg": {"C": POSITIVE, "class_weighted": FLAG},
    "bigru": {"hidden": SIZE, "input_dropout": PROBABILITY, "dropout": PROBABILITY, "class_weighted": FLAG},
    "sdt": {"d_model": SIZE, "n_heads": SIZE, "d_ff": Rule(int, 1, nullable=True), "dropout": PROBABILITY,
            "temperature": POSITIVE, "gammas": Rule(list, length=3, item=NON_NEGATIVE), "self_distillation": FLAG,
            "bios_dim": Rule(int, 1, nullable=True), "unimodal_gate": Rule(str, choices=("learned", "identity")),
            "scale_kl_by_t2": FLAG, "detach_teacher": FLAG, "pack_utterances": FLAG, "class_weighted": FLAG,
            "speaker_roles": FLAG,
            "n_speakers": SIZE},
    "mister_e": {"variant": Rule(str, choices=("mister_e", "speech", "text", "multimodal", "monolithic", "feat_moe",
                                               "no_loss_moe")),
                 "can_hidden": SIZE, "gru_layers": SIZE, "can_dropout": PROBABILITY, "input_dropout": PROBABILITY,
                 "fusion_layers": SIZE, "fusion_hidden": SIZE, "fusion_heads": SIZE, "fusion_dropout": PROBABILITY,
                 "gate_hidden": SIZE, "gate_temperature": POSITIVE,
                 "kl_form": Rule(str, choices=("symmetric", "directional")), "focal_gamma": NON_NEGATIVE,
                 "lambda_con": NON_NEGATIVE, "con_temperature": POSITIVE, "con_per_dialogue": FLAG,
                 "alpha_kl": NON_NEGATIVE},
    "compm": _COMPM, "emonet": _COMPM, "compm_finetune": _COMPM,
}

#: :class:`erc_lib.training.TrainConfig` field -> :class:`Rule`.
TRAIN_RULES: dict[str, Rule] = {
    "epochs": SIZE, "lr": Rule(float, 0, 1, low_open=True), "weight_decay": NON_NEGATIVE, "batch_size": SIZE,
    "patience": Rule(int, 1, nullable=True), "grad_clip": Rule(float, 0, low_open=True, nullable=True),
    "optimizer": Rule(str, choices=("adam", "adamw")), "schedule": Rule(str, choices=("constant", "linear")),
    "warmup_epochs": NON_NEGATIVE, "selection_window": SIZE, "selection": Rule(str, choices=("dev", "last")),
    "seed": Rule(int, 0), "device": Rule(str, choices=("auto", "cpu", "cuda")), "progress": FLAG,
    "bucket_by_length": FLAG, "amp": Rule(str, choices=("off", "bf16")), "pin_memory": FLAG, "compile": FLAG,
    "fused_optimizer": FLAG,
}


def problems(rules: dict[str, Rule], values: dict, what: str) -> list[str]:
    """One line per value of ``values`` that ``rules`` refuse or do not know."""
    out = []
    for name, value in values.items():
        rule = rules.get(name)
        if rule is None:
            out.append(f"{what}: unknown setting {name!r} (known: {sorted(rules)})")
        elif not rule.allows(value):
            out.append(f"{what}: {name}={value!r} is outside its range ({rule.describe()})")
    return out


def check_settings(model: str, model_args: dict, train_args: dict) -> None:
    """Check a model's builder arguments and training settings against :data:`MODEL_RULES` and
    :data:`TRAIN_RULES`. Raises ``ValueError`` listing every bad or unknown setting with its
    value and allowed range (no-op for a model without rules)."""
    found = problems(MODEL_RULES.get(model, {}), model_args, f"{model} model") if model in MODEL_RULES else []
    found += problems(TRAIN_RULES, train_args, f"{model} training")
    if found:
        raise ValueError("bad settings (from configs/defaults.yaml, a tuned file or the overrides):\n  - "
                         + "\n  - ".join(found))
