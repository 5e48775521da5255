"""Utterance and speaker features: text embeddings from sentence encoders (:mod:`.text`),
LoRA-tuned text encoders (:mod:`.lora`), openSMILE acoustic functionals (:mod:`.audio`) and
LLM-written speaker descriptions (:mod:`.bios`). Import the submodules directly; heavy
libraries (peft, opensmile, transformers) load only when their module is used."""
