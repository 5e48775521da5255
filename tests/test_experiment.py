"""The one seed loop (:mod:`erc_lib.experiment`): every stored row, fit and prediction belongs to
the variant and seed it is keyed by; every "best" variant is chosen on dev (the paired differences
themselves: tests/test_differences.py). Constructed cases: models that predict
one class fixed by their variant and seed (tests/toy_models.py), so each stored number is known
by hand."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.experiment import Experiment, RunSpec, comparison_table, merge, paired_difference, run_experiment

from toy_models import CFG, ConstantModel, DEV, ScriptedModel, TEST, constant_spec, constant_weighted_f1, run_constant, toy_data


def test_rows_fits_and_predictions_belong_to_their_variant_and_seed():
    """Variant A predicts class ``seed % 3``, variant B ``(seed + 1) % 3``: each (variant, seed)
    row, fit and stored prediction list holds that class's numbers."""
    exp = run_constant([constant_spec("A"), constant_spec("B", shift=1)], [0, 1, 2])
    test_labels = [2, 2, 1, 0, 1, 2]
    dev_labels = [0, 0, 1, 0, 2, 1]
    assert exp.test_truth["toy"] == {"labels": test_labels, "dialogue_lengths": [3, 3]}
    for variant, shift in (("A", 0), ("B", 1)):
        for seed in (0, 1, 2):
            cls = (seed + shift) % 3
            f = exp.fit(variant, seed)
            assert f.config["seed"] == seed
            assert f.test_outputs["y_pred"].tolist() == [cls] * 6
            assert exp.predictions()[f"toy|{variant}|{seed}"] == [cls] * 6
            rows = {r["split"]: r for r in exp.rows if r["variant"] == variant and r["seed"] == seed}
            assert set(rows) == {"dev", "test"}
            assert rows["test"]["weighted_f1"] == pytest.approx(constant_weighted_f1(test_labels, cls))
            assert rows["dev"]["weighted_f1"] == pytest.approx(constant_weighted_f1(dev_labels, cls))
            assert rows["test"]["model"] == "toy" and rows["test"]["dataset"] == "toy"
            assert rows["test"]["cached"] is False
    assert [f.test_outputs["y_pred"][0] for f in exp.seed_fits("B")] == [1, 2, 0]  # seed order
    assert len(exp.rows) == 2 * 3 * 2 and set(exp.histories()) == {f"toy|{v}|{s}" for v in "AB" for s in (0, 1, 2)}
    assert exp.cache_status == {("toy", v, s): "uncached" for v in "AB" for s in (0, 1, 2)}
    # summed over seeds: each seed puts all 6 test utterances (1 of class 0, 2 of 1, 3 of 2) in its column
    assert exp.confusion("A").tolist() == [[1, 1, 1], [2, 2, 2], [3, 3, 3]]


def test_a_spec_gets_its_own_training_overrides_and_columns():
    data = toy_data(DEV, TEST)
    script = [(True, True)] * 3
    specs = [RunSpec("one", lambda: ScriptedModel(script), ["text"], train={"epochs": 1}, columns={"window": 3}),
             RunSpec("three", lambda: ScriptedModel(script), ["text"], train={"epochs": 3})]
    exp = run_experiment(data, specs, 1, CFG, progress=False, cache=False)
    assert len(exp.fit("one", 0).history) == 1 and len(exp.fit("three", 0).history) == 3
    assert [r.get("window") for r in exp.rows] == [3, 3, None, None]
    assert exp.rows[0]["model"] == "one"  # no model family given: the variant names the model


