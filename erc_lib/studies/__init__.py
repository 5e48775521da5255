"""Per-notebook analysis helpers: what a notebook computes from trained models beyond the paper's model
(ablation variants, student rows, gate weights, case dialogues, the audio feature study)."""
