"""The trainer (:func:`erc_lib.training.fit`): the epoch is selected on dev and never on test, a
smoothing window and ties follow the stated rule, early stopping counts epochs without a dev
improvement, the stored test outputs and weights are those of the selected epoch, and
``selection="last"`` never reads dev. Constructed cases: a scripted model whose dev and test
accuracy per epoch are set by hand (tests/toy_models.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from erc_lib.data import DialogueDataset, collate_dialogues
from erc_lib.experiment import RunSpec, run_experiment
from erc_lib.models.sdt import build_sdt
from erc_lib.runtime import seed_everything
from erc_lib.training import TrainConfig, _accumulate, fit, make_loader, make_optimizer, predict

from toy_models import ScriptedModel, spread_data, toy_data

R, W = True, False  # every utterance right / wrong


def _fit(script, epochs=None, keep=("epoch_seen",), on_epoch=None, **config):
    data = toy_data()
    sets = [DialogueDataset(data.splits[s], ["text"]) for s in ("train", "dev", "test")]
    model = ScriptedModel(script)
    cfg = TrainConfig(epochs=epochs or len(script), batch_size=64, device="cpu", progress=False, **config)
    return model, fit(model, *sets, data.label_names, cfg, keep=keep, on_epoch=on_epoch)


def test_epoch_is_selected_on_dev_when_dev_and_test_disagree():
    """dev right only at epoch 2, test right only at epochs 1 and 3: epoch 2 is selected; the
    reported test metrics, test predictions, kept outputs and restored weights are epoch 2's."""
    model, f = _fit([(W, R), (R, W), (W, R)], patience=None)
    assert f.best_epoch == 2
    assert f.dev["weighted_f1"] == 100.0 and f.test["weighted_f1"] == 0.0 and f.test["accuracy"] == 0.0
    truth = np.array([0, 1, 2, 0, 1, 2])
    assert np.array_equal(f.test_outputs["y_true"], truth)
    assert np.array_equal(f.test_outputs["y_pred"], (truth + 1) % 3)   # epoch 2's wrong test predictions
    assert np.all(f.test_outputs["epoch_seen"] == 2)
    assert int(model.epoch) == 2                                      # epoch 2's state restored
    assert [h["dev_weighted_f1"] for h in f.history] == [0.0, 100.0, 0.0]
    assert [h["test_weighted_f1"] for h in f.history] == [100.0, 0.0, 100.0]
    assert [h["dev_accuracy"] for h in f.history] == [0.0, 100.0, 0.0]
    assert [h["epoch"] for h in f.history] == [1, 2, 3]
    assert "loss_ce" not in f.test_outputs and "logits" in f.test_outputs


def test_ties_keep_the_earlier_epoch_and_later_improvements_win():
    _, f = _fit([(0.5, W), (0.5, R), (1.0, W), (1.0, R)], patience=None)
    assert f.best_epoch == 3
    _, f = _fit([(R, W), (R, R)], patience=None)
    assert f.best_epoch == 1 and f.test["weighted_f1"] == 0.0


def test_selection_window_averages_the_last_epochs_of_the_dev_curve():
    """dev weighted F1 per epoch 0, 100, 0, 100, 100: window 1 picks epoch 2 (the first 100);
    window 2 scores 0, 50, 50, 50, 100 and picks epoch 5; window 3 scores 0, 50, 33.3, 66.7, 66.7
    and picks epoch 4."""
    script = [(W, R), (R, W), (W, R), (R, W), (R, R)]
    assert _fit(script, patience=None)[1].best_epoch == 2
    _, f = _fit(script, patience=None, selection_window=2)
    assert f.best_epoch == 5
    assert [h["dev_selection_score"] for h in f.history] == [0.0, 50.0, 50.0, 50.0, 100.0]
    _, f = _fit(script, patience=None, selection_window=3)
    assert f.best_epoch == 4
    assert [h["dev_selection_score"] for h in f.history] == pytest.approx([0.0, 50.0, 100 / 3, 200 / 3, 200 / 3])