def test_best_variant_is_chosen_on_dev_when_dev_and_test_disagree():
    """A predicts class 0 (dev majority), B class 2 (test majority): dev picks A, test would pick B."""
    exp = run_constant([constant_spec("A"), constant_spec("B", shift=2)], [0])
    assert exp.best_variant(["A", "B"]) == "A"
    assert exp.best_variant(["B", "A"]) == "A"
    assert exp.best_variant(["A", "B"], split="test") == "B"
    assert exp.best_variant(["C"]) is None and exp.best_variant(["C", "B"]) == "B"
    table = exp.results_table()
    dev = dict(zip(table["variant"], table["dev weighted_f1"]))
    dev_labels = [0, 0, 1, 0, 2, 1]
    assert dev["A"] == "33.33 ± 0.00" and constant_weighted_f1(dev_labels, 0) == pytest.approx(100 / 3)
    assert dev["B"] == "4.76 ± 0.00" and constant_weighted_f1(dev_labels, 2) == pytest.approx(100 / 21)
    test = dict(zip(table["variant"], table["weighted_f1_mean"]))
    assert test["B"] == pytest.approx(constant_weighted_f1([2, 2, 1, 0, 1, 2], 2), abs=0.01)


def test_merge_keeps_every_run_and_later_runs_replace_earlier():
    a = run_constant([constant_spec("A")], [0])
    b = run_constant([constant_spec("A", shift=1), constant_spec("B")], [0])
    m = merge(a, b)
    assert m.fit("A", 0).test_outputs["y_pred"][0] == 1 and set(m.fits) == {("toy", "A", 0), ("toy", "B", 0)}
    assert len(m.rows) == 6 and m.test_truth == a.test_truth


def test_bad_specs_and_seeds_are_refused_before_work():
    with pytest.raises(ValueError, match=r"^run_experiment needs at least one RunSpec$"):
        run_constant([], 1)
    with pytest.raises(ValueError, match=r"^seeds must be >= 1 \(or a non-empty list\), got \[\]$"):
        run_constant([constant_spec("A")], [])
    with pytest.raises(ValueError, match=r"^duplicate variant names in the specs: \['A'\]$"):
        run_constant([constant_spec("A"), constant_spec("B"), constant_spec("A")], 1)
    with pytest.raises(TypeError, match=r"^spec .x. built a object, which is neither a torch.nn.Module nor has fit_splits\(\)$"):
        run_constant([RunSpec("x", lambda: object(), ["text"])], 1)
    exp = run_constant([constant_spec("A")], 2)
    assert sorted(s for _, _, s in exp.fits) == [0, 1]
    with pytest.raises(KeyError, match="no unique run"):
        exp.fit("A", 5)


# ----------------------------------------------------------------------------- the fit cache in the loop
class _Counting:
    builds = 0


def _counted(shift=0):
    def build():
        _Counting.builds += 1
        return ConstantModel(shift)
    return build


