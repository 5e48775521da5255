"""The data notebook in smoke size reports the split counts of the real data."""
from conftest import require_dataset


def test_data_notebook_counts(notebook_results):
    require_dataset("iemocap")
    res = notebook_results("01_data")
    counts = {(r["dataset"], r["split"]): (r["dialogues"], r["utterances"]) for r in res["splits"]}
    assert counts[("iemocap", "all")] == (151, 7433)
    assert counts[("iemocap", "test")] == (31, 1623)
    shares = [r["share %"] for r in res["labels"] if r["dataset"] == "iemocap" and r["split"] == "train"]
    assert abs(sum(shares) - 100) < 0.5
