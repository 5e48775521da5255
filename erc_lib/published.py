"""The one table of PUBLISHED numbers (never produced by this project's runs), the references
they come from, and the one display name of every paper and model.

Every row cites where the number is printed by a citation key (``[SDT]``, ``[SEED000]``, ...);
:data:`REFERENCES` gives each key's full reference (and the seed file it comes from, where it
comes from a seed); :func:`display_name` is the one name of a paper or model used in every
table. Notebooks show these numbers beside their own measurements, always labelled "published".
Metrics in percent; ``None`` = not reported.
"""
from __future__ import annotations

import re

import pandas as pd

#: Citation key -> full reference. ``seed``: the file under ``shared/seeds/`` (or ``shared/docs/``)
#: the project read it from.
REFERENCES: dict[str, dict[str, str]] = {
    "SDT": {"authors": "Hui Ma, Jian Wang, Hongfei Lin, Bo Zhang, Yijia Zhang, Bo Xu",
            "title": "A Transformer-Based Model With Self-Distillation for Multimodal Emotion Recognition in "
                     "Conversations", "venue": "IEEE Transactions on Multimedia", "year": "2023",
            "seed": "numbers as quoted in shared/seeds/000 (Tables 7-8) and shared/docs/reference-implementations.md"},
    "SEED000": {"authors": "Riccardo Berni, Michela Faella, Jessica Ferrari, Alessandro Guerriero, Margherita Merialdo",
                "title": "Emotion recognition in conversation using SDT (a reimplementation of SDT on IEMOCAP "
                         "text + audio, with LLM-written speaker descriptions)",
                "venue": "student project report, University of Pisa", "year": "undated",
                "seed": "shared/seeds/000_9a758a8f88a48f8d.txt"},
    "EMONET": {"authors": "Biju Puthan Veetil",
               "title": "EmoNet: A Transformer Based Network for Conversational Emotion Recognition",
               "venue": "Master's thesis, Liverpool John Moores University (DOI 10.5281/zenodo.20048006)",
               "year": "2024", "seed": "shared/docs/emonet-thesis.txt"},
    "SEED002": {"authors": "Biju Puthan Veetil",
                "title": "EmoNet, two years on: a summary of the EmoNet thesis and of the field since",
                "venue": "blog article", "year": "undated", "seed": "shared/seeds/002_6635e5418e992896.txt"},
    "COMPM": {"authors": "Joosung Lee, Wooin Lee",
              "title": "CoMPM: Context Modeling with Speaker's Pre-trained Memory Tracking for Emotion Recognition "
                       "in Conversation", "venue": "NAACL", "year": "2022",
              "seed": "numbers as quoted in shared/docs/reference-implementations.md"},
    "MISTERE": {"authors": "Soumya Dutta, Smruthi Balaji, Sriram Ganapathy",
                "title": "A Mixture-of-Experts Model for Multimodal Emotion Recognition in Conversations (MiSTER-E)",
                "venue": "preprint", "year": "2025", "seed": "shared/seeds/003_e7ccfd8efe21e7fd.txt"},
}

#: The one display name of every paper (citation key) and model (:data:`erc_lib.zoo.MODELS` name),
#: used in every table of the report; unknown names are shown as they are.
DISPLAY_NAMES: dict[str, str] = {
    "SDT": "SDT", "SEED000": "Berni et al.", "EMONET": "EmoNet", "SEED002": "EmoNet (summary)",
    "COMPM": "CoMPM", "MISTERE": "MiSTER-E",
    "sdt": "SDT", "mister_e": "MiSTER-E", "compm": "CoMPM", "compm_finetune": "CoMPM", "emonet": "EmoNet",
    "logreg": "logistic regression", "bigru": "BiGRU",
}
_ALIASES = {"emonet": "EmoNet", "mister-e": "MiSTER-E", "mistere": "MiSTER-E", "compm": "CoMPM", "sdt": "SDT",
            "sdt + bios (seed 000)": "Berni et al.", "seed000": "Berni et al.",
            "berni et al. (sdt reimplementation)": "Berni et al."}