def test_a_cached_run_is_read_back_with_its_own_numbers_and_marked(tmp_path, monkeypatch):
    """Second call with the same identity: nothing is built, every (variant, seed) reads back its
    own predictions and rows (``cached: True``), the test truth is set, and the report says so;
    keep_models, on_epoch, cache=False and ERC_FIT_CACHE=off train without the cache."""
    monkeypatch.setenv("ERC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ERC_FIT_CACHE", raising=False)
    data = toy_data(DEV, TEST)
    specs = lambda: [RunSpec(v, _counted(s), ["text"], model="toy", identity={"model": "const", "shift": s})
                     for v, s in (("A", 0), ("B", 1))]
    _Counting.builds = 0
    first = run_experiment(data, specs(), [0, 1], CFG, progress=False)
    assert _Counting.builds == 4 and set(first.cache_status.values()) == {"trained"}
    assert first.cache_report() == "read from the fit cache: none; trained: 4 fits"
    second = run_experiment(data, specs(), [0, 1], CFG, progress=False)
    assert _Counting.builds == 4
    assert second.cache_counts() == {"hit": 4, "trained": 0, "uncached": 0}
    assert second.cache_report() == "read from the fit cache: A seeds 0-1, B seeds 0-1 (4 fits); trained: 0 fits"
    assert second.predictions() == first.predictions()
    assert second.predictions()["toy|B|1"] == [2] * 6
    assert second.test_truth == first.test_truth == {"toy": {"labels": [2, 2, 1, 0, 1, 2], "dialogue_lengths": [3, 3]}}
    assert [r["cached"] for r in second.rows] == [True] * 8
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("cached", "seconds")} for r in rows]
    assert strip(second.rows) == strip(first.rows)
    for kw in ({"keep_models": True}, {"on_epoch": lambda *a: None}, {"cache": False}):
        exp = run_experiment(data, specs()[:1], [0], CFG, progress=False, **kw)
        assert exp.cache_status == {("toy", "A", 0): "uncached"}, kw
    assert "A" in [k[1] for k in exp.fits] and _Counting.builds == 7
    monkeypatch.setenv("ERC_FIT_CACHE", "off")
    exp = run_experiment(data, specs()[:1], [0], CFG, progress=False)
    assert exp.cache_report() == "read from the fit cache: none; trained: 1 fits (1 without the cache)"
    monkeypatch.setenv("ERC_FIT_CACHE", "refresh")
    exp = run_experiment(data, specs()[:1], [3], CFG, progress=False)
    assert exp.cache_status == {("toy", "A", 3): "trained"} and exp.fit("A", 3).test_outputs["y_pred"][0] == 0


def test_keep_models_returns_each_runs_model():
    exp = run_constant([constant_spec("A"), constant_spec("B", shift=1)], [0, 2], keep_models=True)
    assert {k: m.cls for k, m in exp.models.items()} == {("toy", "A", 0): 0, ("toy", "A", 2): 2, ("toy", "B", 0): 1,
                                                         ("toy", "B", 2): 0}


def test_on_epoch_gets_the_spec_the_seed_and_each_row():
    seen = []
    specs = [RunSpec("S", lambda: ScriptedModel([(True, False)] * 2), ["text"], train={"epochs": 2})]
    run_experiment(toy_data(DEV, TEST), specs, [4], CFG, progress=False, on_epoch=lambda s, seed, row: seen.append(
        (s.variant, seed, row["epoch"], row["dev_weighted_f1"])))
    assert seen == [("S", 4, 1, 100.0), ("S", 4, 2, 100.0)]


def test_views_summary_histories_and_json():
    exp = run_constant([constant_spec("A"), constant_spec("B", shift=1)], [0, 1])
    labels = [2, 2, 1, 0, 1, 2]
    s = exp.summary(where={"variant": "B"})
    assert s["variant"].tolist() == ["B"] and s["n_seeds"].tolist() == [2]
    assert s["weighted_f1_mean"].iloc[0] == pytest.approx(np.mean([constant_weighted_f1(labels, 1),
                                                                    constant_weighted_f1(labels, 2)]))
    assert exp.summary("dev")["variant"].tolist() == ["A", "B"]
    assert set(exp.histories("A")) == {"toy|A|0", "toy|A|1"} and len(exp.histories("A")["toy|A|1"]) == 1
    js = exp.to_json()
    assert set(js) == {"rows", "histories", "test_predictions", "test_output_predictions", "test_truth", "fit_cache"}
    # the kept student head predicts the model's own class here (student=None): stored as its predictions
    assert {k: v["logits_text"] for k, v in js["test_output_predictions"].items()} == js["test_predictions"]
    assert js["test_predictions"]["toy|A|1"] == [1] * 6 and js["fit_cache"] == {"hit": 0, "trained": 0, "uncached": 4}
    table = exp.table
    assert {"F1 c0", "F1 c1", "F1 c2"} <= set(table.columns) and "per_class_f1" not in table
    row = table[(table.variant == "A") & (table.seed == 0) & (table.split == "test")].iloc[0]
    assert row["F1 c0"] == pytest.approx(100 * 2 * (1 / 6) / (1 + 1 / 6)) and row["F1 c2"] == 0.0
    out = exp.results_table()
    assert out["seeds" if "seeds" in out else "n_seeds"].tolist() == [2, 2]
    assert out["best epoch"].tolist() == [1.0, 1.0] and out["epochs run"].tolist() == [1.0, 1.0]


