"""The ablation-row tables of the model modules: SDT's (:func:`erc_lib.studies.sdt.sdt_ablation_variants`),
MiSTER-E's (:data:`erc_lib.studies.mister_e.MISTER_E_ROWS`, :func:`erc_lib.models.mister_e.kept_outputs`)
and EmoNet's (:data:`erc_lib.models.compm.EMONET_ABLATION`). Each row is written out by hand from the
papers, and each row's settings, and the loss terms of the model it builds, differ from the full
model's in exactly the component the row's name says."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from erc_lib.data import DialogueDataset, collate_dialogues
from toy_data import growing_three_modality_data


def _batch(data, modalities):
    ds = DialogueDataset(data.splits["train"], modalities, data.speaker_vocab())
    return collate_dialogues([ds[i] for i in range(len(ds))])


def _differing(a: dict, b: dict) -> set[str]:
    return {k for k in a if a[k] != b[k]}


# ----------------------------------------------------------------------------- SDT
def test_sdt_rows_written_out_by_hand():
    """SDT Table 4 / the seed report's Table 7: every non-empty subset of the modalities (singles,
    pairs, all three), then all three without self-distillation (no KL term, the student CE terms
    stay) and with the fused task loss only (gamma = 1, 0, 0)."""
    from erc_lib.studies.sdt import sdt_ablation_variants

    assert sdt_ablation_variants("tav") == {
        "text": {"modalities": "t"}, "audio": {"modalities": "a"}, "visual": {"modalities": "v"},
        "text+audio": {"modalities": "ta"}, "text+visual": {"modalities": "tv"}, "audio+visual": {"modalities": "av"},
        "text+audio+visual": {"modalities": "tav"},
        "text+audio+visual w/o self-distillation": {"modalities": "tav", "self_distillation": False},
        "text+audio+visual fused loss only": {"modalities": "tav", "self_distillation": False,
                                              "gammas": (1.0, 0.0, 0.0)},
    }
    assert list(sdt_ablation_variants("tav"))[:7] == ["text", "audio", "visual", "text+audio", "text+visual",
                                                      "audio+visual", "text+audio+visual"]
    assert sdt_ablation_variants(["text", "audio"], full_ablation=False) == {
        "text+audio": {"modalities": "ta"},
        "text+audio w/o self-distillation": {"modalities": "ta", "self_distillation": False},
        "text+audio fused loss only": {"modalities": "ta", "self_distillation": False, "gammas": (1.0, 0.0, 0.0)}}
    assert sdt_ablation_variants("t", full_ablation=True) == {
        "text": {"modalities": "t"}, "text w/o self-distillation": {"modalities": "t", "self_distillation": False},
        "text fused loss only": {"modalities": "t", "self_distillation": False, "gammas": (1.0, 0.0, 0.0)}}


def test_each_sdt_row_differs_from_the_full_model_in_its_named_component_only():
    """Built configurations: a modality row differs in the modalities (``input_dims``) only; "w/o
    self-distillation" in ``self_distillation`` only; "fused loss only" in the loss weights only.
    The loss of each, on one batch: full = CE(fused) + sum CE(m) + sum KL(m); w/o self-distillation
    = the same without the KL terms; fused loss only = CE(fused)."""
    from erc_lib.models.sdt import build_sdt
    from erc_lib.studies.sdt import sdt_ablation_variants

    data = growing_three_modality_data()
    rows = sdt_ablation_variants("tav")
    torch.manual_seed(0)
    full = build_sdt(data, **rows["text+audio+visual"], d_model=8, n_heads=2)
    configs = {name: asdict(build_sdt(data, **kw, d_model=8, n_heads=2).config) for name, kw in rows.items()}
    base = asdict(full.config)
    for name in ("text", "audio", "visual", "text+audio", "text+visual", "audio+visual"):
        assert _differing(configs[name], base) == {"input_dims"}
        assert list(configs[name]["input_dims"]) == name.split("+")
    assert _differing(configs["text+audio+visual"], base) == set()
    assert _differing(configs["text+audio+visual w/o self-distillation"], base) == {"self_distillation"}
    assert _differing(configs["text+audio+visual fused loss only"], base) - {"gammas"} == {"self_distillation"}
    assert configs["text+audio+visual fused loss only"]["gammas"] == (1.0, 0.0, 0.0)

    batch = _batch(data, ["text", "audio", "visual"])
    full.eval()
    out = full(batch)
    terms = {}
    for name in ("text+audio+visual", "text+audio+visual w/o self-distillation", "text+audio+visual fused loss only"):
        model = build_sdt(data, **rows[name], d_model=8, n_heads=2)
        model.load_state_dict(full.state_dict())
        terms[name] = {k: float(v.detach()) for k, v in model.loss(out, batch).items()}
    t = terms["text+audio+visual"]
    ce = t["ce_fused"] + sum(t[f"ce_{m}"] for m in ("text", "audio", "visual"))
    kl = sum(t[f"kl_{m}"] for m in ("text", "audio", "visual"))
    assert kl > 0 and t["total"] == pytest.approx(ce + kl, rel=1e-6)
    wo = terms["text+audio+visual w/o self-distillation"]
    assert not any(k.startswith("kl_") for k in wo) and wo["total"] == pytest.approx(ce, rel=1e-6)
    only = terms["text+audio+visual fused loss only"]
    assert not any(k.startswith("kl_") for k in only) and only["total"] == pytest.approx(t["ce_fused"], rel=1e-6)


# ----------------------------------------------------------------------------- MiSTER-E
def test_mister_e_rows_and_kept_outputs_written_out_by_hand():
    """Fig. 5b, Sec. 4.5 and 4.7 of the MiSTER-E paper: row label -> variant; the gated variants keep
    the gate and every expert's logits, the single networks only the gate."""
    from erc_lib.models.mister_e import MISTER_E_VARIANTS, kept_outputs
    from erc_lib.studies.mister_e import MISTER_E_ROWS

    assert MISTER_E_ROWS == {"MiSTER-E": "mister_e", "speech expert alone": "speech", "text expert alone": "text",
                             "multimodal expert alone": "multimodal", "monolithic": "monolithic",
                             "feat-MoE": "feat_moe", "No-Loss-MoE": "no_loss_moe"}
    assert set(MISTER_E_ROWS.values()) == set(MISTER_E_VARIANTS)
    experts = ("gate", "logits_speech", "logits_text", "logits_multimodal")
    assert {v: kept_outputs(v) for v in MISTER_E_VARIANTS} == {
        "mister_e": experts, "feat_moe": experts, "no_loss_moe": experts, "speech": ("gate",), "text": ("gate",),
        "multimodal": ("gate",), "monolithic": ("gate",)}


