"""Caption features that may include the empty prompt.

Classifier-free guidance needs an unconditional text: as in SD3 and PixArt it is the
empty prompt, which is also what dropped captions become in training. The segmentation
path rejects empty prompts on purpose (`validate_prompts`), so generation encodes through
`encode_texts`, the same tokenisation and pooling without that check.
"""

from __future__ import annotations

import torch

from genseg.models.text_encoder import PromptCache, TextFeatures, encode_texts

EMPTY = ""


@torch.no_grad()
def encode_empty(model, tokenizer, max_length: int) -> TextFeatures:
    """Features of the empty prompt (special tokens only), pooled as encode_prompts pools."""
    return encode_texts(model, tokenizer, [EMPTY], max_length)


class CaptionCache(PromptCache):
    """Encodes each distinct caption once (the text encoder is frozen); "" is allowed."""

    def __init__(self, model, tokenizer, max_length: int) -> None:
        super().__init__(model, tokenizer, max_length, allow_empty=True)