def test_comparison_table_row_and_seed_ranges_written_out():
    from erc_lib.experiment import _seed_range

    c = {"a": "full", "b": "w/o x", "dataset": "toy", "a_mean": 60.0, "a_std": 1.234, "n_seeds_a": 5, "b_mean": 61.0,
         "b_std": 0.5, "n_seeds_b": 4, "difference": -1.006, "ci_low": -2.456, "ci_high": -0.251}
    assert comparison_table([c]).iloc[0].to_dict() == {
        "comparison": "full  −  w/o x", "dataset": "toy", "A": "60.00 ± 1.23 (5)", "B": "61.00 ± 0.50 (4)",
        "difference": -1.01, "ci_low": -2.46, "ci_high": -0.25, "95% CI": "[-2.46, -0.25]", "reading": "B better"}
    assert _seed_range([3]) == "3" and _seed_range([2, 0, 1]) == "0-2" and _seed_range([0, 2]) == "0,2"
    assert _seed_range([4, 5]) == "4-5" and _seed_range([1, 2, 4]) == "1,2,4"


def test_cache_report_names_each_variant_and_its_seeds():
    exp = Experiment(cache_status={("d", "A", 0): "hit", ("d", "A", 2): "hit", ("d", "B", 3): "hit",
                                   ("d", "C", 0): "trained", ("d", "C", 1): "uncached"})
    assert exp.cache_counts() == {"hit": 3, "trained": 1, "uncached": 1}
    assert exp.cache_report() == ("read from the fit cache: A seeds 0,2, B seed 3 (3 fits); trained: 2 fits "
                                  "(1 without the cache)")


def test_save_writes_rows_predictions_truth_and_extras(tmp_path, monkeypatch):
    from erc_lib.results import read_results

    monkeypatch.setenv("ERC_RESULTS_DIR", str(tmp_path))
    exp = run_constant([constant_spec("A")], [1])
    path = exp.save("toy_run", {"epochs": 1}, note="x")
    assert path.exists()
    res = read_results("toy_run")
    assert res["parameters"] == {"epochs": 1} and res["note"] == "x"
    assert res["test_predictions"] == {"toy|A|1": [1] * 6} and res["test_truth"]["toy"]["labels"] == [2, 2, 1, 0, 1, 2]
    assert [r["split"] for r in res["rows"]] == ["dev", "test"] and res["fit_cache"]["uncached"] == 1
    assert set(res["histories"]) == {"toy|A|1"}


def test_results_table_speed_and_time_columns_are_the_runs_means():
    exp = run_constant([constant_spec("A")], [0, 1])
    for s, (utt, sec) in enumerate(((100.0, 2.0), (300.0, 4.0))):
        exp.fits[("toy", "A", s)].train_utterances_per_second = utt
        exp.fits[("toy", "A", s)].seconds = sec
    row = exp.results_table().iloc[0]
    assert row["utt/s (train)"] == 200.0 and row["seconds"] == 3.0 and row["n_seeds"] == 2


def test_best_variant_reads_only_the_named_datasets_dev():
    """Merged runs on two datasets: dev of "toy" has class 0 as majority, dev of "toy2" class 2; A
    predicts 0, B predicts 2, C ran on toy2 only: each dataset's choice reads its own dev runs."""
    one = run_constant([constant_spec("A"), constant_spec("B", shift=2)], [0])
    two = run_constant([constant_spec("A"), constant_spec("B", shift=2), constant_spec("C", shift=1)], [0],
               data=toy_data(((2, 2, 1, 2), (2, 0)), TEST, name="toy2"))
    both = merge(one, two)
    assert both.best_variant(["A", "B"], dataset="toy") == "A"
    assert both.best_variant(["A", "B"], dataset="toy2") == "B"
    assert both.best_variant(["C"], dataset="toy") is None and both.best_variant(["C", "A"], dataset="toy") == "A"
    assert both.best_variant(["C", "B"], dataset="toy2") == "B"


