"""Tables of the tuned files (erc_lib.tune.summaries): the summary table and the best-so-far curve."""
from __future__ import annotations

import yaml

from erc_lib import tune as tuning


def test_summary_table_and_best_so_far_read_the_tuning_block(tmp_path):
    path = tmp_path / "bigru_meld.yaml"
    path.write_text(yaml.safe_dump({"model": {"hidden": 64}, "train": {}, "tuning": {
        "trials": 3, "seeds_per_trial": 2, "rescored_trials": [0, 2], "rescore_seeds": 3, "trial_seconds": 150.0,
        "default_dev_weighted_f1": 50.5, "best_dev_weighted_f1": 52.25, "best_is_defaults": False,
        "validation": "holdout: fit r validates on ...",
        "history": [[0, "defaults", 50.0], [1, "search", 49.0], [2, "search", 53.0]]}}))
    old = tmp_path / "logreg_meld.yaml"                               # an earlier file listing its seeds
    old.write_text(yaml.safe_dump({"model": {}, "train": {}, "tuning": {"trials": 12, "seeds": [0, 1, 2],
                                                                        "validation": "standard dev split; fit r"}}))
    table = tuning.summary_table([path, old])
    assert table.to_dict("records")[0] == {
        "study": "bigru_meld", "trials": 3, "fits per trial": 2, "re-scored": 2, "re-score fits": 3, "CPU min": 2.5,
        "defaults (dev)": 50.5, "tuned (dev)": 52.25, "defaults won": False, "validation": "holdout"}
    second = table.iloc[1]
    assert (second["study"], second["trials"], second["fits per trial"], second["re-scored"], second["CPU min"],
            second["validation"]) == ("logreg_meld", 12, 3, 0, 0.0, "standard dev split")
    assert second[["re-score fits", "defaults (dev)", "tuned (dev)", "defaults won"]].isna().all()
    curve = tuning.best_so_far(path)
    assert curve.to_dict("list") == {"trial": [0, 1, 2], "kind": ["defaults", "search", "search"],
                                     "score": [50.0, 49.0, 53.0], "best so far": [50.0, 50.0, 53.0]}


def _rows(variant, model, dataset, settings, scores, split="test"):
    """Results rows of one variant, one per seed, as a notebook writes them."""
    return [{"variant": variant, "model": model, "dataset": dataset, "settings": settings, "split": split, "seed": s,
             "weighted_f1": f} for s, f in enumerate(scores)]


def test_default_vs_tuned_pairs_each_default_row_with_its_tuned_row_and_the_tuned_files_scores(tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    (configs / "tuned").mkdir(parents=True)
    monkeypatch.setattr("erc_lib.zoo.CONFIG_DIR", configs)
    (configs / "tuned" / "bigru_meld.yaml").write_text(yaml.safe_dump({"model": {}, "train": {}, "tuning": {
        "default_dev_weighted_f1": 50.5, "best_dev_weighted_f1": 52.25}}))
    (configs / "tuned" / "sdt_iemocap.yaml").write_text(yaml.safe_dump({"model": {}, "train": {}, "tuning": {
        "default_dev_weighted_f1": 61.0, "best_dev_weighted_f1": 62.5}}))
    (configs / "tuned" / "compm_emorynlp.yaml").write_text(yaml.safe_dump({"model": {}, "train": {}, "tuning": {
        "default_dev_weighted_f1": 30.0, "best_dev_weighted_f1": 31.5}}))
    results = {
        "01_data": {"rows": []},                                              # skipped, and the others still read
        "02_features": {"rows": [{"variant": "MiniLM", "split": "test", "weighted_f1": 1.0}]},  # no settings column
        "05_emonet": {"rows": (
            _rows("logistic regression (no context, default settings)", "logistic regression (no context)", "meld",
                  "default", [40.0, 41.0])                                    # no tuned row beside it: left out
            + _rows("BiGRU (context, default settings)", "BiGRU (context)", "meld", "default", [50.0, 52.0])
            + _rows("BiGRU (context)", "BiGRU (context)", "meld", "tuned", [54.0, 55.0, 56.0])
            + _rows("BiGRU (context)", "BiGRU (context)", "meld", "tuned", [99.0], split="dev")   # dev: never read
            + _rows("CoMPM (default settings)", "CoMPM", "emorynlp", "default", [30.0, 34.0])
            + _rows("CoMPM", "CoMPM", "emorynlp", "tuned", [33.0, 33.018]))},
        "03_sdt": {"rows": _rows("text+audio", "SDT", "iemocap", "default", [60.0, 61.0])   # named after its inputs
                   + _rows("SDT", "SDT", "iemocap", "tuned", [62.0, 63.0])
                   + _rows("SDT (audio, default settings)", "SDT", "iemocap", "default", [58.0, 59.0])
                   + _rows("SDT (audio)", "SDT", "iemocap", "tuned", [57.5])},      # one seed
        "06_mister_e": {"rows": _rows("MiSTER-E (default settings)", "MiSTER-E", "mosi-clean", "default", [70.0, 72.0])
                        + _rows("MiSTER-E", "MiSTER-E", "mosi-clean", "tuned", [71.0, 75.0])},  # no tuned file
    }
    table = tuning.default_vs_tuned(results)
    records = table.astype(object).where(table.notna(), None).to_dict("records")  # a missing score reads None
    assert records == [
        {"results": "05_emonet", "model": "BiGRU (context)", "dataset": "meld", "row": "BiGRU (context)",
         "validation: defaults": 50.5, "validation: tuned": 52.25, "test: defaults": "51.00 ± 1.41",
         "test: tuned": "55.00 ± 1.00", "test: tuned − defaults": 4.0, "seeds": 2},
        {"results": "05_emonet", "model": "CoMPM", "dataset": "emorynlp", "row": "CoMPM",
         "validation: defaults": 30.0, "validation: tuned": 31.5, "test: defaults": "32.00 ± 2.83",
         "test: tuned": "33.01 ± 0.01", "test: tuned − defaults": 1.01, "seeds": 2},
        {"results": "03_sdt", "model": "SDT", "dataset": "iemocap", "row": "SDT (audio)",
         "validation: defaults": 61.0, "validation: tuned": 62.5, "test: defaults": "58.50 ± 0.71",
         "test: tuned": "57.50 (one seed)", "test: tuned − defaults": -1.0, "seeds": 1},
        {"results": "06_mister_e", "model": "MiSTER-E", "dataset": "mosi-clean", "row": "MiSTER-E",
         "validation: defaults": None, "validation: tuned": None, "test: defaults": "71.00 ± 1.41",
         "test: tuned": "73.00 ± 2.83", "test: tuned − defaults": 2.0, "seeds": 2},
    ]


def test_summary_table_reads_every_tuned_yaml_by_default_and_rounds_cpu_minutes(tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    (configs / "tuned").mkdir(parents=True)
    monkeypatch.setattr("erc_lib.zoo.CONFIG_DIR", configs)
    (configs / "tuned" / "sdt_meld.yaml").write_text(yaml.safe_dump({"tuning": {"trials": 2, "trial_seconds": 100.0}}))
    (configs / "tuned" / "bigru_meld.yaml").write_text(yaml.safe_dump({"tuning": {"trials": 5}}))   # no time, no text
    (configs / "tuned" / "SUMMARY.md").write_text("# not a tuned file\n")
    table = tuning.summary_table()
    assert list(table["study"]) == ["bigru_meld", "sdt_meld"]                # file-name order
    assert list(table["CPU min"]) == [0.0, 1.7] and list(table["validation"]) == ["", ""]
    assert tuning.summary_table([]).empty                               # no files given: none read
