"""One experiment loop for every model: run specs x seeds through the one trainer.

A :class:`RunSpec` says *what* to train (a model builder, its inputs, training overrides and a
row label); :func:`run_experiment` trains every spec with every seed, dev-selected, behind one
progress bar, and returns an :class:`Experiment`: tidy rows (one per variant x seed x split with
weighted F1, accuracy, per-class F1, best epoch and seconds), the per-epoch histories, the test
predictions of every run (for paired bootstrap intervals over test dialogues) and, on request,
the trained models. ``Experiment.save`` writes the results JSON. The paired differences between
two rows are in :mod:`erc_lib.differences` (re-exported here).

Fit cache (:mod:`erc_lib.fitcache`): a run whose spec has an identity is looked up by content
before training and stored after, so identical rows in different notebooks and unchanged rows on
a re-run are read back instead of retrained; such rows have ``cached: True`` and
:meth:`Experiment.cache_report` says which they are. ``run_experiment(cache=False)`` or
``ERC_FIT_CACHE=off`` bypass it, ``ERC_FIT_CACHE=refresh`` retrains and overwrites.

Every notebook, the tuner (:mod:`erc_lib.tune`) and the benchmark go through this loop; it is
the only place in the project that iterates over seeds.

Model protocol: ``build()`` returns either a ``torch.nn.Module`` following
:mod:`erc_lib.training` (``forward(batch) -> {"logits": ...}``, ``loss(out, batch)``), trained
by :func:`erc_lib.training.fit`, or an estimator with ``fit_splits(train, dev, test,
label_names, config) -> FitResult`` (the scikit-learn baselines of :mod:`erc_lib.models.baselines`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from . import fitcache
from .data import DialogueDataset, ERCData, collate_dialogues
from .differences import (comparison_table, cross_validated_difference, interval_reading,  # noqa: F401 (re-exported)
                          paired_difference, pooled_test_set)
from .results import result_rows, summarize, write_results
from .runtime import progress_bar, seed_everything
from .fit_result import FitResult
from .training import TrainConfig, fit

Splits = tuple  # (train dataset, dev dataset, test dataset, collate_fn)


@dataclass
class RunSpec:
    """One row of a results table: a model, its inputs and its training settings.

    Attributes:
        variant: the row label (``"text+audio+visual"``, ``"+ speaker behaviour"``, ...).
        build: zero-argument callable returning a fresh model; called after seeding, so the
            initialisation is reproducible.
        inputs: feature names to batch from the dataset (:class:`erc_lib.data.DialogueDataset`),
            or a zero-argument callable returning ``(train, dev, test, collate_fn)`` for models
            with their own batches (CoMPM, token-level encoders). Called once per spec.
        model: the model family, the ``model`` column of the rows (e.g. ``"SDT"``).
        train: :class:`erc_lib.training.TrainConfig` field overrides for this spec.
        keep: extra per-utterance outputs of the model to keep from the dev-selected test pass.
        extra: per-utterance side inputs for :class:`erc_lib.data.DialogueDataset` (bios).
        columns: extra columns for every row of this spec (``window=11``, ``experiment=...``).
        identity: JSON-able content that says what ``build`` (and a callable ``inputs``) make,
            which the closures cannot say themselves: the model name and its arguments, e.g.
            ``{"model": "sdt", "model_args": {...}, "inputs": [...]}``
            (:func:`erc_lib.zoo.model_spec` fills it). It keys the fit cache
            (:mod:`erc_lib.fitcache`) together with ``inputs``, ``keep``, the content of
            ``extra``, the training settings, the seed, the data and the code. A spec without
            an identity (None) is never cached. Replacing ``build`` or a callable ``inputs``
            of a spec means replacing its identity too.
    """

    variant: str
    build: Callable[[], Any]
    inputs: Sequence[str] | Callable[[], Splits] = ("text",)
    model: str = ""
    train: dict = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    extra: dict | None = None
    columns: dict = field(default_factory=dict)
    identity: dict | None = None

    def splits(self, data: ERCData) -> Splits:
        """``(train, dev, test, collate_fn)`` for this spec on ``data``."""
        if callable(self.inputs):
            return tuple(self.inputs())
        vocab = data.speaker_vocab()
        sets = [DialogueDataset(data.splits[s], self.inputs, vocab, self.extra) for s in ("train", "dev", "test")]
        return (*sets, collate_dialogues)


@dataclass
class Experiment:
    """What :func:`run_experiment` returns (or several merged with :func:`merge`).

    Attributes:
        rows: one dict per variant x seed x split (``dev``, ``test``), see
            :func:`erc_lib.results.result_rows`.
        fits: ``{(dataset, variant, seed): FitResult}``.
        test_truth: ``{dataset: {"labels": [...], "dialogue_lengths": [...]}}``: the test
            utterances' labels in order and the number of utterances of each test dialogue
            (the resampling units of :func:`erc_lib.metrics.paired_bootstrap`).
        models: ``{(dataset, variant, seed): model}`` with best-dev weights, when asked for.
        cache_status: ``{(dataset, variant, seed): "hit" | "trained" | "uncached"}``: read from
            the fit cache, trained (and stored), or trained without the cache (no identity,
            cache off, models kept or epochs watched).
    """

    rows: list[dict] = field(default_factory=list)
    fits: dict = field(default_factory=dict)
    test_truth: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    cache_status: dict = field(default_factory=dict)

    # -- views
    @property
    def table(self) -> pd.DataFrame:
        """Tidy DataFrame of :attr:`rows`, per-class F1 expanded to ``F1 <class>`` columns."""
        df = pd.DataFrame(self.rows)
        if df.empty or "per_class_f1" not in df:
            return df
        per_class = pd.DataFrame(df.pop("per_class_f1").tolist()).add_prefix("F1 ")
        return pd.concat([df, per_class], axis=1)

    def summary(self, split: str = "test", by: tuple[str, ...] = ("dataset", "model", "variant"),
                metrics: tuple[str, ...] = ("weighted_f1", "accuracy"), where: dict | None = None) -> pd.DataFrame:
        """Mean +- std over seeds (:func:`erc_lib.results.summarize`), optionally only rows
        whose columns equal ``where``'s values."""
        rows = [r for r in self.rows if all(r.get(k) == v for k, v in (where or {}).items())]
        return summarize(rows, by=by, split=split, metrics=metrics)

    def results_table(self, where: dict | None = None, metrics: tuple[str, ...] = ("weighted_f1", "accuracy")) -> pd.DataFrame:
        """The table a notebook shows: per dataset / model / variant, test metrics as mean +- std
        over seeds, dev weighted F1, seeds, mean selected epoch, epochs run, training
        utterances per second and seconds per run."""
        test = self.summary("test", metrics=metrics, where=where)
        dev = self.summary("dev", metrics=("weighted_f1",), where=where)
        keys = ["dataset", "model", "variant"]
        out = test.merge(dev[keys + ["weighted_f1"]].rename(columns={"weighted_f1": "dev weighted_f1"}), on=keys)
        runs = pd.DataFrame([{"dataset": d, "variant": v, "best epoch": f.best_epoch, "epochs run": len(f.history),
                              "utt/s (train)": f.train_utterances_per_second, "seconds": f.seconds}
                             for (d, v, _), f in self.fits.items()])
        if not runs.empty:
            out = out.merge(runs.groupby(["dataset", "variant"], sort=False).mean().round(1).reset_index(),
                            on=["dataset", "variant"], how="left")
        return out

    def best_variant(self, variants, split: str = "dev", dataset: str | None = None) -> str | None:
        """Of ``variants`` that were run, the one with the best mean weighted F1 on ``split``
        (``dev``: a selection that never looks at test); None when none was run."""
        run = [v for v in variants if self.seed_fits(v, dataset)]
        score = lambda v: np.mean([getattr(f, split)["weighted_f1"] for f in self.seed_fits(v, dataset)])
        return max(run, key=score) if run else None

    def confusion(self, variant: str, dataset: str | None = None) -> np.ndarray:
        """Test confusion matrix of ``variant`` summed over its seeds (rows = true class)."""
        return np.sum([np.asarray(f.test["confusion"]) for f in self.seed_fits(variant, dataset)], axis=0)

    def fit(self, variant: str, seed: int = 0, dataset: str | None = None) -> FitResult:
        """The :class:`FitResult` of one run (``dataset`` may be omitted when unique)."""
        matches = [k for k in self.fits if k[1] == variant and k[2] == seed and dataset in (None, k[0])]
        if len(matches) != 1:
            raise KeyError(f"no unique run for variant={variant!r}, seed={seed}, dataset={dataset!r}; "
                           f"runs: {sorted({k[1] for k in self.fits})}")
        return self.fits[matches[0]]

    def seed_fits(self, variant: str, dataset: str | None = None) -> list[FitResult]:
        """Every seed's :class:`FitResult` of ``variant``, in seed order."""
        keys = sorted((k for k in self.fits if k[1] == variant and dataset in (None, k[0])), key=lambda k: k[2])
        return [self.fits[k] for k in keys]

    def histories(self, variant: str | None = None) -> dict[str, list[dict]]:
        """``{"dataset|variant|seed": per-epoch history}`` (all runs, or one variant's)."""
        return {f"{d}|{v}|{s}": f.history for (d, v, s), f in self.fits.items() if variant in (None, v)}

    def predictions(self) -> dict[str, list[int]]:
        """``{"dataset|variant|seed": test predictions at the dev-selected epoch}``."""
        return {f"{d}|{v}|{s}": f.test_outputs["y_pred"].astype(int).tolist() for (d, v, s), f in self.fits.items()
                if "y_pred" in f.test_outputs}

    def output_predictions(self) -> dict[str, dict[str, list[int]]]:
        """``{"dataset|variant|seed": {output: test predictions}}`` for every kept per-utterance
        output that scores the classes (``logits_*``: SDT's students, MiSTER-E's experts), as the
        class of highest score at the dev-selected epoch; what a claim with ``output`` reads
        (:func:`paired_difference`), stored so its interval can be recomputed."""
        out = {}
        for (d, v, s), f in self.fits.items():
            kept = {k: np.asarray(x).argmax(-1).astype(int).tolist() for k, x in sorted(f.test_outputs.items())
                    if k.startswith("logits_")}
            if kept:
                out[f"{d}|{v}|{s}"] = kept
        return out

    def cache_counts(self) -> dict[str, int]:
        """``{"hit": n, "trained": n, "uncached": n}``: runs read from the fit cache, trained and
        stored, trained without the cache (see :attr:`cache_status`)."""
        statuses = list(self.cache_status.values())
        return {s: statuses.count(s) for s in ("hit", "trained", "uncached")}

    def cache_report(self) -> str:
        """One line saying which runs came from the fit cache, e.g. ``read from the fit cache:
        SDT seeds 0-4 (5 fits); trained: 2 fits``."""
        def runs(status: str) -> str:
            by_variant: dict = {}
            for (d, v, s), st in self.cache_status.items():
                if st == status:
                    by_variant.setdefault((d, v), []).append(s)
            return ", ".join(f"{v} seed{'s' if len(seeds) > 1 else ''} {_seed_range(seeds)}"
                             for (_, v), seeds in by_variant.items())

        n = self.cache_counts()
        read = f"read from the fit cache: {runs('hit')} ({n['hit']} fits)" if n["hit"] else "read from the fit cache: none"
        out = f"{read}; trained: {n['trained'] + n['uncached']} fits"
        return out + (f" ({n['uncached']} without the cache)" if n["uncached"] else "")

    def to_json(self) -> dict:
        """The JSON-serialisable part: rows, histories, test predictions (the model's, and of its
        class-scoring kept outputs: :meth:`output_predictions`) and truth, and the fit cache's
        counts (``fit_cache``: :meth:`cache_counts`)."""
        return {"rows": self.rows, "histories": self.histories(), "test_predictions": self.predictions(),
                "test_output_predictions": self.output_predictions(), "test_truth": self.test_truth,
                "fit_cache": self.cache_counts()}

    def save(self, name: str, parameters: dict, **extra) -> Path:
        """Write ``results/<name>.json`` (complete) with :meth:`to_json` and ``extra``."""
        payload = self.to_json()
        return write_results(name, parameters, payload.pop("rows"), **payload, **extra)


