"""The benchmark's per-step table (erc_lib.bench.steps) on tiny three-modality data."""
from __future__ import annotations

import pytest
import torch

from erc_lib.bench import steps
from erc_lib.bench.run import JSON_KEYS
from erc_lib.bench.summaries import tables
from toy_data import six_dialogue_three_modality_data


@pytest.mark.slow
def test_step_comparison_times_identical_batches_and_profiles_the_eager_step(monkeypatch):
    monkeypatch.setattr(steps, "paper_size", lambda model, data: ({"d_model": 8, "n_heads": 2, "d_ff": 8},
                                                                  {"batch_size": 2}))
    data = six_dialogue_three_modality_data()
    spec, batches = steps.step_batches("sdt", 3, data=data)
    assert len(batches) == 3 and all(set(b.features) == {"text", "audio", "visual"} for b in batches)
    again = steps.step_batches("sdt", 3, data=data)[1]
    assert all(torch.equal(a.mask, b.mask) and torch.equal(a.features["text"], b.features["text"])
               for a, b in zip(batches, again))  # seeded: every way sees the same batches
    before = torch.get_num_threads()
    rows = steps.step_comparison(models=("sdt",), ways=("eager",), steps=2, data=data, progress=False)
    assert torch.get_num_threads() == before
    padded, packed = rows   # every computation, each against the padded eager step
    assert [r["computation"] for r in rows] == list(steps.STEP_COMPUTATIONS["sdt"]) == ["padded", "packed"]
    assert padded["model"] == "sdt" and padded["way"] == "eager" and padded["steps"] == 2 and padded["speedup"] == 1.0
    assert all(r["gemm_gflops_per_s"] > 0 for r in rows)
    assert packed["speedup"] == pytest.approx(padded["seconds_per_step"] / packed["seconds_per_step"])
    for row in rows:
        assert row["seconds_per_step"] > 0 and 0 < row["matmul_share"] < 1 and 0 <= row["padding_share"] < 1
    assert steps.step_batches("sdt", 1, data=data, computation="packed")[0].build().config.pack_utterances
    assert not spec.build().config.pack_utterances     # the padded computation is the default of the table
    with pytest.raises(ValueError, match="no 'packed' computation"):
        steps.step_model_args("mister_e", "packed")
    assert "steps" in tables({**{k: [] for k in JSON_KEYS}, "steps": rows})
    with pytest.raises(ValueError, match="unknown way"):
        steps.time_steps(spec, batches, "jit")
    with pytest.raises(ValueError, match="warm-up"):
        steps.time_steps(spec, batches[:1], "eager")
    with pytest.raises(ValueError, match="unknown"):
        steps.step_comparison(models=("bigru",), data=data)
