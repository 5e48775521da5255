"""The tuning objective: the budget, the splits a trial trains and validates on, and one study's fits.

:class:`StudyRun` holds one study's model, dataset and budget and scores settings by the mean dev
weighted F1 of several seeded fits (:func:`tuning_split`: on :data:`HOLDOUT_DATASETS` each fit
validates on its own seeded holdout); test is never read.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import experiment, zoo
from ..data import ERCData, split_dev, standardize_features
from ..features import text as text_features
from ..training import TrainConfig

HOLDOUT_DATASETS = ("iemocap", "iemocap-sdt")
HOLDOUT_FRACTION = 0.2
VALIDATIONS = ("auto", "standard", "holdout")


#: The budget's keys in ``configs/defaults.yaml`` (``tuning:``) and the least value each may take.
BUDGET_MINIMUMS = {"trials": 1, "seeds_per_trial": 1, "rescore_top": 0, "rescore_seeds": 0, "saturation_trials": 1}


def budget() -> dict:
    """The one tuning budget, read from ``configs/defaults.yaml`` (``tuning:``) and nowhere else:
    ``trials``, ``seeds_per_trial``, ``rescore_top``, ``rescore_seeds``, ``saturation_trials``.

    Raises: ValueError when a key is missing or unknown (a misspelt key would otherwise leave the
    budget as it was), or a value is not an integer at least :data:`BUDGET_MINIMUMS`."""
    table = zoo.read_yaml(zoo.CONFIG_DIR / "defaults.yaml").get("tuning") or {}
    missing = [key for key in BUDGET_MINIMUMS if key not in table]
    unknown = sorted(set(table) - set(BUDGET_MINIMUMS))
    if missing or unknown:
        raise ValueError(f"configs/defaults.yaml tuning: needs exactly {list(BUDGET_MINIMUMS)}; "
                         f"missing {missing}, unknown {unknown}")
    for key, low in BUDGET_MINIMUMS.items():
        if not isinstance(table[key], int) or isinstance(table[key], bool) or table[key] < low:
            raise ValueError(f"configs/defaults.yaml tuning.{key} must be an integer >= {low}, got {table[key]!r}")
    return {key: table[key] for key in BUDGET_MINIMUMS}


def tuning_split(data: ERCData, validation: str = "auto", repeat: int = 0) -> ERCData:
    """The splits tuning trains and validates on for fit number ``repeat`` of a trial.

    Args:
        data: a dataset (e.g. from :func:`erc_lib.features.text.prepare_dataset`), not standardised.
        validation: ``"auto"`` (``"holdout"`` for :data:`HOLDOUT_DATASETS`, else ``"standard"``),
            ``"standard"`` (the dataset's own dev) or ``"holdout"``: dev is a seeded
            :data:`HOLDOUT_FRACTION` of the train+dev dialogues (``train_test_split``,
            ``random_state=repeat``), train is the rest, file order kept.
        repeat: which holdout (ignored for ``"standard"``).

    Returns:
        A new :class:`ERCData` whose dialogues are copies (own feature dicts, so standardising one
        split never touches another); features z-scored with its own train statistics.
        ``splits["test"]`` holds ``data``'s test dialogues, never in train or dev.

    Raises: ValueError for an unknown ``validation`` or a negative ``repeat``.
    """
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
    if not isinstance(repeat, int) or repeat < 0:
        raise ValueError(f"repeat must be an integer >= 0, got {repeat!r}")
    copy = lambda ds: [replace(d, features=dict(d.features)) for d in ds]
    if resolve_validation(data.name, validation) == "standard":
        out = ERCData(data.name, data.label_names, {s: copy(v) for s, v in data.splits.items()}, data.notes)
    else:
        train, dev = split_dev(data.splits["train"] + data.splits["dev"], HOLDOUT_FRACTION, repeat)
        note = (f"tuning split {repeat}: dev = a seeded {HOLDOUT_FRACTION:.0%} of the train+dev dialogues ({len(dev)} "
                f"dialogues, train_test_split random_state={repeat}), train = the other {len(train)}; test untouched")
        out = ERCData(data.name, data.label_names, {"train": copy(train), "dev": copy(dev),
                                                    "test": copy(data.splits["test"])},
                      (data.notes + "\n" if data.notes else "") + note).validate()
    return standardize_features(out) if out.modalities else out


def resolve_validation(dataset: str, validation: str) -> str:
    """``"auto"`` -> ``"holdout"`` for :data:`HOLDOUT_DATASETS`, else ``"standard"``."""
    if validation == "auto":
        return "holdout" if dataset in HOLDOUT_DATASETS else "standard"
    return validation




@dataclass
class StudyRun:
    """One study: the model, the dataset, its inputs and where its result goes.

    Attributes:
        model, dataset: as in :func:`erc_lib.zoo.settings`; inputs: a non-default input selection.
        trials, seeds_per_trial, rescore_top, rescore_seeds, saturation_trials: the budget.
        validation: see :func:`tuning_split`. out: the YAML path. name: the study name.
        n_dialogues, epochs: smoke sizes (None at full size). device, sampler_seed: as named.
    """

    model: str
    dataset: str
    inputs: list[str] | None
    trials: int
    seeds_per_trial: int
    rescore_top: int
    rescore_seeds: int
    saturation_trials: int
    validation: str
    out: Path
    name: str
    n_dialogues: int | dict | None = None
    epochs: int | None = None
    device: str = "cpu"
    sampler_seed: int = 0
    _data: ERCData | None = field(default=None, repr=False)
    _splits: dict = field(default_factory=dict, repr=False)

    def splits(self, repeat: int) -> ERCData:
        """The tuning data of fit ``repeat`` (:func:`tuning_split`), built once per process."""
        if self._data is None:
            self._data = text_features.prepare_dataset(self.dataset, n_dialogues=self.n_dialogues, device=self.device,
                                         standardize=False, progress=False)
        key = repeat if resolve_validation(self.dataset, self.validation) == "holdout" else 0
        if key not in self._splits:
            self._splits[key] = tuning_split(self._data, self.validation, key)
        return self._splits[key]

    def score(self, model_args: dict, train_args: dict, repeats: range) -> list[float]:
        """Dev weighted F1 of one fit per repeat ``r`` (seed ``r``, holdout ``r``); test never read."""
        m, t = zoo.settings(self.model, self.dataset, model_args=model_args, train_args=train_args)
        if self.epochs is not None:
            t["epochs"] = self.epochs
        config = TrainConfig(**{**t, "device": self.device, "progress": False})
        run_experiment = experiment.run_experiment  # read at call time: tests replace it
        extra = {"cache": False} if "cache" in inspect.signature(run_experiment).parameters else {}
        dev = []
        for r in repeats:
            data = self.splits(r)
            spec = zoo.model_spec(self.model, data, model_inputs(self.model, self.inputs), model_args=m, train_args=t)
            fit = run_experiment(data, [spec], [r], config, progress=False, **extra).seed_fits(spec.variant)[0]
            dev.append(float(fit.dev["weighted_f1"]))
        return dev


def model_inputs(model: str, inputs: list[str] | None) -> list[str] | None:
    """Expert names for MiSTER-E, dataset modalities for the others (``speech`` reads ``audio``)."""
    if inputs is None or zoo.MODELS[model].experts:
        return inputs
    return ["audio" if m == "speech" else m for m in inputs]
