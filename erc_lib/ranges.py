"""The allowed range of every model and training setting, checked when a configuration is built.

A value reaches a model through ``configs/defaults.yaml``, a tuned file (``configs/tuned/``) or a
notebook's ``model_overrides`` / ``train_overrides``; :func:`erc_lib.zoo.settings` merges them and
calls :func:`check_settings`, so a bad value (a dropout of 1.5, a negative learning rate, an
unknown gate) fails before any training with the field, the value and the allowed range, and an
unknown name fails with the list of known ones.

Probabilities lie in [0, 1); sizes, rates, temperatures and counts are positive; exponents and
loss weights are non-negative; choices are listed. Each model's rules sit beside its config class in
its own module (e.g. ``SDT_RULES`` in :mod:`erc_lib.models.sdt`), reached by model name through
:data:`erc_lib.zoo.MODELS`; the training rules are :data:`TRAIN_RULES`. The notebooks' parameters
(:data:`erc_lib.notebook.NOTEBOOKS`) are checked with the same :class:`Rule`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .runtime import DEVICES


@dataclass(frozen=True)
class Rule:
    """The allowed values of one setting or notebook parameter.

    Attributes:
        kind: ``int`` | ``float`` | ``bool`` | ``str`` | ``list`` | ``dict``; an ``int`` passes as a ``float``.
        low, high: bounds (``None``: unbounded); ``low_open`` / ``high_open`` exclude the bound.
        choices: allowed values (``str``).
        nullable: ``None`` is allowed.
        length: a list's exact length; ``min_items``: its fewest items; ``item``: the rule of every list item.
        pattern: for ``str``: distinct characters, each in this set (e.g. modality codes ``"tav"``).
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
    min_items: int = 0
    pattern: str | None = None

    def describe(self) -> str:
        """The allowed range in words, e.g. ``a number in [0, 1)``."""
        if self.kind is bool:
            text = "True or False"
        elif self.choices is not None:
            text = f"one of {list(self.choices)}"
        elif self.kind is list:
            count = self.length or (f"at least {self.min_items}" if self.min_items else "any number of")
            text = f"a list of {count} item(s), each {self.item.describe() if self.item else 'any'}"
        elif self.kind is dict:
            text = "a mapping"
        elif self.pattern is not None:
            text = f"a string of distinct characters from {self.pattern!r}"
        else:
            noun = {int: "an integer", float: "a number", str: "a string"}[self.kind]
            if self.low is not None and self.high is not None:
                text = f"{noun} in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
            elif self.low is not None:
                text = f"{noun} {'>' if self.low_open else '>='} {self.low}"
            else:
                text = noun
        return text + (" or None" if self.nullable else "")

    def has_kind(self, value) -> bool:
        """Whether ``value`` is of this rule's kind (an ``int`` counts as a ``float``, a ``bool`` as
        neither, a tuple as a ``list``); ``None`` is not of any kind."""
        if value is None:
            return False
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind is float:
            return isinstance(value, (int, float))
        if self.kind is list:
            return isinstance(value, (list, tuple))
        return isinstance(value, self.kind)

    def allows(self, value) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.nullable
        if not self.has_kind(value):
            return False
        if self.kind is list:
            if (self.length is not None and len(value) != self.length) or len(value) < self.min_items:
                return False
            return all(self.item.allows(v) for v in value) if self.item else True
        if self.choices is not None:
            return value in self.choices
        if self.pattern is not None:
            return bool(value) and all(c in self.pattern for c in value) and len(set(value)) == len(value)
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def problem(self, name: str, value) -> str | None:
        """Why ``value`` is not allowed for the parameter ``name`` (one line naming the value and
        what is allowed), or None when it is allowed."""
        if self.allows(value):
            return None
        if value is None:
            return f"{name}=None is not allowed ({self.describe()})"
        if not self.has_kind(value):
            return f"{name}={value!r} is a {type(value).__name__}, expected {self.describe()}"
        if self.kind in (int, float):
            return f"{name}={value!r} is out of range ({self.describe()})"
        if self.kind is list:
            if len(value) < self.min_items:
                return f"{name}={value!r} needs at least {self.min_items} item(s)"
            if self.length is not None and len(value) != self.length:
                return f"{name}={value!r} needs exactly {self.length} item(s)"
            bad = next(v for v in value if not self.item.allows(v))
            if not self.item.has_kind(bad):
                return f"{name}: item {bad!r} is a {type(bad).__name__}, expected {self.item.describe()}"
            allowed = f"allowed items: {list(self.item.choices)}" if self.item.choices is not None else self.item.describe()
            return f"{name}: item {bad!r} is not allowed ({allowed})"
        return f"{name}={value!r} is not allowed ({self.describe()})"


PROBABILITY = Rule(float, 0, 1, high_open=True)  # dropout rates
POSITIVE = Rule(float, 0, low_open=True)  # rates, temperatures, scales
NON_NEGATIVE = Rule(float, 0)  # exponents, loss weights, penalties
SIZE = Rule(int, 1)  # widths, layers, heads, counts
FLAG = Rule(bool)

#: :class:`erc_lib.training.TrainConfig` field -> :class:`Rule`.
TRAIN_RULES: dict[str, Rule] = {
    "epochs": SIZE, "lr": Rule(float, 0, 1, low_open=True), "weight_decay": NON_NEGATIVE, "batch_size": SIZE,
    "patience": Rule(int, 1, nullable=True), "grad_clip": Rule(float, 0, low_open=True, nullable=True),
    "optimizer": Rule(str, choices=("adam", "adamw")), "schedule": Rule(str, choices=("constant", "linear")),
    "warmup_epochs": NON_NEGATIVE, "selection_window": SIZE, "selection": Rule(str, choices=("dev", "last")),
    "seed": Rule(int, 0), "device": Rule(str, choices=DEVICES), "progress": FLAG,
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


def check_settings(model: str, model_args: dict, train_args: dict, model_rules: dict[str, Rule]) -> None:
    """Check a model's builder arguments against ``model_rules`` (its entry's ``rules`` in
    :data:`erc_lib.zoo.MODELS`) and its training settings against :data:`TRAIN_RULES`. Raises
    ``ValueError`` listing every bad or unknown setting with its value and allowed range."""
    found = problems(model_rules, model_args, f"{model} model")
    found += problems(TRAIN_RULES, train_args, f"{model} training")
    if found:
        raise ValueError("bad settings (from configs/defaults.yaml, a tuned file or the overrides):\n  - "
                         + "\n  - ".join(found))