def test_paired_difference_confusion_and_tables_read_only_the_named_dataset():
    """Merged runs on "toy" and "toy2" (different test labels): a comparison on one dataset uses
    that dataset's seeds and truth only; default resampling is 1000 resamples with seed 0."""
    one = run_constant([constant_spec("A"), constant_spec("B", shift=1)], [0])
    toy2_test = ((2, 2, 1), (0, 1, 0))
    two = run_constant([constant_spec("A"), constant_spec("B", shift=1)], [0], data=toy_data(((2, 2, 1, 2), (2, 0)), toy2_test, name="toy2"))
    both = merge(one, two)
    c = paired_difference(both, "A", both, "B", dataset="toy2")
    labels2 = [2, 2, 1, 0, 1, 0]
    assert c["dataset"] == "toy2" and c["n_seeds_a"] == 1 and c["n_seeds_b"] == 1
    assert c["a_mean"] == pytest.approx(constant_weighted_f1(labels2, 0))
    assert c["b_mean"] == pytest.approx(constant_weighted_f1(labels2, 1))
    assert c == paired_difference(both, "A", both, "B", dataset="toy2", n_resamples=1000, seed=0)
    assert c != paired_difference(both, "A", both, "B", dataset="toy2", n_resamples=1000, seed=1)
    with pytest.raises(KeyError, match="no runs of 'A' or 'Z' on toy2"):
        paired_difference(both, "A", both, "Z", dataset="toy2")
    assert both.confusion("A", dataset="toy2").tolist() == [[2, 0, 0], [2, 0, 0], [2, 0, 0]]
    table = both.results_table(where={"dataset": "toy2"})
    assert table["dataset"].tolist() == ["toy2", "toy2"] and table["variant"].tolist() == ["A", "B"]
    dev2 = [2, 2, 1, 2, 2, 0]
    assert table["dev weighted_f1"].tolist() == [f"{constant_weighted_f1(dev2, 0):.2f} ± 0.00",
                                                 f"{constant_weighted_f1(dev2, 1):.2f} ± 0.00"]
    acc = both.results_table(where={"dataset": "toy"}, metrics=("accuracy",))
    assert "accuracy_mean" in acc and "weighted_f1_mean" not in acc
    assert acc["accuracy_mean"].tolist() == pytest.approx([100 / 6, 200 / 6])
    by = both.summary(by=("dataset", "variant"), metrics=("accuracy",))
    assert list(by.columns[:2]) == ["dataset", "variant"] and "model" not in by and "weighted_f1_mean" not in by


def test_results_table_rounds_speeds_to_one_decimal():
    exp = run_constant([constant_spec("A")], [0, 1])
    for s, (utt, sec) in enumerate(((100.04, 2.0), (100.08, 2.0))):
        exp.fits[("toy", "A", s)].train_utterances_per_second = utt
        exp.fits[("toy", "A", s)].seconds = sec
    assert exp.results_table()["utt/s (train)"].tolist() == [100.1]