def merge(*experiments: Experiment) -> Experiment:
    """One :class:`Experiment` holding the runs of all ``experiments`` (later runs of the same
    dataset/variant/seed replace earlier ones)."""
    out = Experiment()
    for e in experiments:
        out.rows += e.rows
        out.fits.update(e.fits)
        out.test_truth.update(e.test_truth)
        out.models.update(e.models)
        out.cache_status.update(e.cache_status)
    return out


def _seed_range(seeds: list[int]) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def _test_truth(test_set) -> dict:
    dialogues = getattr(test_set, "dialogues", None)
    if dialogues is None:
        return {}
    return {"labels": np.concatenate([np.asarray(d.labels) for d in dialogues]).astype(int).tolist(),
            "dialogue_lengths": [len(d) for d in dialogues]}


def run_experiment(data: ERCData, specs: Sequence[RunSpec], seeds: int | Sequence[int], config: TrainConfig,
                   keep_models: bool = False, progress: bool = True, on_epoch: Callable | None = None,
                   desc: str | None = None, cache: bool = True) -> Experiment:
    """Train every spec with every seed (dev-selected) and collect the results.

    For each spec: its splits are built once; for each seed: :func:`erc_lib.runtime.seed_everything`,
    ``spec.build()``, then :func:`erc_lib.training.fit` with ``config`` updated by
    ``spec.train`` and ``seed`` (torch models) or ``model.fit_splits`` (estimators).

    Fit cache (:mod:`erc_lib.fitcache`): before training, a run of a spec with an identity is
    looked up by its content key; a stored result is used as is (same seed, same numbers as the
    training that stored it; its rows get ``cached: True``), else the run is trained and stored.
    A damaged entry is reported (a warning naming the file) and the run trained again. When
    anything was read from the cache, :meth:`Experiment.cache_report` is printed.

    Args:
        data: the dataset (its name and label names label the rows). A fold of a dataset
            (:func:`erc_lib.data.folds.fold_data`) is keyed by ``data.key`` (``"iemocap@fold2"``) in the
            rows' ``dataset`` column, :attr:`Experiment.fits` and :attr:`Experiment.test_truth`, and
            its rows carry a ``fold`` column, so the folds of one dataset merge (:func:`merge`) into
            one experiment for :func:`cross_validated_difference`.
        specs: the rows to train; variant names must be unique.
        seeds: a count ``n`` (seeds ``0 .. n-1``) or an explicit list of seeds.
        config: shared training settings (``seed`` and ``progress`` are set per run).
        keep_models: keep every trained model (best-dev weights) in ``Experiment.models``.
        progress: one progress bar over the runs, with the current epoch and dev weighted F1.
        on_epoch: ``on_epoch(spec, seed, history_row)`` after every epoch (e.g. an Optuna
            pruner; it may raise to stop the experiment).
        desc: progress-bar label (default: the dataset name).
        cache: use the fit cache (default; ``ERC_FIT_CACHE=off`` turns it off everywhere,
            ``refresh`` retrains and overwrites). It is bypassed, whatever this says, when
            ``keep_models`` (trained models are not stored) or ``on_epoch`` (epochs are watched
            as they are trained) is given.

    Returns:
        :class:`Experiment`.

    Raises:
        ValueError: no specs, duplicate variant names, no seeds, or an ``ERC_FIT_CACHE`` value
            other than on/off/refresh.
        TypeError: a spec's identity is not JSON-serialisable.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not specs:
        raise ValueError("run_experiment needs at least one RunSpec")
    if not seed_list:
        raise ValueError(f"seeds must be >= 1 (or a non-empty list), got {seeds!r}")
    names = [s.variant for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate variant names in the specs: {sorted({n for n in names if names.count(n) > 1})}")
    cache_mode = fitcache.mode(cache and not keep_models and on_epoch is None)
    data_fp = None  # computed once, for the first spec that can be cached
    result = Experiment()
    name = data.key  # the dataset's name, with its fold when it is one (erc_lib.data.folds)
    fold_column = {} if data.fold is None else {"fold": data.fold}
    bar = progress_bar(total=len(specs) * len(seed_list), desc=desc or f"{name} runs", disable=not progress)
    try:
        for spec in specs:
            splits, extra_fp = None, None
            cacheable = cache_mode != "off" and spec.identity is not None
            if cacheable:
                data_fp = data_fp or fitcache.data_fingerprint(data)
                extra_fp = fitcache.extra_fingerprint(data, spec.extra)
            for seed in seed_list:
                bar.set_postfix_str(f"{spec.variant} | seed {seed}", refresh=False)
                cfg = replace(config, **{**spec.train, "seed": seed, "progress": False})
                key = (name, spec.variant, seed)
                if cacheable:
                    fit_key = fitcache.fit_key(spec, cfg, seed, data_fp, extra_fp)
                    path = fitcache.entry_path(fit_key, data.name, spec.model or spec.variant)
                    fitted = fitcache.read_fit(path, fit_key) if cache_mode == "on" else None
                    if fitted is not None:
                        if name not in result.test_truth:
                            truth = (_test_truth(spec.splits(data)[2]) if callable(spec.inputs) else
                                     _test_truth(DialogueDataset(data.splits["test"], ())))
                            if truth:
                                result.test_truth[name] = truth
                        result.fits[key] = fitted
                        result.cache_status[key] = "hit"
                        result.rows += result_rows(name, spec.model or spec.variant, spec.variant, seed, fitted,
                                                   **{**fold_column, **spec.columns, "cached": True})
                        bar.update(1)
                        continue
                if splits is None:
                    splits = spec.splits(data)
                    truth = _test_truth(splits[2])
                    if truth:
                        result.test_truth[name] = truth
                train, dev, test, collate = splits
                seed_everything(seed)
                model = spec.build()

                def report(row, spec=spec, seed=seed):
                    bar.set_postfix_str(f"{spec.variant} | seed {seed} | epoch {row['epoch']} "
                                        f"| dev wF1 {row['dev_weighted_f1']:.1f}", refresh=False)
                    if on_epoch is not None:
                        on_epoch(spec, seed, row)

                if isinstance(model, torch.nn.Module):
                    fitted = fit(model, train, dev, test, data.label_names, cfg, collate_fn=collate,
                                 keep=spec.keep, on_epoch=report)
                elif hasattr(model, "fit_splits"):
                    fitted = model.fit_splits(train, dev, test, data.label_names, cfg)
                else:
                    raise TypeError(f"spec {spec.variant!r} built a {type(model).__name__}, which is neither a "
                                    "torch.nn.Module nor has fit_splits()")
                result.fits[key] = fitted
                result.cache_status[key] = "trained" if cacheable else "uncached"
                if cacheable:
                    try:
                        fitcache.write_fit(path, fit_key, fitted)
                    except OSError as e:  # the run itself succeeded; only its reuse is lost
                        warnings.warn(f"could not store the fit in the fit cache ({path}: {e})", stacklevel=2)
                if keep_models:
                    result.models[key] = model
                result.rows += result_rows(name, spec.model or spec.variant, spec.variant, seed, fitted,
                                           **{**fold_column, **spec.columns, "cached": False})
                bar.update(1)
    finally:
        bar.close()
    if result.cache_counts()["hit"]:
        print(result.cache_report(), flush=True)
    return result

