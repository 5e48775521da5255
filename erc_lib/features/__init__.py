"""Utterance features: text embeddings from sentence encoders (:mod:`.text`), LoRA-tuned text
encoders (:mod:`.lora`) and openSMILE acoustic functionals (:mod:`.audio`)."""
from .text import DEFAULT_ENCODER, add_text_features, encode_texts

__all__ = ["DEFAULT_ENCODER", "add_text_features", "encode_texts", "LoRATextConfig", "finetune_text_encoder",
           "add_tuned_text_features", "add_frozen_text_features", "extract_functionals", "load_emodb"]


def __getattr__(name):  # lazy: peft/transformers and opensmile load only when used
    if name in ("LoRATextConfig", "finetune_text_encoder", "add_tuned_text_features", "add_frozen_text_features"):
        from . import lora

        return getattr(lora, name)
    if name in ("extract_functionals", "load_emodb"):
        from . import audio

        return getattr(audio, name)
    raise AttributeError(name)
