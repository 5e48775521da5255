"""The EmoNet notebook in smoke size: every ablation row, the window sweep and the MELD
comparison are emitted, and the metrics are within what the (smoke-size) data allow."""
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import f1_score

from conftest import assert_baselines_first_and_claims_measured, require_dataset
from erc_lib.data import load_dataset
from erc_lib.data import subset_dialogues
from erc_lib.models.compm import EMONET_ABLATION as VARIANTS

FULL = "+ normalised weighted CE"


def majority_weighted_f1(data) -> float:
    """Weighted F1 on test of always predicting the most frequent TRAIN class."""
    y_train = data.train_labels()
    y_test = np.concatenate([d.labels for d in data.splits["test"]])
    pred = DummyClassifier(strategy="most_frequent").fit(y_train[:, None], y_train).predict(y_test[:, None])
    return 100 * f1_score(y_test, pred, average="weighted")


def test_emonet_notebook_smoke_metrics(notebook_results):
    require_dataset("emorynlp")
    res = notebook_results("05_emonet_emorynlp")
    params = res["parameters"]
    assert params["smoke"] is True and params["dataset"] == "emorynlp" and params["encoder_mode"] == "frozen"
    rows = [r for r in res["rows"] if r["dataset"] == "emorynlp"]
    ablation = [r for r in rows if r.get("experiment") == "ablation"]

    # one dev and one test row per ablation variant and seed, named as the published table
    for variant in VARIANTS:
        for split in ("dev", "test"):
            got = [r for r in ablation if r["variant"] == variant and r["split"] == split]
            assert len(got) == params["seeds"], (variant, split, len(got))
    assert all(0 <= r["weighted_f1"] <= 100 and 0 <= r["accuracy"] <= 100 for r in rows)
    assert all(set(r["per_class_f1"]) == {"Joyful", "Mad", "Neutral", "Peaceful", "Powerful", "Sad", "Scared"}
               for r in rows)

    # the full model beats the majority class on the same (smoke) test dialogues
    data = subset_dialogues(load_dataset("emorynlp"), res["n_dialogues"])
    baseline = majority_weighted_f1(data)
    assert abs(baseline - res["majority_baseline"]["emorynlp"]["weighted_f1"]) < 1e-6
    full = [r for r in ablation if r["variant"] == FULL and r["split"] == "test"]
    assert all(r["weighted_f1"] > baseline for r in full), (baseline, [r["weighted_f1"] for r in full])

    # the class weights change what is predicted: the weighted model predicts more classes
    # than never-predicted ones on test (non-zero F1 for at least 3 of 7 classes)
    assert all(sum(v > 0 for v in r["per_class_f1"].values()) >= 3 for r in full)

    # dev selection: the reported test score is the test score at the dev-best epoch
    history = res["histories"][f"emorynlp|{FULL}|0"]
    best = max(history, key=lambda h: h["dev_weighted_f1"])
    assert full[0]["best_epoch"] == best["epoch"]
    assert abs(full[0]["weighted_f1"] - best["test_weighted_f1"]) < 1e-9
    assert {"train_total", "train_ce", "dev_weighted_f1", "test_weighted_f1"} <= set(history[0])

    # window sweep and MELD comparison were run
    assert {r["window"] for r in rows if r["variant"] == FULL} >= set(params["windows"])
    assert [r["variant"] for r in res["rows"][:4:2]] == ["logistic regression (no context)", "BiGRU (context)"]
    meld = [r for r in res["rows"] if r["dataset"] == "meld" and r["split"] == "test"]
    if params["run_meld"]:
        assert {r["variant"] for r in meld} == {"CoMPM", FULL}
    assert res["wall_seconds"] > 0


def test_table_opens_with_baselines_and_claims_have_verdicts(notebook_results):
    require_dataset("emorynlp")
    assert_baselines_first_and_claims_measured(notebook_results("05_emonet_emorynlp"))
