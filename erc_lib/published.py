"""The one table of PUBLISHED numbers (never produced by this project's runs).

Every row cites where the number is printed. Notebooks show these beside their own
measurements, always labelled "published". Metrics in percent; ``None`` = not reported.

Sources:
  [SDT]     Ma et al., "A Transformer-based Model with Self-Distillation for Multimodal
            Emotion Recognition in Conversations", IEEE TMM 2023 (numbers as quoted in
            shared/docs/reference-implementations.md and shared/seeds/000, Tables 7-8).
  [SEED000] Berni et al., "Emotion recognition in conversation using SDT" (shared/seeds/000),
            their text+audio reimplementation on IEMOCAP, Tables 7, 9, 10.
  [EMONET]  EmoNet thesis (shared/docs/emonet-thesis.txt; shared/seeds/002), ablation
            table and per-class F1 on EmoryNLP.
  [COMPM]   Lee & Lee, "CoMPM", NAACL 2022 (mean of 3 seeds; as quoted in
            shared/docs/reference-implementations.md).
  [MISTERE] MiSTER-E (shared/seeds/003), Table 2, Table 3, Sec. 4.5.
"""
from __future__ import annotations

import pandas as pd

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
    """The published rows as a DataFrame (columns ``source, model, dataset, variant,
    accuracy, weighted_f1, note``), optionally filtered; every row is labelled published."""
    df = pd.DataFrame(PUBLISHED, columns=["source", "model", "dataset", "variant", "accuracy", "weighted_f1", "note"])
    for col, value in (("model", model), ("dataset", dataset), ("source", source)):
        if value is not None:
            df = df[df[col] == value]
    return df.assign(kind="published").reset_index(drop=True)
