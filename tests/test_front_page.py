"""The front page's tables (erc_lib.report.front_page) on fake results files."""
from __future__ import annotations

import json

from erc_lib.report.front_page import (claims_frame, figure_files, load_results, measured_table, provenance_table,
                                       selection_inflation, style_table)
from report_sandbox import fake_results, full_size_folders, use_full_size_folders  # noqa: F401 (fixtures)


def test_front_page_tables(tmp_path, monkeypatch):
    use_full_size_folders(monkeypatch)
    for name in ("results", "figures"):
        monkeypatch.setenv(f"ERC_{name.upper()}_DIR", str(tmp_path / name))
    fake_results(tmp_path / "results")
    for stem in ("03_sdt_mosi_curves", "03_sdt_iemocap_curves", "05_window", "07_other"):
        (tmp_path / "figures").mkdir(exist_ok=True)
        (tmp_path / "figures" / f"{stem}.png").write_bytes(b"png")
    results, problems = load_results(expected=["03_sdt_mosi", "06_mister_e_mosi"])
    assert list(results) == ["03_sdt_mosi"]
    assert dict(zip(problems["results"], problems["problem"].str[:20])) == {
        "05_emonet": str(tmp_path / "results" / "05_emonet.json")[:20], "06_mister_e_mosi": "no results file: its"}

    claims = claims_frame(json.loads((tmp_path / "results" / "claims.json").read_text()))
    assert list(claims["paper"]) == ["EmoNet", "SDT"]
    sdt = claims.iloc[1]
    assert (sdt["published"], sdt["ours (A)"]) == ("SDT Table 3", "t+a: 63.00 ± 1.41 (n = 5)")
    assert sdt["compared with (B)"] == "no KL: 60.00 ± 0.50 (n = 5)" and sdt["baseline (same inputs)"].startswith("BiGRU")
    assert (sdt["A − B [95% CI]"], claims.iloc[0]["published"]) == ("+3.00 [+1.50, +4.50]", "x")
    assert sdt["verdict"] == "holds" and claims.iloc[0]["verdict"] == "not measured at full size"  # 3 seeds
    assert sdt["published A − B (this dataset)"] == "+2.98" and claims.iloc[0]["published A − B (this dataset)"] == "+1.33"  # the extra keys
    assert "background-color: #d4edda" in style_table(claims, verdict_colours=True).to_html()

    table = measured_table(results["03_sdt_mosi"])
    assert table.to_dict("records") == [{"dataset": "mosi", "model": "SDT", "variant": "t+a",
                                         "test weighted F1": "63.00 ± 1.41", "test accuracy": "64.00 ± 1.41", "seeds": 2}]

    sweep = [{"dataset": "d", "model": "m", "variant": "v", "seed": s, "split": "test", "weighted_f1": 10.0 * w + s,
              "window": w, "epochs_run": 3 + s + w, "encoder": "e"} for w in (1, 3) for s in (0, 1)]
    table = measured_table({"rows": sweep})  # split by window, not by the per-seed epochs_run
    assert table[["window", "test weighted F1", "seeds"]].values.tolist() == [[1, "10.50 ± 0.71", 2],
                                                                              [3, "30.50 ± 0.71", 2]]

    per_seed, mean = selection_inflation(results)
    assert per_seed[["seed", "best test epoch", "test wF1, test-selected", "inflation"]].values.tolist() == [
        [0, 3, 66.0, 4.0], [1, 2, 62.0, 0.0]]
    assert mean["mean inflation"].tolist() == [2.0] and mean["seeds"].tolist() == [2]

    figs = figure_files(["03_sdt_mosi", "03_sdt_iemocap", "05_emonet"])
    assert {k: [p.stem for p in v] for k, v in figs.items()} == {
        "03_sdt_mosi": ["03_sdt_mosi_curves"], "03_sdt_iemocap": ["03_sdt_iemocap_curves"], "05_emonet": ["05_window"]}

    prov = provenance_table(results).iloc[0]
    assert (prov["device"], prov["wall time"], prov["parameters"]) == ("cpu", "30.0 min", "dataset=mosi, seeds=2")
    assert "torch 2.13.0" in prov["environment"]


def test_the_reading_gives_the_cross_validated_verdicts_first_and_says_the_counts_are_the_standard_splits():
    """Three claims: one cross-validated 'underpowered' -> 'no effect found', one cross-validated
    'underpowered' -> 'contradicted', one on MELD (not cross-validated) 'no effect found'. The study's
    verdicts are 2 no effect found and 1 contradicted; the table's counts stay the standard splits'
    (2 underpowered, 1 no effect found). Without cross-validated claims the reading is unchanged."""
    from erc_lib.report.front_page import front_verdicts, judged_verdicts

    claims = [{"id": "a", "dataset": "iemocap", "verdict": "underpowered"},
              {"id": "b", "dataset": "emorynlp", "verdict": "underpowered"},
              {"id": "a", "dataset": "meld", "verdict": "no effect found"}]
    cv = [{"id": "a", "dataset": "iemocap", "verdict": "no effect found"},
          {"id": "b", "dataset": "emorynlp", "verdict": "contradicted"}]
    assert judged_verdicts({"claims": claims, "claims_cv": cv}) == \
        "2 no effect found, 1 contradicted (3 claim measurements)"
    assert judged_verdicts({"claims": claims}) == ""
    counts, reading = front_verdicts({"claims": claims, "claims_cv": cv})
    assert dict(zip(counts.verdict, counts.claims))["underpowered"] == 2
    assert reading.startswith("The verdicts: judged on every dialogue where a claim was cross-validated (its standard "
                              "split's verdict otherwise), 2 no effect found, 1 contradicted (3 claim measurements). "
                              "The counts below are the standard splits' alone")
    assert front_verdicts({"claims": claims})[1] == reading[reading.index("Of 3 claim"):]
    smoke = [{**c, "verdict": "not measured at full size"} for c in cv]  # a smoke run's folds give no verdict
    assert front_verdicts({"claims": claims, "claims_cv": smoke})[1] == reading[reading.index("Of 3 claim"):]
