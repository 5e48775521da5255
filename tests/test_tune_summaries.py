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