def display_name(name) -> str:
    """The one display name of a paper (citation key or any spelling of it: ``"EMONET"``,
    ``"EmoNet"``) or a model (``"mister_e"``); other names unchanged, ``None`` -> ``"–"``."""
    if name is None or (isinstance(name, float) and name != name):
        return "–"
    text = str(name)
    return DISPLAY_NAMES.get(text) or _ALIASES.get(text.strip().lower(), text)


def citation_keys(text: str) -> list[str]:
    """The :data:`REFERENCES` keys cited in ``text`` (``[KEY]``, ``[KEY Table 2]``), in order of
    first use; "seed paper NNN" / "seed NNN" count as the key of that seed."""
    found = [m.group(1) for m in re.finditer(r"\[([A-Z][A-Z0-9]+)\b", text)]
    found += [f"SEED{m.group(1)}" if f"SEED{m.group(1)}" in REFERENCES else _SEED_KEYS.get(m.group(1), "")
              for m in re.finditer(r"\bseed (?:paper |report )?(\d{3})\b", text)]
    return list(dict.fromkeys(k for k in found if k in REFERENCES))


_SEED_KEYS = {"003": "MISTERE"}  # seeds whose reference has its own key


def references_markdown(keys: list[str] | None = None) -> str:
    """A Markdown list of the publications behind ``keys`` (default: all), one per line, under the
    name the report cites them by (:func:`cited`): **name** authors, *title*, venue, year."""
    keys = list(REFERENCES) if keys is None else keys
    return "\n".join(f"- **{display_name(k)}**: {r['authors']}. *{r['title']}*. {r['venue']}, {r['year']}."
                      for k in keys for r in [REFERENCES[k]])


_KEY = None


def cited(text: str) -> str:
    """``text`` with every citation key of :data:`REFERENCES` written as its one display name
    (:data:`DISPLAY_NAMES`): ``[SEED000 Table 10]`` -> ``[Berni et al. Table 10]``, ``as quoted in
    SEED000`` -> ``as quoted in Berni et al.``; "the seed report" / "seed paper 000" likewise. Other
    text is unchanged (``[CLS]`` is no key)."""
    global _KEY
    if _KEY is None:
        keys = "|".join(sorted(map(re.escape, REFERENCES), key=len, reverse=True))
        _KEY = re.compile(rf"(?<![A-Za-z0-9_])({keys})(?![A-Za-z0-9_])")
    text = re.sub(r"\b[Tt]he seed report's\b", f"{DISPLAY_NAMES['SEED000']}'s", text)
    text = re.sub(r"\b[Tt]he seed report\b", DISPLAY_NAMES["SEED000"], text)
    text = re.sub(r"\bseed (?:paper |report )?000\b", DISPLAY_NAMES["SEED000"], text)
    text = _KEY.sub(lambda m: DISPLAY_NAMES.get(m.group(1), m.group(1)), text)
    for name in {DISPLAY_NAMES[k] for k in REFERENCES}:  # "Berni et al. [Berni et al.]" -> "Berni et al."
        n = re.escape(name)
        text = re.sub(rf"({n}) \[{n}\]", r"\1", text)
        text = re.sub(rf"({n}) \(\[{n}\], ", r"\1 (", text)
    return text.replace("et al..", "et al.")


