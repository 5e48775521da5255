"""Utterance features: text embeddings from sentence encoders (:mod:`.text`)."""
from .text import DEFAULT_ENCODER, add_text_features, encode_texts

__all__ = ["DEFAULT_ENCODER", "add_text_features", "encode_texts"]
