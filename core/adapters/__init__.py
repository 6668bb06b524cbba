"""LoRA adapters through PEFT: fine-tune a trained model cheaply, ship it small, mix and switch.

An adapter folder holds `adapter_model.safetensors` and `genseg_adapter.json` (the card:
base model and the hash of its weights, domain, vocabulary, input contract, LoRA shape,
training data and end-of-training scores), and, for other tools, `peft/COMPONENT/` (what
`peft.PeftModel.from_pretrained(pipe.denoiser, FOLDER + "/peft/denoiser")` loads) and a
`README.md` model card. `genseg finetune` writes one; `--adapter` on
`segment` and `evaluate` (or `load_pipeline(..., adapters=[...])`) applies them.

    from genseg.pipeline import load_pipeline
    from genseg.adapters import load_adapter, set_adapters, disable_adapters, fuse_adapters

    pipe = load_pipeline("runs/base", adapters=["runs/mri-lora:0.7", "runs/ct-lora:0.3"])
    set_adapters(pipe, ["mri-lora"])      # switch: no reload
    disable_adapters(pipe)                # the base alone
    fuse_adapters(pipe)                   # merge the active ones into the weights for speed

Names resolve lazily so `import genseg.adapters` stays free of torch and PEFT.
"""

from __future__ import annotations

from genseg.lazy import lazy_exports

_LAZY = {
    "AdapterManifest": "genseg.adapters.card",
    "InputContract": "genseg.adapters.card",
    "read_manifest": "genseg.adapters.card",
    "CARD_FILE": "genseg.adapters.card",
    "WEIGHTS_FILE": "genseg.adapters.card",
    "read_adapter": "genseg.adapters.store",
    "resolve_adapter": "genseg.adapters.store",
    "save_adapter": "genseg.adapters.store",
    "add_peft_folders": "genseg.adapters.store",
    "PEFT_DIR": "genseg.adapters.peft_export",
    "weights_hash": "genseg.adapters.hashing",
    "AdapterWarning": "genseg.adapters.runtime",
    "adapter_state": "genseg.adapters.runtime",
    "active_adapters": "genseg.adapters.runtime",
    "attach_adapters": "genseg.adapters.runtime",
    "base_hash": "genseg.adapters.runtime",
    "disable_adapters": "genseg.adapters.runtime",
    "enable_adapters": "genseg.adapters.runtime",
    "fuse_adapters": "genseg.adapters.runtime",
    "load_adapter": "genseg.adapters.runtime",
    "set_adapters": "genseg.adapters.runtime",
    "unfuse_adapters": "genseg.adapters.runtime",
    "unload_adapter": "genseg.adapters.runtime",
    "unload_adapters": "genseg.adapters.runtime",
    "apply_input_contract": "genseg.adapters.contract",
    "check_dataset_domains": "genseg.adapters.contract",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