def test_each_mister_e_row_has_the_loss_terms_its_name_says():
    """The loss terms of each row's model (Eq. 12-18): the full model has the gated focal term, each
    expert's focal term, the contrastive and the KL term; No-Loss-MoE the gated focal term only;
    feat-MoE the same terms as the full model (only the fusion point differs); a single expert its own
    focal term (plus the contrastive term for the multimodal expert); monolithic the fusion network's
    focal and contrastive terms. Settings other than ``variant`` are those of the full model."""
    from erc_lib.models.mister_e import build_mister_e
    from erc_lib.studies.mister_e import MISTER_E_ROWS

    data = growing_three_modality_data()
    batch = _batch(data, ["audio", "text"])
    small = dict(can_hidden=8, fusion_hidden=8, fusion_heads=2, fusion_layers=1, gru_layers=1)
    full = build_mister_e(data, **small)
    expected = {
        "MiSTER-E": {"focal_mix", "focal_speech", "focal_text", "focal_multimodal", "contrastive", "kl"},
        "feat-MoE": {"focal_mix", "focal_speech", "focal_text", "focal_multimodal", "contrastive", "kl"},
        "No-Loss-MoE": {"focal_mix"}, "speech expert alone": {"focal_speech"}, "text expert alone": {"focal_text"},
        "multimodal expert alone": {"focal_multimodal", "contrastive"},
        "monolithic": {"focal_multimodal", "contrastive"}}
    for row, variant in MISTER_E_ROWS.items():
        torch.manual_seed(0)
        model = build_mister_e(data, variant=variant, **small)
        assert _differing(asdict(model.config), asdict(full.config)) == ({"variant"} if variant != "mister_e" else set())
        terms = model.loss(model(batch), batch)
        assert set(terms) - {"total"} == expected[row], row


