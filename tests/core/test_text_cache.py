"""Prompt features are cached across pipeline calls, and never served stale."""

from __future__ import annotations

import numpy as np
import torch

from genseg.plugins.testing import build_tiny_pipeline


def _counting(pipe):
    calls = []
    encode = pipe.encode_text

    def counted(prompts):
        calls.append(list(prompts))
        return encode(prompts)

    pipe.encode_text = counted
    return calls


def test_same_prompts_are_encoded_once_and_give_the_same_masks():
    pipe = build_tiny_pipeline("dit")
    calls = _counting(pipe)
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    a = pipe(image, ["thing", "stuff"], generator=torch.Generator().manual_seed(0)).probabilities
    b = pipe(image, ["thing", "stuff"], generator=torch.Generator().manual_seed(0)).probabilities
    np.testing.assert_array_equal(a, b)
    assert calls == [["thing", "stuff"]]
    pipe(image, ["stuff"])  # other prompts: encoded
    assert len(calls) == 2


def test_changing_the_text_encoder_weights_in_place_invalidates_the_cache():
    pipe = build_tiny_pipeline("dit")
    calls = _counting(pipe)
    first = pipe.cached_text(["thing"]).tokens.clone()
    with torch.no_grad():
        next(pipe.text_encoder.parameters()).mul_(1.5)  # e.g. an optimizer step or a fused adapter
    second = pipe.cached_text(["thing"]).tokens
    assert len(calls) == 2
    assert not torch.equal(first, second)
