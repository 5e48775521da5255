"""Every interval is recomputable from what a results JSON stores: the model's test predictions and
those of its class-scoring kept outputs (SDT's students, MiSTER-E's experts), keyed by dataset (with
its fold), variant and seed."""
from __future__ import annotations

import numpy as np

from erc_lib.experiment import Experiment, paired_difference
from erc_lib.metrics import classification_metrics, paired_bootstrap
from erc_lib.training import FitResult


def _fit(y, pred, outputs):
    m = classification_metrics(y, pred, ["0", "1", "2"])
    return FitResult([], 1, m, m, {"y_true": np.asarray(y), "y_pred": np.asarray(pred), **outputs}, 1.0, 1.0)


def test_student_predictions_are_stored_and_give_back_the_students_interval():
    """Two seeds of a run whose text student scores [[.1, .7, .2], [.8, .1, .1], [0, 0, 1]] (seed 0):
    the stored student predictions are the classes of highest score, [1, 0, 2]; the gate (not a class
    score) is not stored; and the bootstrap on the stored lists equals the claim's student comparison."""
    y = [1, 0, 2]
    text = {0: np.array([[.1, .7, .2], [.8, .1, .1], [0, 0, 1]]), 1: np.array([[.9, .05, .05], [.8, .1, .1], [0, 1, 0]])}
    exp = Experiment(test_truth={"iemocap@fold1": {"labels": y, "dialogue_lengths": [2, 1]}})
    for seed in (0, 1):
        exp.fits[("iemocap@fold1", "t+a", seed)] = _fit(y, [1, 0, 2], {"logits_text": text[seed],
                                                                       "gate": np.ones((3, 2))})
        exp.fits[("iemocap@fold1", "t+a w/o SD", seed)] = _fit(y, [0, 0, 2], {"logits_text": np.eye(3)[[0, 0, 2]]})
    stored = exp.to_json()["test_output_predictions"]
    assert {k: v for k, v in stored.items() if "|t+a|" in k} == {"iemocap@fold1|t+a|0": {"logits_text": [1, 0, 2]},
                                                              "iemocap@fold1|t+a|1": {"logits_text": [0, 0, 1]}}
    claim = paired_difference(exp, "t+a", exp, "t+a w/o SD", output="logits_text")
    again = paired_bootstrap(y, [stored[f"iemocap@fold1|t+a|{s}"]["logits_text"] for s in (0, 1)],
                             [stored[f"iemocap@fold1|t+a w/o SD|{s}"]["logits_text"] for s in (0, 1)], [2, 1], 3)
    assert {k: claim[k] for k in again} == again
    # by hand, accuracy: the student is right on 3 of 3 (seed 0) and 1 of 3 (seed 1), B on 2 of 3
    accuracy = paired_difference(exp, "t+a", exp, "t+a w/o SD", output="logits_text", metric="accuracy")
    assert abs(accuracy["a_mean"] - (100 + 100 / 3) / 2) < 1e-9 and abs(accuracy["b_mean"] - 200 / 3) < 1e-9


def test_every_reference_claim_is_recomputed_from_its_stored_predictions():
    """Each claim of results/reference/claims.json, recomputed from the predictions its results JSON
    stores and the loader's test dialogue lengths, gives the stored difference, interval and standard
    error exactly, every one of the 18 (the SDT students' claims from their stored student predictions)."""
    import json

    import pytest

    from erc_lib.claims import recompute_comparison
    from erc_lib.data import available_datasets, load_dataset
    from erc_lib.paths import REPO_ROOT

    reference = REPO_ROOT / "results" / "reference"
    rows = json.loads((reference / "claims.json").read_text())["claims"]
    datasets = {r["dataset"] for r in rows}
    if not datasets <= set(available_datasets()):
        pytest.skip(f"datasets {sorted(datasets - set(available_datasets()))} not under ERC_DATA_DIR")
    loaded = {d: load_dataset(d) for d in datasets}
    missing, checked = [], 0
    for row in rows:
        results = json.loads((reference / f"{row['source_results']}.json").read_text())
        data = loaded[row["dataset"]]
        try:
            again = recompute_comparison(row, results, [len(d) for d in data.splits["test"]], data.n_classes)
        except KeyError:
            missing.append((row["id"], row["dataset"]))
            continue
        for key in ("difference", "ci_low", "ci_high", "standard_error"):
            assert again[key] == row["comparison"][key], (row["id"], row["dataset"], key)
        checked += 1
    assert missing == []
    assert checked == len(rows) == 18




def test_every_reference_cross_validated_claim_is_recomputed_from_its_stored_fold_predictions():
    """Each claim of results/reference/claims.json's claims_cv, recomputed from the fold-keyed predictions
    and test truth its results JSON stores under ``cross_validation`` (every fold's dialogues, stratified
    by fold, the claim's seeds, resamples and bootstrap seed), gives the stored difference, interval and
    standard error exactly; and the claims judged on every dialogue are the standard claims of the
    datasets with folds (IEMOCAP, EmoryNLP, mosi-clean), each tested on every dialogue of its dataset."""
    import json

    from erc_lib.crossval import recompute_cv_comparison
    from erc_lib.paths import REPO_ROOT

    reference = REPO_ROOT / "results" / "reference"
    stored = json.loads((reference / "claims.json").read_text())
    rows = stored["claims_cv"]
    assert {(r["id"], r["dataset"]) for r in rows} == {(r["id"], r["dataset"]) for r in stored["claims"]
                                                       if r["dataset"] != "meld"}
    dialogues = {"iemocap": 151, "emorynlp": 897, "mosi-clean": 93}  # every dialogue of each dataset, once
    for row in rows:
        payload = json.loads((reference / f"{row['source_results']}.json").read_text())["cross_validation"]
        again = recompute_cv_comparison(row, payload)
        for key in ("difference", "ci_low", "ci_high", "standard_error"):
            assert again[key] == row["comparison"][key], (row["id"], row["dataset"], key)
        assert row["comparison"]["n_dialogues"] == dialogues[row["dataset"]], (row["id"], row["dataset"])