def test_early_stopping_counts_epochs_without_a_dev_improvement():
    """Best dev at epoch 1 and nothing better after: patience 2 stops after epoch 3 (two stale
    epochs), patience 1 after epoch 2, None runs all epochs; an improvement resets the count."""
    script = [(R, W), (W, R), (W, R), (R, R), (W, R), (W, R)]
    assert len(_fit(script, patience=2)[1].history) == 3
    assert len(_fit(script, patience=1)[1].history) == 2
    assert len(_fit(script, patience=None)[1].history) == 6
    script = [(0.5, W), (W, W), (R, W), (W, W), (W, W), (W, W)]
    _, f = _fit(script, patience=2)
    assert len(f.history) == 5 and f.best_epoch == 3
    assert len(_fit(script, patience=3)[1].history) == 6


def test_last_epoch_selection_ignores_dev_and_never_stops_early():
    model, f = _fit([(R, W), (W, W), (W, R)], patience=1, selection="last")
    assert f.best_epoch == 3 and len(f.history) == 3 and int(model.epoch) == 3
    assert f.test["weighted_f1"] == 100.0 and f.dev["weighted_f1"] == 0.0


def test_on_epoch_sees_every_history_row_and_terms_are_logged_per_split():
    rows = []
    _, f = _fit([(R, W), (W, R)], patience=None, on_epoch=rows.append)
    assert rows == f.history
    assert [h["train_ce"] for h in f.history] == [1.0, 2.0]   # the counter after each epoch's training pass
    assert [h["dev_ce"] for h in f.history] == [1.0, 2.0] and [h["test_ce"] for h in f.history] == [1.0, 2.0]
    assert f.config["epochs"] == 2 and f.config["batch_size"] == 64
    assert len(f.epoch_train_seconds) == 2 and f.seconds > 0 and f.train_utterances_per_second > 0


def test_predict_returns_dataset_order_kept_outputs_and_mean_loss_terms():
    """Batches of 1 in length-sorted order: predictions come back in dataset order; a kept name
    the model lacks is skipped; ``loss_<term>`` is the mean over batches."""
    data = toy_data(test_labels=((0, 1, 2, 0, 1), (2,), (1, 0, 2)))
    ds = DialogueDataset(data.splits["test"], ["text"])
    model = ScriptedModel([(R, W)])
    model.epoch += 1
    out = predict(model, make_loader(ds, 1, False, bucket_by_length=True), torch.device("cpu"),
                  keep=("epoch_seen", "absent"))
    truth = np.array([0, 1, 2, 0, 1, 2, 1, 0, 2])
    assert np.array_equal(out["y_true"], truth) and np.array_equal(out["y_pred"], (truth + 1) % 3)
    assert out["logits"].shape == (9, 3) and out["epoch_seen"].shape == (9,) and "absent" not in out
    assert out["loss_ce"] == 1.0 and out["loss_total"] == 0.0
    two = predict(model, make_loader(ds, 2, False, bucket_by_length=True), torch.device("cpu"))
    assert np.array_equal(two["y_true"], truth)


def test_optimizer_and_schedule_follow_the_config():
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1), requires_grad=False)]
    opt, sched = make_optimizer(params, TrainConfig(lr=0.01, weight_decay=0.1, fused_optimizer=False), 5)
    assert type(opt) is torch.optim.Adam and sched is None
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["weight_decay"] == 0.1
    assert len(opt.param_groups[0]["params"]) == 1   # frozen parameters are not optimised
    opt, sched = make_optimizer(params, TrainConfig(lr=0.01, optimizer="adamw", schedule="linear", warmup_epochs=1,
                                                    epochs=3, fused_optimizer=False), 5)
    assert type(opt) is torch.optim.AdamW
    lrs = []
    for _ in range(15):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step(); sched.step()
    # linear warm-up over 5 steps (1 epoch x 5 steps), then linear decay to 0 at step 15
    assert lrs[:6] == pytest.approx([0.0, 0.002, 0.004, 0.006, 0.008, 0.01])
    assert lrs[10] == pytest.approx(0.005) and opt.param_groups[0]["lr"] == pytest.approx(0.0)


