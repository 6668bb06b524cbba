"""Caption features that may include the empty prompt.

Classifier-free guidance needs an unconditional text: as in SD3 and PixArt it is the
empty prompt, which is also what dropped captions become in training. The segmentation
path rejects empty prompts on purpose (`validate_prompts`), so generation encodes "" here,
with the same tokenisation and pooling as `genseg.models.text_encoder.encode_prompts`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genseg.models.text_encoder import TextFeatures, encode_prompts

EMPTY = ""


@torch.no_grad()
def encode_empty(model, tokenizer, max_length: int) -> TextFeatures:
    """Features of the empty prompt (special tokens only), pooled as encode_prompts pools."""
    device = next(model.parameters()).device
    enc = tokenizer(
        [EMPTY], padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
    )
    enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    out = model(**enc)
    tokens, mask = out.last_hidden_state, enc["attention_mask"]
    if (
        getattr(model.config, "model_type", "") == "clip_text_model"
        and getattr(out, "pooler_output", None) is not None
    ):
        pooled = out.pooler_output
    else:
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        pooled = F.normalize((tokens * weights).sum(1) / weights.sum(1).clamp(min=1), dim=-1)
    return TextFeatures(tokens.float(), mask.long(), pooled.float())


class CaptionCache:
    """Encodes each distinct caption once (the text encoder is frozen); "" is allowed."""

    def __init__(self, model, tokenizer, max_length: int) -> None:
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self._cache: dict[str, TextFeatures] = {}

    def __call__(self, captions: list[str]) -> TextFeatures:
        missing = sorted({c for c in captions if c not in self._cache})
        if EMPTY in missing:
            self._cache[EMPTY] = encode_empty(self.model, self.tokenizer, self.max_length)
            missing.remove(EMPTY)
        if missing:
            feats = encode_prompts(self.model, self.tokenizer, missing, self.max_length)
            for i, c in enumerate(missing):
                self._cache[c] = TextFeatures(
                    feats.tokens[i : i + 1], feats.mask[i : i + 1], feats.pooled[i : i + 1]
                )
        return TextFeatures.stack([self._cache[c] for c in captions])
