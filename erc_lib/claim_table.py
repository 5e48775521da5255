"""The published claims this study tests (:data:`CLAIMS`): each a comparison of two rows of a notebook's
experiment, its claimed direction and the published A - B with the dataset and setting it was
measured in.

A published size counts only on the dataset it was published on (``iemocap-sdt`` and
``iemocap`` are both IEMOCAP) *and* in the setting it was published in: the same modalities and
the same label scheme (:data:`MEASURED_SETTINGS`, :attr:`Claim.published_settings`). SDT's +2.98 for
self-distillation is a text + audio + visual figure, so it is weighed on the SDT pickles' IEMOCAP
(``iemocap-sdt``), not on the text-only ``iemocap``; elsewhere the row says "other dataset" or
"other setting" and sizes are not compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field


#: The setting each dataset name is measured in here: (modalities, label scheme). A claim whose rows
#: use fewer modalities than the dataset has names them in :attr:`Claim.modalities`.
MEASURED_SETTINGS = {
    "iemocap": ("text", "IEMOCAP 6 classes"), "iemocap-sdt": ("text+audio+visual", "IEMOCAP 6 classes"),
    "meld": ("text", "MELD 7 emotions"), "meld-sdt": ("text+audio+visual", "MELD 7 emotions"),
    "emorynlp": ("text", "EmoryNLP 7 emotions"), "mosi-clean": ("text+audio", "MOSI binary sentiment"),
    "mosi": ("text+audio+visual", "MOSI binary sentiment"),
}


def measured_setting(dataset: str, modalities: str | None = None) -> tuple[str, str]:
    """``(modalities, label scheme)`` a claim is measured in on ``dataset`` (its rows use
    ``modalities`` when given, e.g. MiSTER-E's ``"text+audio"``, else all of the dataset's).

    Raises: KeyError naming the dataset when it has no entry in :data:`MEASURED_SETTINGS`."""
    if dataset not in MEASURED_SETTINGS:
        raise KeyError(f"no measured setting for dataset {dataset!r}; known: {sorted(MEASURED_SETTINGS)}")
    available, labels = MEASURED_SETTINGS[dataset]
    if modalities is None:
        return available, labels
    used = [m for m in modalities.split("+") if m in available.split("+")]
    return "+".join(used), labels


def base_dataset(name: str) -> str:
    """The dataset a name measures (``iemocap-sdt`` -> ``iemocap``, ``mosi-clean`` -> ``mosi``):
    published sizes are compared only within one base dataset."""
    return name.replace("-sdt", "").replace("-clean", "")


@dataclass(frozen=True)
class Claim:
    """One published claim, as a comparison of two rows.

    Attributes:
        id: short identifier.
        paper: the paper making it.
        text: the claim in words.
        notebook: the notebook that measures it.
        a, b: row (variant) names; ``{full}`` is replaced by the notebook's full-model name.
        datasets: where it is measured (the first present one counts, others are reported too).
        sign: the claimed sign of A - B (+1: A better).
        published: the published figure, in words, with its source (:mod:`erc_lib.published`).
        published_differences: the published A - B in weighted F1 points, by base dataset
            (:func:`base_dataset`), e.g. ``{"iemocap": 2.98}``; empty when no figure is published.
        output: which prediction is compared: ``y_pred`` (the model's) or a kept output such as
            ``logits_text`` (a student head).
        published_settings: the setting of each published size, by base dataset:
            ``(modalities, label scheme)`` as in :data:`MEASURED_SETTINGS`; a size is compared only
            where it equals :func:`measured_setting` (a size without a setting is never compared).
        modalities: the modalities the claim's rows use where fewer than the dataset's
            (``"text+audio"`` for MiSTER-E's speech and text experts), else None.
    """

    id: str
    paper: str
    text: str
    notebook: str
    a: str
    b: str
    datasets: tuple[str, ...]
    sign: int = 1
    published: str = ""
    published_differences: dict = field(default_factory=dict)
    output: str = "y_pred"
    published_settings: dict = field(default_factory=dict)
    modalities: str | None = None

    def published_size(self, dataset: str) -> float | None:
        """The published A - B on ``dataset``'s base dataset in the setting measured there, or None
        (none published on that dataset, or published in another setting: :meth:`setting_note`)."""
        base = base_dataset(dataset)
        if base not in self.published_differences or self.setting_note(dataset):
            return None
        return self.published_differences[base]

    def setting_note(self, dataset: str) -> str:
        """Empty when a size published on ``dataset``'s base dataset was measured in the setting we
        measure (or none is published there); else why it is not compared, e.g. ``"published with
        text+audio+visual, 6 classes; here text"``."""
        base = base_dataset(dataset)
        if base not in self.published_differences:
            return ""
        ours = measured_setting(dataset, self.modalities)
        theirs = self.published_settings.get(base)
        if theirs is None:
            return "the published setting is not recorded"
        if tuple(theirs) == ours:
            return ""
        return f"published with {theirs[0]} ({theirs[1]}); measured here with {ours[0]} ({ours[1]})"


CLAIMS: tuple[Claim, ...] = (
    Claim("sdt-sd-fused", "SDT", "Self-distillation improves the fused (teacher) prediction", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs 71.10 w/o self-distillation [SDT, as quoted in SEED000 Table 7]",
          published_differences={"iemocap": 2.98},
          published_settings={"iemocap": ("text+audio+visual", "IEMOCAP 6 classes")}),
    Claim("sdt-sd-students", "SDT", "Self-distillation improves the unimodal (text) student", "03_sdt",
          "{full}", "{full} w/o self-distillation", ("iemocap", "meld", "mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="stated in SDT Sec. 4 (no per-student figure published)", output="logits_text"),
    Claim("sdt-multimodal", "SDT", "The multimodal model beats its best unimodal version", "03_sdt",
          "{full}", "{best_unimodal}", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP t+a+v 74.08 vs text 66.58 [SDT, as quoted in SEED000 Table 7]",
          published_differences={"iemocap": 7.50},
          published_settings={"iemocap": ("text+audio+visual", "IEMOCAP 6 classes")}),
    Claim("sdt-bios", "SDT + bios (seed 000)", "LLM-written speaker descriptions improve SDT", "04_sdt_bios",
          "SDT + bios", "SDT", ("iemocap", "meld", "emorynlp"),
          published="IEMOCAP 45.96 vs 45.26 [SEED000 Table 10]", published_differences={"iemocap": 0.70},
          published_settings={"iemocap": ("text+audio", "IEMOCAP 6 classes with happy+excited merged and an 'other' class")}),
    Claim("emonet-beats-compm", "EmoNet", "EmoNet beats CoMPM", "05_emonet", "{emonet}", "CoMPM",
          ("emorynlp",), published="EmoryNLP 39.18 vs 37.85 [EMONET thesis Table 5-1]",
          published_differences={"emorynlp": 1.33},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    Claim("emonet-global-id", "EmoNet", "Global speaker IDs alone hurt, by about 8 points", "05_emonet",
          "+ global speaker ID", "CoMPM", ("emorynlp",), sign=-1,
          published="EmoryNLP 29.43 vs 37.85 [EMONET thesis Table 5-1]", published_differences={"emorynlp": -8.42},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    Claim("emonet-behaviour", "EmoNet", "The speaker-behaviour window recovers the global-ID loss", "05_emonet",
          "+ speaker behaviour", "+ global speaker ID", ("emorynlp",),
          published="EmoryNLP 36.96 vs 29.43 [EMONET thesis Table 5-1]", published_differences={"emorynlp": 7.53},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    Claim("emonet-weighted-ce", "EmoNet", "Normalised weighted cross-entropy helps", "05_emonet",
          "+ normalised weighted CE", "+ speaker behaviour", ("emorynlp",),
          published="EmoryNLP 39.18 vs 36.96 [EMONET thesis Table 5-1]", published_differences={"emorynlp": 2.22},
          published_settings={"emorynlp": ("text", "EmoryNLP 7 emotions")}),
    *(Claim(f"mister-e-vs-{e}", "MiSTER-E", f"MiSTER-E beats its {e} expert alone", "06_mister_e", "MiSTER-E",
            f"{e} expert alone", ("mosi-clean", "iemocap-sdt", "meld-sdt"), published="Fig. 5b [MISTERE] (bars, no table)",
            modalities="text+audio")
      for e in ("speech", "text", "multimodal")),
    Claim("mister-e-vs-monolithic", "MiSTER-E", "MiSTER-E beats a monolithic model without experts", "06_mister_e",
          "MiSTER-E", "monolithic", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="IEMOCAP 70.9 vs 67.8, MELD 69.5 vs 67.9 [MISTERE Sec. 4.5]",
          published_differences={"iemocap": 3.1, "meld": 1.6}, modalities="text+audio",
          published_settings={"iemocap": ("text+audio", "IEMOCAP 6 classes"), "meld": ("text+audio", "MELD 7 emotions")}),
    Claim("mister-e-aux-losses", "MiSTER-E", "The auxiliary losses (per-expert focal, contrastive, KL) help",
          "06_mister_e", "MiSTER-E", "No-Loss-MoE", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (No-Loss-MoE below MiSTER-E)", modalities="text+audio"),
    Claim("mister-e-logit-gate", "MiSTER-E", "Gating the experts' logits beats gating their features",
          "06_mister_e", "MiSTER-E", "feat-MoE", ("mosi-clean", "iemocap-sdt", "meld-sdt"),
          published="Sec. 4.7 [MISTERE] (feat-MoE below MiSTER-E)", modalities="text+audio"),
)