def test_the_fused_optimizer_is_asked_for_only_when_configured_and_one_step_decays_to_zero():
    """``fused_optimizer=True`` asks torch for the fused Adam / AdamW kernel (``defaults["fused"]`` True); False
    leaves torch's own choice (None). A linear schedule without warm-up over one epoch of one step starts at
    the full rate and reaches 0 after that step (total steps = epochs x steps per epoch, here 1)."""
    params = [torch.nn.Parameter(torch.zeros(2))]
    for optimizer in ("adam", "adamw"):
        on, _ = make_optimizer(params, TrainConfig(optimizer=optimizer, fused_optimizer=True), 5)
        off, _ = make_optimizer(params, TrainConfig(optimizer=optimizer, fused_optimizer=False), 5)
        assert on.defaults["fused"] is True and off.defaults["fused"] is None
    opt, sched = make_optimizer(params, TrainConfig(lr=0.01, schedule="linear", warmup_epochs=0, epochs=1,
                                                    fused_optimizer=False), 1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    opt.step(); sched.step()
    assert opt.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize("field, value", [("epochs", 0), ("lr", 0.0), ("weight_decay", -1e-3), ("batch_size", 0),
                                          ("patience", 0), ("grad_clip", 0.0), ("optimizer", "sgd"),
                                          ("schedule", "cosine"), ("warmup_epochs", -1.0), ("selection", "test"),
                                          ("selection_window", 0), ("amp", "fp16"), ("compile", "yes")])
def test_bad_train_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


class _UnitGradient(ScriptedModel):
    """A scripted model whose loss is ``w`` itself: a gradient of exactly 1 on every step. Adam's
    first step, and every step on a constant gradient, moves ``w`` by ``-lr`` (m / sqrt(v) = 1
    after bias correction; eps 1e-8 is negligible), so ``w`` after training is minus the sum of the
    learning rates of the steps taken."""

    def loss(self, out, batch):
        return {"total": self.w.sum() + 0.0 * out["logits"].sum()}


@pytest.mark.parametrize("fused", [False, True])
def test_every_training_step_and_the_schedule_reach_the_weights(fused):
    """One batch per epoch, 4 epochs, lr 0.1, selection "last": constant schedule -> 4 steps of 0.1,
    w = -0.4; linear schedule with 1 warm-up epoch of 4 -> rates 0, 0.1, 0.1 * 2/3, 0.1 * 1/3, w = -0.2."""
    data = toy_data()
    sets = [DialogueDataset(data.splits[s], ["text"]) for s in ("train", "dev", "test")]
    for schedule, expected in (("constant", -0.4), ("linear", -0.2)):
        model = _UnitGradient([(R, R)] * 4)
        cfg = TrainConfig(epochs=4, lr=0.1, weight_decay=0.0, batch_size=64, device="cpu", progress=False,
                          selection="last", patience=None, schedule=schedule, warmup_epochs=1.0, fused_optimizer=fused)
        f = fit(model, *sets, data.label_names, cfg)
        assert float(model.w.detach()) == pytest.approx(expected, abs=1e-5), schedule
        assert [h["train_total"] for h in f.history] == pytest.approx(
            [0.0, -0.1, -0.2, -0.3] if schedule == "constant" else [0.0, 0.0, -0.1, -0.1 - 0.2 / 3], abs=1e-5)


class _GrowingGradient(ScriptedModel):
    """Loss ``w * e^3`` in epoch ``e``: gradient 1, then 8."""

    def loss(self, out, batch):
        return {"total": self.w.sum() * float(self.epoch) ** 3 + 0.0 * out["logits"].sum()}


def test_gradient_clipping_caps_the_gradient_norm():
    """Clipped to norm 1, the gradients 1 and 8 are both 1, so Adam moves w by -lr twice (w = -0.2 at
    lr 0.1); unclipped, the second step is smaller than lr (m / sqrt(v) < 1 after a jump)."""
    data = toy_data()
    sets = [DialogueDataset(data.splits[s], ["text"]) for s in ("train", "dev", "test")]
    result = {}
    for clip in (1.0, None):
        model = _GrowingGradient([(R, R)] * 2)
        cfg = TrainConfig(epochs=2, lr=0.1, weight_decay=0.0, batch_size=64, device="cpu", progress=False,
                          selection="last", patience=None, grad_clip=clip, fused_optimizer=False)
        fit(model, *sets, data.label_names, cfg)
        result[clip] = float(model.w.detach())
    assert result[1.0] == pytest.approx(-0.2, abs=1e-6)
    assert -0.2 < result[None] < -0.15


# ----------------------------------------------------------------------------- steps and fit of the trainer
# (moved from the benchmark's tests: fits with length buckets, the speed options; the batching itself: tests/test_batching.py)


def _fit_sdt(data, bucket: bool, batch_size: int, seed: int = 0):
    spec = RunSpec("t", lambda: build_sdt(data, "t", d_model=8, n_heads=2), ["text"], keep=("gate",))
    cfg = TrainConfig(epochs=3, lr=3e-3, batch_size=batch_size, seed=seed, device="cpu", progress=False,
                      bucket_by_length=bucket)
    return run_experiment(data, [spec], [seed], cfg, progress=False).fit("t", seed)


def test_fit_same_metrics_with_and_without_bucketing_at_batch_size_one():
    data = spread_data()
    off, on = _fit_sdt(data, False, 1), _fit_sdt(data, True, 1)
    assert [h["train_total"] for h in off.history] == [h["train_total"] for h in on.history]
    assert off.test == on.test and off.dev == on.dev and off.best_epoch == on.best_epoch
    assert np.array_equal(off.test_outputs["y_pred"], on.test_outputs["y_pred"])


def test_fit_with_buckets_is_seeded_and_reports_test_in_dataset_order():
    data = spread_data()
    a, b = _fit_sdt(data, True, 3), _fit_sdt(data, True, 3)
    assert [h["train_total"] for h in a.history] == [h["train_total"] for h in b.history]
    assert np.array_equal(a.test_outputs["y_true"], np.concatenate([d.labels for d in data.splits["test"]]))
    assert len(a.epoch_train_seconds) == len(a.history)
    assert {"train_total", "dev_weighted_f1", "test_weighted_f1", "dev_selection_score"} <= set(a.history[0])


def test_loss_sums_on_device_equal_python_float_sums():
    values = torch.randn(50, generator=torch.Generator().manual_seed(0)).float()
    sums = {}
    for v in values:
        _accumulate(sums, {"total": v})
    expected = 0.0
    for v in values:
        expected += float(v)
    assert float(sums["total"]) == expected


def test_speed_options_are_checked():
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp16")
    with pytest.raises(ValueError, match="bucket_by_length"):
        TrainConfig(bucket_by_length=1)
    data = spread_data()
    ds = DialogueDataset(data.splits["train"], ["text"])
    with pytest.raises(ValueError, match="CUDA"):
        fit(build_sdt(data, "t", d_model=8, n_heads=2), ds, ds, ds, data.label_names,
            TrainConfig(epochs=1, device="cpu", amp="bf16", progress=False))


def test_fused_optimizer_trains_and_stays_close_to_the_default():
    data = spread_data()
    results = []
    for fused in (False, True):
        seed_everything(0)
        model = build_sdt(data, "t", d_model=8, n_heads=2)
        sets = [DialogueDataset(data.splits[s], ["text"]) for s in ("train", "dev", "test")]
        results.append(fit(model, *sets, data.label_names, TrainConfig(epochs=2, lr=1e-3, batch_size=2, device="cpu",
                                                                       progress=False, fused_optimizer=fused)))
    assert results[0].history[0]["train_total"] == pytest.approx(results[1].history[0]["train_total"], rel=1e-4)


def test_batch_lengths_stay_on_the_cpu():
    ds = DialogueDataset(spread_data().splits["train"], ["text"])
    batch = collate_dialogues([ds[i] for i in range(3)])
    assert batch.lengths.tolist() == [len(d) for d in ds.dialogues[:3]]
    moved = batch.to("cpu", non_blocking=True)
    assert moved.lengths.device.type == "cpu" and moved.n_utterances == int(batch.mask.sum())
    by_hand = type(batch)(batch.features, batch.labels, batch.mask, batch.speakers, batch.global_speakers, batch.dialogue_ids)
    assert by_hand.n_utterances == batch.n_utterances  # without lengths: counted from the mask


def test_only_the_training_loader_is_shuffled_with_the_fits_seed_and_pinning_waits_for_cuda(monkeypatch):
    """fit's three loaders (recorded): train shuffled with the fit's seed, dev and test in dataset order (seed 0),
    each with the configured batch size, collate function and length bucketing; pinned memory is asked for only
    on CUDA, so a CPU fit with ``pin_memory=True`` does not pin."""
    import erc_lib.training as training

    calls = []
    real = training.make_loader

    def recording(ds, batch_size, shuffle, seed=0, collate_fn=None, bucket_by_length=False, pin_memory=False):
        calls.append((batch_size, shuffle, seed, bucket_by_length, pin_memory))
        return real(ds, batch_size, shuffle, seed, collate_fn, bucket_by_length, pin_memory)

    monkeypatch.setattr(training, "make_loader", recording)
    _fit([(W, R), (R, W)], patience=None, seed=7, bucket_by_length=True, pin_memory=True)
    assert [c[:4] for c in calls] == [(64, True, 7, True), (64, False, 0, True), (64, False, 0, True)]
    assert not any(c[4] for c in calls)
    calls.clear()
    _fit([(W, R)], patience=None, seed=3, bucket_by_length=False)
    assert [c[:4] for c in calls] == [(64, True, 3, False), (64, False, 0, False), (64, False, 0, False)]


def test_training_throughput_counts_every_training_utterance_of_every_epoch():
    """train_utterances_per_second = (epochs x training utterances) / the summed per-epoch training seconds; the
    toy's training split has 6 utterances (dialogues of 4 and 2), so 3 epochs see 18."""
    import time

    t0 = time.perf_counter()
    _, f = _fit([(W, R), (R, W), (W, R)], patience=None)
    elapsed = time.perf_counter() - t0
    assert len(f.epoch_train_seconds) == 3 and 0 < sum(f.epoch_train_seconds) <= f.seconds <= elapsed
    assert f.train_utterances_per_second == 18 / sum(f.epoch_train_seconds)


def test_an_epochs_training_losses_are_the_mean_over_its_batches():
    """One dialogue per batch: the toy's two training dialogues make 2 batches an epoch. The scripted model
    counts training forward passes and its ``ce`` term is that count, so epoch 1 sees 1 and 2, epoch 2 sees 3
    and 4, epoch 3 sees 5 and 6: ``train_ce`` is 1.5, 3.5, 5.5 (the mean over the epoch's batches)."""
    data = toy_data()
    sets = [DialogueDataset(data.splits[s], ["text"]) for s in ("train", "dev", "test")]
    model = ScriptedModel([(W, R)] * 6)
    f = fit(model, *sets, data.label_names, TrainConfig(epochs=3, batch_size=1, device="cpu", progress=False,
                                                        patience=None))
    assert [h["train_ce"] for h in f.history] == [1.5, 3.5, 5.5]


def test_compile_runs_the_forward_pass_through_torch_compile_with_dynamic_shapes(monkeypatch):
    """``compile=True`` (TrainConfig's contract): the forward pass goes through ``torch.compile(model,
    dynamic=True)`` once per fit (dialogue lengths vary, so shapes are dynamic), the compiled callable is
    what trains and scores, and it shares the model's parameters (the selected epoch's weights end up in
    ``model``). ``compile=False`` never calls it. A recording stand-in replaces the compiler (compiling
    itself takes 20-140 s)."""
    import erc_lib.training as training

    calls = []

    class Compiled(torch.nn.Module):  # what torch.compile returns: a wrapper calling the same module
        def __init__(self, inner):
            super().__init__()
            self.inner, self.forwards = inner, 0

        def forward(self, *args, **kwargs):
            self.forwards += 1
            return self.inner(*args, **kwargs)

        def __getattr__(self, name):  # like torch's OptimizedModule: other attributes are the module's
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.inner, name)

    def fake_compile(model, **kwargs):
        calls.append((model, kwargs, Compiled(model)))
        return calls[-1][2]

    monkeypatch.setattr(training.torch, "compile", fake_compile)
    model, f = _fit([(W, R), (R, W), (W, R)], patience=None, compile=True)
    assert len(calls) == 1 and calls[0][0] is model and calls[0][1] == {"dynamic": True}
    assert calls[0][2].forwards >= 3                   # the compiled callable trained: one batch per epoch, 3 epochs
    assert f.best_epoch == 2                           # the same selection as without compiling
    calls.clear()
    _fit([(W, R), (R, W), (W, R)], patience=None, compile=False)
    assert calls == []
