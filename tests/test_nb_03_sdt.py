"""The SDT notebook in smoke size (mosi-clean: MiniLM text + openSMILE audio): it emits rows for every variant, and its metrics are
within tolerances of what the data allow."""
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import f1_score

from conftest import assert_baselines_first_and_claims_measured, require_dataset
from erc_lib.data import load_dataset


def test_sdt_notebook_smoke_metrics(notebook_results):
    require_dataset("mosi-clean")
    res = notebook_results("03_sdt_mosi-clean")
    assert res["parameters"]["smoke"] is True and res["parameters"]["dataset"] == "mosi-clean"
    rows = res["rows"]
    variants = {r["variant"] for r in rows}
    assert {"text+audio", "text+audio w/o self-distillation", "text+audio fused loss only"} <= variants
    assert {r["split"] for r in rows} == {"dev", "test"}

    # majority-class baseline on the same test set (the class most frequent in train)
    data = load_dataset("mosi-clean")
    y_train = np.concatenate([d.labels for d in data.splits["train"]])
    y_test = np.concatenate([d.labels for d in data.splits["test"]])
    majority = DummyClassifier(strategy="most_frequent").fit(y_train[:, None], y_train).predict(y_test[:, None])
    baseline = 100 * f1_score(y_test, majority, average="weighted")
    full = [r for r in rows if r["variant"] == "text+audio" and r["split"] == "test"]
    assert full and all(baseline + 10 < r["weighted_f1"] <= 100 for r in full), (baseline, full)
    assert all(0 <= r["accuracy"] <= 100 and set(r["per_class_f1"]) == {"negative", "positive"} for r in rows)

    # every loss term is logged per epoch, and the selected epoch is the dev-best one
    history = res["histories"]["mosi-clean|text+audio|0"]
    assert {"train_ce_fused", "train_ce_text", "train_kl_text", "train_kl_audio"} <= set(history[0])
    best = max(history, key=lambda h: h["dev_weighted_f1"])  # the first dev-best epoch is the selected one
    assert full[0]["best_epoch"] == best["epoch"]
    assert full[0]["weighted_f1"] == best["test_weighted_f1"]


def test_sdt_notebook_runs_on_authors_pickle_format(tmp_path, monkeypatch):
    """`-p dataset iemocap-sdt` end to end, on a small file written in the authors' format."""
    from data_files import write_sdt_pickle
    from conftest import run_notebook_smoke

    (tmp_path / "data" / "sdt").mkdir(parents=True)
    write_sdt_pickle(tmp_path / "data" / "sdt" / "iemocap_multimodal_features.pkl", "iemocap", n_train=20, n_test=4)
    for name, value in {"ERC_DATA_DIR": tmp_path / "data", "ERC_RESULTS_DIR": tmp_path / "results",
                        "ERC_FIGURES_DIR": tmp_path / "figures", "ERC_NOTEBOOK_OUT": tmp_path}.items():
        value.mkdir(exist_ok=True)
        monkeypatch.setenv(name, str(value))
    res = run_notebook_smoke("03_sdt", dataset="iemocap-sdt")
    assert res["parameters"]["dataset"] == "iemocap-sdt"
    assert {r["dataset"] for r in res["rows"]} == {"iemocap-sdt"}
    assert {r["variant"] for r in res["rows"]} >= {"text+audio+visual", "text+audio+visual w/o self-distillation"}
    assert (tmp_path / "figures" / "smoke" / "03_sdt_iemocap-sdt_confusion.png").exists()  # a smoke run's figures


def test_table_opens_with_baselines_and_claims_have_verdicts(notebook_results):
    require_dataset("mosi-clean")
    assert_baselines_first_and_claims_measured(notebook_results("03_sdt_mosi-clean"))


def test_cross_validation_judges_each_claim_on_every_video_and_stores_what_it_read():
    """03_sdt on mosi-clean at smoke size with cross_validation=True: each claim is pooled over the 3
    folds (31 + 31 + 31 = 93 videos, every one tested once), rests on 3 folds x (1 + 1) seeds, and its
    pooled interval is recomputed exactly from the fold-keyed predictions the results JSON stores."""
    from erc_lib.crossval import recompute_cv_comparison
    from conftest import run_notebook_smoke

    require_dataset("mosi-clean")
    res = run_notebook_smoke("03_sdt", dataset="mosi-clean", cross_validation=True)
    cv = res["cross_validation"]
    assert {c["id"] for c in cv["claims"]} == {"sdt-sd-fused", "sdt-sd-students"}
    tested = [n for k in range(3) for n in [len(cv["test_truth"][f"mosi-clean@fold{k}"]["dialogue_lengths"])]]
    assert tested == [31, 31, 31]
    for row in cv["claims"]:
        assert row["comparison"]["n_dialogues"] == 93 and row["standard"]["comparison"]["n_dialogues"] == 31
        assert row["fits"] == 3 * (1 + 1) and row["verdict"] == "not measured at full size"
        again = recompute_cv_comparison(row, cv)
        assert all(again[k] == row["comparison"][k] for k in ("difference", "ci_low", "ci_high", "standard_error"))
