"""The benchmark's model list and sizes (erc_lib/bench/sizes.py): every benchmark model is a model of the one table,
and the papers' sizes come from it as the papers give them."""
from __future__ import annotations

from erc_lib import zoo
from erc_lib.bench.sizes import MODELS, ZOO_MODEL, paper_size


def test_every_benchmark_model_is_a_model_of_the_one_table():
    """The benchmark names no model of its own but ``sdt_bios`` (SDT with random descriptions): each
    of its models reads its builder, settings and rules from :data:`erc_lib.zoo.MODELS`, and every
    model of the table but EmoNet (CoMPM's network with other settings) is benchmarked."""
    assert set(MODELS) == set(ZOO_MODEL) and len(MODELS) == len(set(MODELS))
    assert set(ZOO_MODEL.values()) == set(zoo.MODELS) - {"emonet"}
    assert ZOO_MODEL["sdt_bios"] == "sdt" and all(ZOO_MODEL[m] == m for m in MODELS if m != "sdt_bios")


def test_the_papers_sizes_come_from_the_model_table_as_the_papers_give_them():
    """By hand from the papers: SDT d_model 1024, 8 heads, d_ff 1024, batch 16 (Ma et al. 2023, IEMOCAP);
    MiSTER-E CAN 1024 (BiGRU 2 x 512), 3 GRU layers, batch 16; the BiGRU baseline 512 per direction;
    CoMPM's context model as wide as its encoder (384 for MiniLM features) and the memory's GRU as
    wide; no size for logistic regression or the fine-tuned CoMPM (its encoder fixes the width)."""
    class Features:  # only the text width is read
        def feature_dims(self):
            return {"text": 384}

    data = Features()
    assert paper_size("sdt", data) == paper_size("sdt_bios", data) == ({"d_model": 1024, "n_heads": 8, "d_ff": 1024}, {"batch_size": 16})
    assert paper_size("mister_e", data) == ({"can_hidden": 1024, "gru_layers": 3}, {"batch_size": 16})
    assert paper_size("bigru", data) == ({"hidden": 512}, {})
    assert paper_size("compm", data) == ({"d_model": 384, "pm_hidden": None}, {})
    assert paper_size("logreg", data) == paper_size("compm_finetune", data) == ({}, {})
    size, _ = paper_size("sdt", data)
    size["d_model"] = 1                      # a caller's edit never reaches the table
    assert paper_size("sdt", data)[0]["d_model"] == 1024
