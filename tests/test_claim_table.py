"""The claim table (erc_lib.claim_table): published sizes written out by hand from each claim's
source, compared only on their own dataset and setting, and every claim naming rows its notebook trains."""
from __future__ import annotations

import numpy as np
import pytest

from erc_lib.claim_table import CLAIMS, base_dataset, measured_setting
from erc_lib.models.compm import EMONET_ABLATION
from erc_lib.studies.mister_e import MISTER_E_ROWS


def test_published_sizes_are_compared_only_on_their_own_dataset_and_setting():
    """By hand from the sources: SDT's +2.98 (self-distillation) and +7.50 (multimodal) are text +
    audio + visual IEMOCAP figures, so they are weighed on the SDT pickles' IEMOCAP and not on the
    text-only COSMIC IEMOCAP; SEED000's bios figure is text + audio on another 6-class scheme
    (happy+excited merged, an 'other' class): never weighed here; EmoNet's thesis figures are text on
    EmoryNLP's 7 emotions, as ours; MiSTER-E's monolithic figures are speech + text."""
    by_id = {c.id: c for c in CLAIMS}
    sd = by_id["sdt-sd-fused"]
    assert sd.published_size("iemocap-sdt") == 2.98 and sd.published_size("iemocap") is None
    assert "text+audio+visual" in sd.setting_note("iemocap") and "measured here with text " in sd.setting_note("iemocap")
    assert sd.published_size("meld") is None and sd.published_size("mosi-clean") is None
    assert sd.setting_note("meld") == "" and sd.setting_note("iemocap-sdt") == ""
    assert by_id["sdt-multimodal"].published_size("iemocap-sdt") == 7.50
    bios = by_id["sdt-bios"]
    assert bios.published_size("iemocap") is None and "happy+excited merged" in bios.setting_note("iemocap")
    assert [by_id[i].published_size("emorynlp") for i in ("emonet-beats-compm", "emonet-global-id",
                                                          "emonet-behaviour", "emonet-weighted-ce")] == [1.33, -8.42, 7.53, 2.22]
    mono = by_id["mister-e-vs-monolithic"]
    assert (mono.published_size("iemocap-sdt"), mono.published_size("meld-sdt"), mono.published_size("mosi-clean")) == (3.1, 1.6, None)
    assert measured_setting("iemocap-sdt", "text+audio") == ("text+audio", "IEMOCAP 6 classes")
    assert measured_setting("mosi-clean") == ("text+audio", "MOSI binary sentiment")
    with pytest.raises(KeyError, match="no measured setting for dataset 'dailydialog'"):
        measured_setting("dailydialog")
    assert all("mosi" not in c.datasets for c in CLAIMS), "claims are measured on mosi-clean, never bc-LSTM MOSI"


def test_every_claim_names_rows_its_notebook_trains():
    rows = {"05_emonet": set(EMONET_ABLATION) | {"{emonet}"}, "06_mister_e": set(MISTER_E_ROWS),
            "04_sdt_bios": {"SDT", "SDT + bios"},
            "03_sdt": {"{full}", "{full} w/o self-distillation", "{best_unimodal}"}}
    for c in CLAIMS:
        assert {c.a, c.b} <= rows[c.notebook], c.id
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)


# The published figures, written by hand from each claim's source (A's score, B's score per
# dataset, weighted F1); a stored size must be A - B with the claim's sign.
PUBLISHED_BY_HAND = {
    "sdt-sd-fused": {"iemocap": (74.08, 71.10)},
    "sdt-multimodal": {"iemocap": (74.08, 66.58)},
    "sdt-bios": {"iemocap": (45.96, 45.26)},
    "emonet-beats-compm": {"emorynlp": (39.18, 37.85)},
    "emonet-global-id": {"emorynlp": (29.43, 37.85)},
    "emonet-behaviour": {"emorynlp": (36.96, 29.43)},
    "emonet-weighted-ce": {"emorynlp": (39.18, 36.96)},
    "mister-e-vs-monolithic": {"iemocap": (70.9, 67.8), "meld": (69.5, 67.9)},
}


def test_published_sizes_are_a_minus_b_with_the_claims_sign():
    by_id = {c.id: c for c in CLAIMS}
    for cid, figures in PUBLISHED_BY_HAND.items():
        claim = by_id[cid]
        assert claim.published_differences == pytest.approx({d: a - b for d, (a, b) in figures.items()}, abs=0.005), cid
        for d, (a, b) in figures.items():
            assert np.sign(a - b) == claim.sign, cid
            assert all(f"{x}" in claim.published or f"{x:.2f}" in claim.published for x in (a, b)), cid
    # every other claim publishes no size: sizes are never invented
    assert all(not c.published_differences for c in CLAIMS if c.id not in PUBLISHED_BY_HAND)
    assert {c.id for c in CLAIMS if c.sign == -1} == {"emonet-global-id"}
    student = by_id["sdt-sd-students"]
    assert student.output == "logits_text" and all(c.output == "y_pred" for c in CLAIMS if c is not student)


@pytest.mark.parametrize("name, base", [("iemocap-sdt", "iemocap"), ("meld-sdt", "meld"), ("mosi-clean", "mosi"),
                                         ("iemocap", "iemocap"), ("emorynlp", "emorynlp")])
def test_base_dataset_strips_the_variant_suffix(name, base):
    assert base_dataset(name) == base


def test_a_published_size_without_its_setting_is_never_weighed_and_says_why():
    """A constructed claim with a size on IEMOCAP but no recorded setting: no size is compared there,
    and the note says the setting is not recorded; on a dataset without a published size the note is empty."""
    from erc_lib.claim_table import Claim

    claim = Claim(id="x", paper="P", text="A beats B", notebook="03_sdt", a="A", b="B", datasets=("iemocap", "meld"),
                  published="P: +1.0", published_differences={"iemocap": 1.0})
    assert claim.published_size("iemocap") is None
    assert claim.setting_note("iemocap") == "the published setting is not recorded"
    assert claim.setting_note("meld") == ""