# (source, paper model, dataset, variant, accuracy, weighted_f1, note)
PUBLISHED: list[tuple] = [
    # --- SDT, original paper (IEMOCAP uses text+audio+visual unless noted)
    ("SDT", "SDT", "iemocap", "text+audio+visual", 73.95, 74.08, "max test wF1 over epochs, no dev split"),
    ("SDT", "SDT", "meld", "text+audio+visual", 67.55, 66.60, "max test wF1 over epochs, no dev split"),
    ("SDT", "SDT", "iemocap", "text+audio", 72.52, 72.75, "modality ablation, as quoted in [SEED000] Table 7"),
    ("SDT", "SDT", "iemocap", "text", 66.42, 66.58, "modality ablation, as quoted in [SEED000] Table 7"),
    ("SDT", "SDT", "iemocap", "audio", 59.77, 59.34, "modality ablation, as quoted in [SEED000] Table 7"),
    ("SDT", "SDT", "iemocap", "w/o self-distillation", 70.73, 71.10, "as quoted in [SEED000] Table 7"),
    # --- the seed report's own reimplementation (text + audio, EmoBERTa + eGeMAPS)
    ("SEED000", "SDT", "iemocap", "text+audio", 58.94, 45.26, "Table 7"),
    ("SEED000", "SDT", "iemocap", "text", 59.80, 43.88, "Table 7"),
    ("SEED000", "SDT", "iemocap", "audio", 58.25, 42.93, "Table 7"),
    ("SEED000", "SDT", "iemocap", "w/o self-distillation", 56.36, 41.39, "Table 7"),
    ("SEED000", "SDT", "iemocap", "text (w/ cross-modal SD)", 56.31, 41.20, "Table 9"),
    ("SEED000", "SDT", "iemocap", "audio (w/ cross-modal SD)", 60.00, 47.56, "Table 9"),
    ("SEED000", "SDT", "iemocap", "SDT + bios", 59.26, 45.96, "Table 10"),
    # --- CoMPM and EmoNet on EmoryNLP
    ("COMPM", "CoMPM", "iemocap", "CoMPM", None, 66.33, "paper, mean of 3 seeds"),
    ("COMPM", "CoMPM", "meld", "CoMPM", None, 66.52, "paper, mean of 3 seeds"),
    ("COMPM", "CoMPM", "emorynlp", "CoMPM", None, 37.37, "paper, mean of 3 seeds"),
    ("EMONET", "EmoNet", "emorynlp", "CoMPM", 39.38, 37.85, "thesis ablation row 1 (CoMPM re-run)"),
    ("EMONET", "EmoNet", "emorynlp", "+ global speaker ID", 35.51, 29.43, "thesis ablation row 2"),
    ("EMONET", "EmoNet", "emorynlp", "+ speaker behaviour", 39.90, 36.96, "thesis ablation row 3"),
    ("EMONET", "EmoNet", "emorynlp", "+ unnormalised weighted CE", 40.43, 37.13, "thesis ablation row 4"),
    ("EMONET", "EmoNet", "emorynlp", "+ normalised weighted CE", 41.18, 39.18, "thesis ablation row 5 (EmoNet)"),
    # --- MiSTER-E
    ("MISTERE", "MiSTER-E", "iemocap", "MiSTER-E (LLaMA + SALMONN)", None, 70.9, "Table 2"),
    ("MISTERE", "MiSTER-E", "meld", "MiSTER-E (LLaMA + SALMONN)", None, 69.5, "Table 2"),
    ("MISTERE", "MiSTER-E", "mosi", "MiSTER-E (LLaMA + SALMONN)", None, 87.9, "Table 2"),
    ("MISTERE", "MiSTER-E", "iemocap", "monolithic (no experts)", None, 67.8, "Sec. 4.5"),
    ("MISTERE", "MiSTER-E", "meld", "monolithic (no experts)", None, 67.9, "Sec. 4.5"),
    ("MISTERE", "MiSTER-E", "iemocap", "w/o LLM/SLLM (RoBERTa + OpenSMILE)", None, 69.5, "Table 3"),
    ("MISTERE", "MiSTER-E", "meld", "w/o LLM/SLLM (RoBERTa + OpenSMILE)", None, 66.4, "Table 3"),
    ("MISTERE", "MiSTER-E", "iemocap", "w/o LLM/SLLM (RoBERTa + wav2vec)", None, 71.1, "Table 3"),
    ("MISTERE", "MiSTER-E", "meld", "w/o LLM/SLLM (RoBERTa + wav2vec)", None, 68.4, "Table 3"),
]

