"""Equal-budget tuning (erc_lib.tune): a real 2-trial smoke study, every search space builds
and trains, the IEMOCAP tuning split, shared studies, determinism, dev-only objective, errors."""
from __future__ import annotations

import shutil

import numpy as np
import optuna
import pytest
import yaml

from erc_lib import tune as tuning
from erc_lib import zoo
from erc_lib.data import Dialogue, ERCData, load_dataset
from erc_lib.experiment import run_experiment
from erc_lib.training import TrainConfig

from conftest import require_dataset

TUNABLE = [m for m in zoo.MODELS if m != "compm_finetune"]
NAMES = ["Ses01_M", "Ses01_F", "Ses02_M", "Ses02_F"]


def synthetic(name="meld", n=(8, 4, 4), seed=0, dim=16, n_classes=3) -> ERCData:
    """Dialogues with recurring speakers and label-dependent ``text`` features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)
    splits = {}
    for split, count in zip(("train", "dev", "test"), n):
        dialogues = []
        for i in range(count):
            length = int(rng.integers(4, 9))
            labels = rng.integers(0, n_classes, size=length).astype(np.int64)
            labels[:n_classes] = np.arange(n_classes)
            speakers = [NAMES[k] for k in rng.integers(0, len(NAMES), size=length)]
            feats = centres[labels] + 0.5 * rng.normal(size=(length, dim)).astype(np.float32)
            dialogues.append(Dialogue(f"{split}_{i}", speakers, [f"utt {j}" for j in range(length)], labels,
                                      {"text": feats}))
        splits[split] = dialogues
    return ERCData(name, [f"c{k}" for k in range(n_classes)], splits).validate()


@pytest.fixture
def fake_data(monkeypatch):
    """``prepare_dataset`` returns synthetic data (no files read); returns a setter for it."""
    holder = {"data": lambda: synthetic()}
    monkeypatch.setattr("erc_lib.features.text.prepare_dataset", lambda name, **kw: holder["data"]())
    return holder


def _trials(result):
    return [(t.params, t.value) for t in result.study.trials]


# ----------------------------------------------------------------------------- (a) real smoke study
def test_two_trial_smoke_study_on_iemocap(tmp_path):
    require_dataset("iemocap")
    url = f"sqlite:///{tmp_path / 'tuning.db'}"
    result = tuning.tune("sdt", "iemocap", trials=2, storage=url, out=tmp_path / "sdt.yaml",
                         n_dialogues={"train": 10, "dev": 4, "test": 4}, epochs=2)
    saved = yaml.safe_load((tmp_path / "sdt.yaml").read_text())
    space = tuning.search_space("sdt")
    assert set(saved) == {"model", "train", "tuning"}
    assert set(saved["model"]) == set(space["model"]) and set(saved["train"]) == set(space["train"])
    assert saved["tuning"]["trials"] == 2 and saved["tuning"]["validation"] == "holdout"
    assert saved["tuning"]["best_dev_weighted_f1"] == pytest.approx(max(v for _, v in _trials(result)))
    assert 0 <= saved["tuning"]["best_dev_weighted_f1"] <= 100
    assert saved["model"]["gammas"] in space["model"]["gammas"][1]
    study = optuna.load_study(study_name="sdt_iemocap", storage=url)
    assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials)


# ----------------------------------------------------------------------------- (b) every search space
@pytest.mark.parametrize("sampler_seed", [0, 1, 2])
@pytest.mark.parametrize("model", TUNABLE)
def test_every_sampled_config_builds_and_trains(model, sampler_seed):
    space = tuning.search_space(model)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=sampler_seed)).ask()
    model_args, train_args = tuning.sample(trial, space)
    assert set(model_args) == set(space["model"]) and set(train_args) == set(space["train"])
    data = synthetic()
    m, t = zoo.settings(model, "iemocap", model_args=model_args, train_args={**train_args, "epochs": 1})
    m.pop("speaker_roles", None)  # synthetic speakers carry no IEMOCAP M/F role
    spec = zoo.model_spec(model, data, model_args=m, train_args=t)
    exp = run_experiment(data, [spec], [0], TrainConfig(device="cpu"), progress=False)
    fit = exp.fit(spec.variant)
    assert len(fit.history) == 1 and 0 <= fit.dev["weighted_f1"] <= 100


def test_compm_finetune_and_unknown_inputs_fail_before_work(tmp_path):
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(ValueError, match="no search space"):
        tuning.tune("compm_finetune", "emorynlp", 1, storage=url)
    with pytest.raises(ValueError, match="unknown model"):
        tuning.tune("gpt", "iemocap", 1, storage=url)
    with pytest.raises(ValueError, match="unknown dataset"):
        tuning.tune("sdt", "imdb", 1, storage=url)
    with pytest.raises(ValueError, match="trials"):
        tuning.tune("sdt", "iemocap", 0, storage=url)
    with pytest.raises(ValueError, match="validation"):
        tuning.tune("sdt", "iemocap", 1, storage=url, validation="test")
    assert not (tmp_path / "never.db").exists()
    with pytest.raises(ValueError, match="unknown kind"):
        tuning.sample(optuna.trial.FixedTrial({}), {"model": {"x": ("gauss", 0, 1)}})
    with pytest.raises(SystemExit):
        tuning.main(["--model", "sdt", "--dataset", "iemocap", "--trials", "0"])


# ----------------------------------------------------------------------------- (c) tuning split
def _ids(dialogues):
    return [d.dialogue_id for d in dialogues]


def test_iemocap_tuning_split_is_seeded_disjoint_and_20_percent():
    require_dataset("iemocap")
    data = load_dataset("iemocap")
    split, again = tuning.tuning_split(data), tuning.tuning_split(load_dataset("iemocap"))
    pool = set(_ids(data.splits["train"] + data.splits["dev"]))
    test = set(_ids(data.splits["test"]))
    assert _ids(split.splits["dev"]) == _ids(again.splits["dev"]), "the split must be seeded"
    assert set(_ids(split.splits["train"])) | set(_ids(split.splits["dev"])) == pool
    assert not set(_ids(split.splits["train"])) & set(_ids(split.splits["dev"]))
    assert not (set(_ids(split.splits["train"])) | set(_ids(split.splits["dev"]))) & test
    assert len(split.splits["dev"]) == round(0.2 * len(pool)) == 24  # 20 % of 108 + 12 dialogues
    assert set(_ids(split.splits["dev"])) != set(_ids(data.splits["dev"]))
    assert split.splits["test"] is data.splits["test"] and "20%" in split.notes
    standard = tuning.tuning_split(data, "standard")
    assert _ids(standard.splits["dev"]) == _ids(data.splits["dev"])


def test_tuning_split_by_dataset_name():
    assert _ids(tuning.tuning_split(synthetic("meld")).splits["dev"]) == _ids(synthetic("meld").splits["dev"])
    held = tuning.tuning_split(synthetic("iemocap-sdt", n=(16, 4, 5)))
    assert len(held.splits["dev"]) == 4 and len(held.splits["train"]) == 16 and len(held.splits["test"]) == 5
    with pytest.raises(ValueError, match="validation"):
        tuning.tuning_split(synthetic(), "test")


# ----------------------------------------------------------------------------- (d) shared studies
def test_two_calls_share_one_study_and_add_up(tmp_path, fake_data):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = tuning.tune("bigru", "meld", 2, storage=url, study_name="shared", out=tmp_path / "a.yaml", epochs=2)
    second = tuning.tune("bigru", "meld", 3, storage=url, study_name="shared", out=tmp_path / "b.yaml", epochs=2)
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["tuning"]["trials"] == 2
    assert yaml.safe_load((tmp_path / "b.yaml").read_text())["tuning"]["trials"] == 5
    assert len(optuna.load_study(study_name="shared", storage=url).trials) == 5
    params = [t.params for t in second.study.trials]
    assert params[2] != params[0], "a joining worker must not repeat the first worker's trials"
    assert second.best_dev_weighted_f1 == pytest.approx(max(t.value for t in second.study.trials))


def test_same_call_same_trials_and_test_labels_never_matter(tmp_path, fake_data):
    a = tuning.tune("bigru", "meld", 3, seeds=(0, 1), storage=f"sqlite:///{tmp_path / 'a.db'}", out=tmp_path / "a.yaml",
                    epochs=2)

    def scrambled():
        data = synthetic()
        for d in data.splits["test"]:
            d.labels = np.random.default_rng(1).permutation(d.labels)
            d.features["text"] = d.features["text"][::-1].copy()
        return data

    fake_data["data"] = scrambled
    b = tuning.tune("bigru", "meld", 3, seeds=(0, 1), storage=f"sqlite:///{tmp_path / 'b.db'}", out=tmp_path / "b.yaml",
                    epochs=2)
    assert _trials(a) == _trials(b)
    steps = sorted(a.study.trials[0].intermediate_values)
    assert steps == [1, 2, 3, 4], "each seed's epochs are reported to the pruner as their own steps"


def test_saved_config_is_read_by_zoo_settings(tmp_path, monkeypatch, fake_data):
    (tmp_path / "configs").mkdir()
    shutil.copy(zoo.CONFIG_DIR / "defaults.yaml", tmp_path / "configs" / "defaults.yaml")
    monkeypatch.setattr(zoo, "CONFIG_DIR", tmp_path / "configs")
    result = tuning.tune("logreg", "meld", 2, storage=f"sqlite:///{tmp_path / 't.db'}")
    assert result.path == tmp_path / "configs" / "tuned" / "logreg_meld.yaml"
    m, _ = zoo.settings("logreg", "meld", tuned=True)
    assert m == result.model_args and set(m) == {"C", "class_weighted"}


def test_a_pruned_trial_is_reported(tmp_path, fake_data):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = optuna.create_study(storage=url, study_name="bigru_meld", direction="maximize")
    trial = optuna.create_study().ask()
    tuning.sample(trial, tuning.search_space("bigru"))
    for value in (90.0, 91.0, 92.0, 93.0, 94.0):  # earlier curves at 101, above any attainable F1
        study.add_trial(optuna.trial.create_trial(params=trial.params, distributions=trial.distributions, value=value,
                                                  intermediate_values={s: 101.0 for s in range(1, 13)}))
    result = tuning.tune("bigru", "meld", 1, storage=url, epochs=8, out=tmp_path / "x.yaml")
    last = result.study.trials[-1]
    assert last.state == optuna.trial.TrialState.PRUNED and max(last.intermediate_values) < 8
    assert result.config["tuning"]["pruned"] == 1 and result.config["tuning"]["trials"] == 6
