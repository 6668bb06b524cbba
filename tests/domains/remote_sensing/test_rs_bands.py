"""Every band of a multispectral scene reaches the network (``model.bands``, genseg.data.bands).

The generated scenes have blue, green, red and NIR: a model trained with ``bands: auto``
reads the RGB composite and the NIR after it, records that layout, and its predictions
depend on the NIR; an RGB dataset trained beside it gets zeros there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genseg.config import TrainConfig
from genseg.data.bands import band_options, resolve_auto_layout
from genseg.data.folder_dataset import PromptedSegmentationDataset
from genseg.data.io import load_image
from genseg.data.schema import load_dataset_spec, resolve_path
from genseg.pipeline import load_pipeline
from genseg.plugins.testing import tiny_model_config
from genseg.training.trainer import train
from genseg_remote_sensing import synthetic

LAYOUT = ["red", "green", "blue", "nir"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return synthetic.make_rs_scenes(tmp_path_factory.mktemp("rsb"), n_train=4, n_val=1, n_test=1, size=32)


def _first_image(root: Path) -> Path:
    return resolve_path(root, load_dataset_spec(root).training[0].image)


def test_the_domain_keeps_the_bands_the_model_asks_for_after_its_composite(scenes):
    path = _first_image(scenes)
    plain = load_image(path, "remote-sensing", {})
    wide = load_image(path, "remote-sensing", band_options(LAYOUT, {}))
    assert plain.array.shape[-1] == 3 and plain.meta["bands"] == ["red", "green", "blue"]
    assert wide.array.shape[-1] == 4 and wide.meta["bands"] == LAYOUT
    np.testing.assert_array_equal(wide.array[..., :3], plain.array)  # the composite is unchanged
    assert 0.0 <= wide.array[..., 3].min() and wide.array[..., 3].max() <= 1.0  # nir, normalised
    assert resolve_auto_layout([scenes]) == LAYOUT


def test_a_model_trained_with_auto_bands_reads_the_nir_and_records_it(scenes, tmp_path):
    cfg = TrainConfig(model=tiny_model_config(), steps=2, batch_size=2, warmup_steps=0, log_every=1)
    assert cfg.model.bands == "auto"
    train(cfg, tmp_path / "run", [scenes], progress=False)
    pipe = load_pipeline(tmp_path / "run")
    assert pipe.band_layout == LAYOUT
    assert pipe.codec.image_latent_channels == 4 * pipe.codec.downsample**2

    data = PromptedSegmentationDataset([scenes], "validation", 32, bands=pipe.band_layout)
    image = data[0]["image"]
    assert image.shape[0] == 4 and image[3].any()

    # the NIR reaches the prediction: the same scene with its NIR zeroed gives other probabilities
    wide = load_image(_first_image(scenes), "remote-sensing", band_options(pipe.band_layout, {})).array
    dark = wide.copy()
    dark[..., 3] = 0
    a = pipe(wide, ["forest"]).probabilities
    b = pipe(dark, ["forest"]).probabilities
    assert not np.allclose(a, b)


def test_segment_lays_out_the_bands_of_a_streamed_scene_as_training_did(scenes, tmp_path):
    import rasterio
    import torch

    from genseg.segment import segment_files

    cfg = TrainConfig(model=tiny_model_config(), steps=1, batch_size=2, warmup_steps=0, log_every=1)
    train(cfg, tmp_path / "run", [scenes], progress=False)
    pipe = load_pipeline(tmp_path / "run")
    path = _first_image(scenes)
    out = tmp_path / "out" / "mask.tif"
    segment_files(pipe, [path], ["forest"], out, domain="remote-sensing", progress=False)
    with rasterio.open(out) as src:
        written, nodata = src.read(1), src.nodata

    wide = load_image(path, "remote-sensing", band_options(pipe.band_layout, {})).array
    expected = pipe(wide, ["forest"], generator=torch.Generator().manual_seed(0)).masks[0, 0]
    counted = written != nodata
    assert counted.any()
    np.testing.assert_array_equal(written[counted], expected[counted].astype(np.uint8))


def test_the_benchmark_predicts_with_every_band_the_model_reads(scenes, tmp_path):
    """Its predictions are those of the laid-out scene (the NIR included), as `genseg evaluate`
    and `genseg segment` give; a 3-band read would hand the model a zero NIR."""
    import torch
    from PIL import Image

    from genseg.evaluation.predictions import QueryItem, image_id, predict_to_disk, read_index
    from genseg.evaluation.runner import split_items

    cfg = TrainConfig(model=tiny_model_config(), steps=1, batch_size=2, warmup_steps=0, log_every=1)
    train(cfg, tmp_path / "run", [scenes], progress=False)
    pipe = load_pipeline(tmp_path / "run")
    assert pipe.band_layout == LAYOUT
    spec = load_dataset_spec(scenes)
    entry = split_items(scenes, "test", "semantic")[0]
    queries = [("forest", [1], "forest", "test")]
    key = image_id(scenes, entry.image)
    item = QueryItem(spec.name, spec.domain, entry.image, entry.label, key, entry.ignore, queries, {})
    predict_to_disk(pipe, [item], tmp_path / "preds", progress=False)
    record = read_index(tmp_path / "preds").records[0]
    written = np.asarray(Image.open(tmp_path / "preds" / record.file).convert("L")) > 127

    wide = load_image(entry.image, "remote-sensing", band_options(pipe.band_layout, {})).array
    probabilities = pipe(wide, ["forest"], generator=torch.Generator().manual_seed(0)).probabilities[0, 0]
    np.testing.assert_array_equal(written, probabilities > 0.5)
    dark = wide.copy()
    dark[..., 3] = 0  # what a 3-band read gave the model
    zero_nir = pipe(dark, ["forest"], generator=torch.Generator().manual_seed(0)).probabilities[0, 0]
    assert not np.allclose(probabilities, zero_nir)