# ----------------------------------------------------------------------------- EmoNet
def test_emonet_rows_written_out_by_hand_and_cumulative():
    """The thesis's Table 5-1: CoMPM, then global speaker ids, then the speaker-behaviour history over
    the dataset, then weighted CE (unnormalised N / n_c, then normalised min_k n_k / n_c). Each row
    adds exactly the component its name says to the row before (the weighted-CE rows differ in the
    weighting)."""
    from erc_lib.models.compm import EMONET_ABLATION, EmoNetOptions

    assert list(EMONET_ABLATION) == ["CoMPM", "+ global speaker ID", "+ speaker behaviour",
                                     "+ unnormalised weighted CE", "+ normalised weighted CE"]
    assert EMONET_ABLATION["CoMPM"] == EmoNetOptions() == EmoNetOptions(False, "dialogue", None)
    rows = [asdict(o) for o in EMONET_ABLATION.values()]
    named = ["global_speakers", "history_scope", "class_weights", "class_weights"]
    for before, after, field in zip(rows, rows[1:], named):
        assert _differing(after, before) == {field}
    assert rows[-1] == {"global_speakers": True, "history_scope": "dataset", "class_weights": "normalised"}
    assert rows[3]["class_weights"] == "unnormalised"


def test_each_emonet_row_builds_the_model_and_inputs_its_name_says():
    """Built from the row names: speaker tags are per dialogue (max 2 here) until "+ global speaker
    ID" (the 3 dataset-wide speakers); the history reads other dialogues from "+ speaker behaviour"
    on; class weights are None, then N / n_c, then min_k n_k / n_c of the train labels (2, 3, 2 of
    counted by hand below)."""
    from erc_lib.models.compm import EMONET_ABLATION, build_compm, compm_splits

    data = growing_three_modality_data()
    data.splits["train"][1].speakers = ["A", "C", "A", "C"]
    labels = [0, 0, 1] + [0, 1, 2, 0] + [0, 1, 2, 0, 1]  # train dialogues 0, 1, 2: n_c = 6, 4, 2; N = 12
    assert data.train_labels().tolist() == labels
    n = np.array([6.0, 4.0, 2.0])
    expected_weights = {"CoMPM": None, "+ global speaker ID": None, "+ speaker behaviour": None,
                        "+ unnormalised weighted CE": (12 / n).tolist(), "+ normalised weighted CE": (2 / n).tolist()}
    tags = {}
    for row in EMONET_ABLATION:
        model = build_compm(data, row, d_model=8, pm_hidden=8)
        w = model.cfg.class_weights
        assert (w is None) == (expected_weights[row] is None), row
        if w is not None:
            assert np.allclose(w, expected_weights[row]), row
        tags[row] = model.cfg.n_speaker_tags
    assert tags["CoMPM"] == 2 and tags["+ global speaker ID"] == 3 and tags["+ normalised weighted CE"] == 3
    with pytest.raises(ValueError, match=r"unknown EmoNet ablation row '\+ everything'; expected one of \['CoMPM', .*"
                                         r"'\+ normalised weighted CE'\] or an EmoNetOptions"):
        build_compm(data, "+ everything")