def test_run_lookups_across_datasets_and_json_ready_predictions():
    """With runs of two datasets: ``fit`` picks the named dataset's run and says which variants exist
    when none matches; ``seed_fits`` without a dataset is in seed order; stored predictions are
    Python ints (JSON integers); the seed std of two seeds is their sample std."""
    one = run_constant([constant_spec("A")], [0, 1])
    two = run_constant([constant_spec("A", shift=1)], [0, 1], data=toy_data(DEV, TEST, name="toy2"))
    both = merge(two, one)
    assert both.fit("A", 1, dataset="toy2").test_outputs["y_pred"][0] == 2
    assert both.fit("A", 1, dataset="toy").test_outputs["y_pred"][0] == 1
    with pytest.raises(KeyError, match=r"no unique run for variant='A', seed=1, dataset=None; runs: \['A'\]"):
        both.fit("A", 1)
    assert [f.config["seed"] for f in both.seed_fits("A")] == [0, 0, 1, 1]
    preds = one.predictions()["toy|A|1"]
    assert preds == [1] * 6 and all(type(p) is int for p in preds)
    c = paired_difference(one, "A", one, "A", n_resamples=10)
    labels = [2, 2, 1, 0, 1, 2]
    assert c["a_std"] == pytest.approx(np.std([constant_weighted_f1(labels, 0), constant_weighted_f1(labels, 1)], ddof=1))


def test_a_specs_splits_carry_the_datasets_speaker_ids_and_its_side_inputs():
    """RunSpec.splits on the toy (speakers A, B, A, B, ... in every dialogue): every split's items carry the
    dataset-wide speaker ids (A -> 0, B -> 1, in file order) and the spec's side inputs, computed per
    dialogue; the collate function is the dialogue one."""
    from erc_lib.data.batches import collate_dialogues

    data = toy_data()
    spec = RunSpec("x", build=lambda: None, inputs=["text"],
                   extra={"bios": lambda d: np.full((len(d.labels), 2), len(d.labels))})
    train, dev, test, collate = spec.splits(data)
    assert collate is collate_dialogues
    for split, dataset in (("train", train), ("dev", dev), ("test", test)):
        for i, dialogue in enumerate(data.splits[split]):
            item = dataset[i]
            n = len(dialogue.labels)
            assert item["global_speakers"].tolist() == [{"A": 0, "B": 1}[s] for s in dialogue.speakers], split
            assert item["extra"]["bios"].tolist() == [[float(n), float(n)]] * n, split


def test_the_stored_test_truth_is_the_test_labels_as_integers_and_the_dialogue_lengths():
    """The truth every stored prediction is scored against: the test dialogues (2, 2, 1) and (0, 1, 2) of
    tests/toy_models.py's TEST, labels as JSON integers in dialogue order, lengths 3 and 3."""
    exp = run_constant([constant_spec("A")], 1)
    (truth,) = exp.test_truth.values()
    assert truth == {"labels": [2, 2, 1, 0, 1, 2], "dialogue_lengths": [3, 3]}
    assert all(type(label) is int for label in truth["labels"])


def test_a_cached_run_of_a_spec_building_its_own_datasets_keeps_the_test_truth_of_those_datasets(tmp_path, monkeypatch):
    """A spec whose inputs is a callable (it builds its own train / dev / test datasets, as CoMPM's token
    datasets do) read back from the fit cache: the test truth is that of the test set the callable builds
    (here the toy's test dialogues without their last one: labels 2, 2, 1, length 3), not the dataset's."""
    from erc_lib.data.batches import DialogueDataset, collate_dialogues

    monkeypatch.setenv("ERC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ERC_FIT_CACHE", raising=False)
    data = toy_data(DEV, TEST)
    built = lambda: [DialogueDataset(data.splits[s][:1] if s == "test" else data.splits[s], ["text"])  # noqa: E731
                     for s in ("train", "dev", "test")] + [collate_dialogues]
    spec = lambda: RunSpec("A", _counted(0), built, model="toy", identity={"model": "const", "inputs": "own"})  # noqa: E731
    first = run_experiment(data, [spec()], [0], CFG, progress=False)
    second = run_experiment(data, [spec()], [0], CFG, progress=False)
    assert second.cache_counts()["hit"] == 1
    assert second.test_truth == first.test_truth == {"toy": {"labels": [2, 2, 1], "dialogue_lengths": [3]}}
