"""Record image-to-text joint attention inside SD3-style (MM-DiT) blocks.

diffusers' `JointAttnProcessor2_0` hands the concatenated [image; text] sequence to
`scaled_dot_product_attention`, which never materialises the attention matrix. The
recording processor below computes the same attention explicitly (softmax over the whole
joint sequence, as the block does), so the block's output is unchanged, and keeps only what
Seg4Diff reads: the rows of the image queries and the columns of the text keys, averaged
over heads (B × N_image × L_text). Gradients flow through it, so LoRA can be trained on the
recorded maps (`genseg.probe.finetune`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.models.attention_processor import Attention


class JointAttentionRecorder:
    """A diffusers attention processor for joint (image + text) attention that records
    the head-averaged image→text attention probabilities in `self.maps`."""

    def __init__(self, keep_grad: bool = False) -> None:
        self.keep_grad = keep_grad
        self.maps: torch.Tensor | None = None  # B × N_image × L_text

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *args,
        **kwargs,
    ):
        batch = hidden_states.shape[0]
        n_image = hidden_states.shape[1]

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        query = heads(attn.to_q(hidden_states))
        key = heads(attn.to_k(hidden_states))
        value = heads(attn.to_v(hidden_states))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if encoder_hidden_states is not None:
            c_query = heads(attn.add_q_proj(encoder_hidden_states))
            c_key = heads(attn.add_k_proj(encoder_hidden_states))
            c_value = heads(attn.add_v_proj(encoder_hidden_states))
            if attn.norm_added_q is not None:
                c_query = attn.norm_added_q(c_query)
            if attn.norm_added_k is not None:
                c_key = attn.norm_added_k(c_key)
            query = torch.cat([query, c_query], dim=2)
            key = torch.cat([key, c_key], dim=2)
            value = torch.cat([value, c_value], dim=2)

        scale = query.shape[-1] ** -0.5
        probs = torch.softmax((query.float() @ key.float().transpose(-1, -2)) * scale, dim=-1)
        if encoder_hidden_states is not None:
            image_to_text = probs[:, :, :n_image, n_image:].mean(1)
            self.maps = image_to_text if self.keep_grad else image_to_text.detach()
        out = (probs.to(value.dtype) @ value).transpose(1, 2).reshape(batch, -1, attn.heads * value.shape[-1])

        if encoder_hidden_states is not None:
            out, context = out[:, :n_image], out[:, n_image:]
            if not attn.context_pre_only:
                context = attn.to_add_out(context)
        out = attn.to_out[1](attn.to_out[0](out))
        if encoder_hidden_states is not None:
            return out, context
        return out


def joint_blocks(denoiser) -> list:
    """The MM-DiT's transformer blocks, in order (block i is `--layer i`)."""
    return list(denoiser.transformer_blocks)


@contextmanager
def recording(
    denoiser, layers: list[int], keep_grad: bool = False
) -> Iterator[dict[int, JointAttentionRecorder]]:
    """Swap recorders into the given blocks for the duration of the block, then put the
    original processors back (so a pipeline used afterwards runs at full speed)."""
    blocks = joint_blocks(denoiser)
    saved = {i: blocks[i].attn.processor for i in layers}
    recorders = {i: JointAttentionRecorder(keep_grad) for i in layers}
    try:
        for i, rec in recorders.items():
            blocks[i].attn.set_processor(rec)
        yield recorders
    finally:
        for i, proc in saved.items():
            blocks[i].attn.set_processor(proc)