# Published per-class F1 (percent).
PUBLISHED_PER_CLASS: dict[tuple[str, str, str], dict[str, float]] = {
    ("EMONET", "emorynlp", "+ normalised weighted CE"): {
        "Joyful": 53.5, "Mad": 38.5, "Neutral": 50.3, "Peaceful": 22.8, "Powerful": 9.0, "Sad": 28.6, "Scared": 40.3},
}


# Our row closest to a published one: (source, dataset, published variant) -> (our results file,
# our dataset, our variant[, {column: value} the rows must also match]). Read with GAP_REASONS.
COUNTERPARTS: dict[tuple[str, str, str], tuple] = {
    ("SDT", "iemocap", "text+audio+visual"): ("03_sdt_iemocap", "iemocap", "text"),
    ("SDT", "iemocap", "text"): ("03_sdt_iemocap", "iemocap", "text"),
    ("SDT", "iemocap", "w/o self-distillation"): ("03_sdt_iemocap", "iemocap", "text w/o self-distillation"),
    ("SDT", "meld", "text+audio+visual"): ("03_sdt_meld", "meld", "text"),
    ("SEED000", "iemocap", "text+audio"): ("04_sdt_bios_iemocap", "iemocap", "SDT"),
    ("SEED000", "iemocap", "SDT + bios"): ("04_sdt_bios_iemocap", "iemocap", "SDT + bios"),
    ("COMPM", "emorynlp", "CoMPM"): ("05_emonet_emorynlp", "emorynlp", "CoMPM", {"experiment": "ablation"}),
    ("COMPM", "meld", "CoMPM"): ("05_emonet_emorynlp", "meld", "CoMPM", {"experiment": "meld"}),
    **{("EMONET", "emorynlp", v): ("05_emonet_emorynlp", "emorynlp", v, {"experiment": "ablation"}) for v in (
        "CoMPM", "+ global speaker ID", "+ speaker behaviour", "+ unnormalised weighted CE", "+ normalised weighted CE")},
    ("MISTERE", "mosi", "MiSTER-E (LLaMA + SALMONN)"): ("06_mister_e_mosi", "mosi", "MiSTER-E"),
}

# Why our number differs from the published one, per source (inputs, encoder, protocol).
GAP_REASONS: dict[str, str] = {
    "SDT": "inputs: MiniLM text only (384-d, frozen) vs RoBERTa-large text + openSMILE audio + DenseFace visual; "
           "protocol: dev-selected, 5 seeds vs the best test epoch of one run; sizes: d_model 128 vs 1024",
    "SEED000": "inputs: MiniLM text only vs EmoBERTa text + eGeMAPS audio; bios from SmolLM2-135M vs ChatGPT-4, "
               "encoded by MiniLM vs RoBERTa",
    "COMPM": "encoder: frozen MiniLM sentence vectors and a small causal transformer vs fine-tuned RoBERTa-large",
    "EMONET": "encoder: frozen MiniLM vs two fine-tuned RoBERTa-large; 5 seeds vs one run per row",
    "MISTERE": "inputs: bc-LSTM 73-d openSMILE audio + 100-d CNN text vs LoRA-tuned LLaMA-3.1-8B / SALMONN-7B "
               "embeddings; split: bc-LSTM 62/31 videos vs 49/13/31; protocol: dev-selected vs test-selected",
}


def published_table(model: str | None = None, dataset: str | None = None, source: str | None = None) -> pd.DataFrame:
    """The published rows as a DataFrame (columns ``paper`` (display name), ``source`` (citation
    key of :data:`REFERENCES`), ``model, dataset, variant, accuracy, weighted_f1, note``),
    optionally filtered; every row is labelled published."""
    df = pd.DataFrame(PUBLISHED, columns=["source", "model", "dataset", "variant", "accuracy", "weighted_f1", "note"])
    df.insert(0, "paper", df["source"].map(display_name))  # the one name; ``source`` is the citation key
    for col, value in (("model", model), ("dataset", dataset), ("source", source)):
        if value is not None:
            df = df[df[col] == value]
    return df.assign(kind="published").reset_index(drop=True)
