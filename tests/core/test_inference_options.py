"""`InferenceOptions`: one frozen, validated object for an inference run, the model folder's
defaults when steps and threshold are not given, and older callers' keyword arguments."""

from __future__ import annotations

import json

import numpy as np
import pydantic
import pytest
import torch

from genseg.errors import InputError
from genseg.inference import InferenceOptions, build_inference_options, inference_options
from genseg.pipeline import load_pipeline
from genseg.plugins.testing import build_tiny_pipeline, make_fake_image
from genseg.segment import segment_files


def test_the_options_are_frozen_and_unknown_fields_refused():
    options = InferenceOptions(seed=3)
    with pytest.raises(pydantic.ValidationError):
        options.seed = 4
    with pytest.raises(pydantic.ValidationError):
        InferenceOptions(stepz=2)
    with pytest.raises(TypeError, match="stepz"):
        inference_options(stepz=2)


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"steps": 0}, "--steps must be at least 1"),
        ({"threshold": 1.5}, r"--threshold must be in \[0, 1\]"),
        ({"tile_size": 3}, "--tile-size 3 is too small"),
        ({"tile_size": 16, "overlap": 9}, "more than half the tile"),
        ({"batch_size": 0}, "--batch-size must be at least 1"),
    ],
)
def test_a_value_out_of_range_is_one_input_error_naming_the_flag_and_fix(fields, words):
    with pytest.raises(InputError, match=words) as err:
        build_inference_options(**fields)
    assert err.value.fix


def test_keyword_arguments_apply_over_an_object():
    base = InferenceOptions(seed=3, batch_size=4)
    merged = inference_options(base, steps=2)
    assert (merged.seed, merged.batch_size, merged.steps) == (3, 4, 2)
    assert inference_options(base) is base and base.steps is None


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "tiny"
    build_tiny_pipeline("dit").save_pretrained(path)
    return path


def test_the_model_folder_records_its_defaults_and_calls_without_them_use_them(model, tmp_path):
    index = json.loads((model / "model_index.json").read_text())
    assert (index["default_inference_steps"], index["default_threshold"]) == (1, 0.5)
    index.update(default_inference_steps=2, default_threshold=0.8)
    (model / "model_index.json").write_text(json.dumps(index))
    pipe = load_pipeline(model, device="cpu")
    assert InferenceOptions().for_model(pipe).steps == 2
    image = np.random.default_rng(0).random((24, 20, 3), dtype=np.float32)
    seeded = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    default = pipe(image, "thing", generator=seeded())
    explicit = pipe(image, "thing", num_inference_steps=2, threshold=0.8, generator=seeded())
    np.testing.assert_array_equal(default.probabilities, explicit.probabilities)
    np.testing.assert_array_equal(default.masks, default.probabilities > 0.8)
    # the command's path: no --steps / --threshold means the model's, a given value wins
    src = make_fake_image(tmp_path / "a.png", size=(24, 20))
    (from_model,) = segment_files(pipe, [src], ["thing"], tmp_path / "m.png", progress=False)
    (given,) = segment_files(
        pipe, [src], ["thing"], tmp_path / "g.png", InferenceOptions(steps=2, threshold=0.8), progress=False
    )
    assert (tmp_path / "m.png").read_bytes() == (tmp_path / "g.png").read_bytes()


def test_a_folder_saved_before_the_defaults_loads_with_one_step_and_one_half(model):
    index = json.loads((model / "model_index.json").read_text())
    del index["default_inference_steps"], index["default_threshold"]
    (model / "model_index.json").write_text(json.dumps(index))
    pipe = load_pipeline(model, device="cpu")
    assert (pipe.config.default_inference_steps, pipe.config.default_threshold) == (1, 0.5)
