"""The tiler: coverage, blending, streaming order, nodata, and equality with a whole-image run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genseg.tiling import (
    ArraySink,
    ArraySource,
    TileGrid,
    blend_weights,
    labels_from_probabilities,
    segment_raster,
)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_the_grid_covers_every_pixel_and_ends_at_the_edges():
    grid = TileGrid(height=300, width=257, tile=64, overlap=16)
    seen = np.zeros((300, 257), int)
    for r in grid.rows:
        for c in grid.cols:
            seen[r : r + 64, c : c + 64] += 1
    assert seen.min() >= 1
    assert grid.rows[-1] == 300 - 64 and grid.cols[-1] == 257 - 64
    assert all(b - a <= 48 for a, b in zip(grid.rows, grid.rows[1:], strict=False))
    small = TileGrid(height=20, width=30, tile=64, overlap=16)
    assert (small.rows, small.cols, small.tile_height, small.tile_width) == ([0], [0], 20, 30)


def test_bad_tile_settings_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        TileGrid(100, 100, tile=32, overlap=20)
    with pytest.raises(ValueError, match="at least 8"):
        TileGrid(100, 100, tile=4, overlap=0)


def test_blend_weights_are_one_inside_and_fall_smoothly_to_the_floor_at_the_edges():
    w = blend_weights(32, 32, overlap=8)
    assert w[16, 16] == 1.0 and w[8:24, 8:24].min() == 1.0
    assert 0 < w[0, 0] < 1e-2 and np.allclose(w, w[::-1, ::-1])
    assert np.all(np.diff(w[16, :9]) > 0)  # rising across the overlap


def test_labels_from_probabilities_pick_the_most_probable_prompt_above_threshold():
    probs = np.array([[[0.9, 0.2, 0.6]], [[0.7, 0.1, 0.8]]], np.float32)  # P=2, 1×3
    assert labels_from_probabilities(probs, 0.5).tolist() == [[1, 0, 2]]
    assert labels_from_probabilities(probs[:1], 0.5, on_value=255).tolist() == [[255, 0, 255]]


def _pixelwise(tiles, first):
    """A model with no spatial context: the tiled result must equal it everywhere."""
    return np.stack([np.stack([t[..., 0], t[..., 1] * t[..., 2]]) for t in tiles])


class _RowLog:
    def __init__(self):
        self.rows = []

    def write_rows(self, row, labels, probabilities):
        self.rows.append((row, labels.shape[0]))


def test_a_model_without_context_gives_the_same_result_tiled_as_whole():
    image = _image(150, 190)
    sink = ArraySink(150, 190, 2)
    report = segment_raster(_pixelwise, ArraySource(image), sink, 2, tile=48, overlap=12, progress=False)
    whole = _pixelwise([image], 0)[0]
    np.testing.assert_allclose(sink.probabilities, whole, atol=1e-6)
    assert report.tiles == report.predicted == len(TileGrid(150, 190, 48, 12))


def test_rows_reach_the_sink_in_order_once_each():
    log = _RowLog()
    segment_raster(_pixelwise, ArraySource(_image(150, 60)), log, 2, tile=48, overlap=12, progress=False)
    assert log.rows[0][0] == 0
    for (row, n), (nxt, _) in zip(log.rows, log.rows[1:], strict=False):
        assert nxt == row + n
    assert sum(n for _, n in log.rows) == 150


class _ConvModel:
    """A translation-equivariant model with a 5×5 receptive field (radius 2)."""

    radius = 2

    def __init__(self):
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 2, 3, padding=1)
        )

    @torch.no_grad()
    def __call__(self, tiles, first):
        x = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2)
        return torch.sigmoid(self.net(x)).numpy()


def _seam_mask(grid: TileGrid, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of an edge of a tile that covers them, where that edge is
    inside the raster (there a tile's view differs from the whole image's)."""
    seam = np.zeros((grid.height, grid.width), bool)
    for r in grid.rows:
        for c in grid.cols:
            edges = [
                (r > 0, (slice(r, r + radius), slice(c, c + grid.tile))),
                (
                    r + grid.tile < grid.height,
                    (slice(r + grid.tile - radius, r + grid.tile), slice(c, c + grid.tile)),
                ),
                (c > 0, (slice(r, r + grid.tile), slice(c, c + radius))),
                (
                    c + grid.tile < grid.width,
                    (slice(r, r + grid.tile), slice(c + grid.tile - radius, c + grid.tile)),
                ),
            ]
            for inside, window in edges:
                if inside:
                    seam[window] = True
    return seam


def test_a_convolutional_model_gives_the_whole_image_result_away_from_tile_seams():
    model = _ConvModel()
    image = _image(160, 200, seed=3)
    sink = ArraySink(160, 200, 2)
    segment_raster(model, ArraySource(image), sink, 2, tile=64, overlap=16, batch_size=3, progress=False)
    whole = model([image], 0)[0]
    away = ~_seam_mask(TileGrid(160, 200, 64, 16), model.radius)
    assert away.mean() > 0.8
    np.testing.assert_allclose(sink.probabilities[:, away], whole[:, away], atol=1e-5)
    # near the seams the blend still stays close: the smooth weights hide the tile edges
    assert np.abs(sink.probabilities - whole).max() < 0.2


def test_nodata_tiles_are_skipped_and_nodata_pixels_come_out_as_nodata():
    image = _image(96, 96)
    valid = np.ones((96, 96), bool)
    valid[:48, :48] = False  # exactly the first tile
    valid[60, 70] = False
    calls = []

    def predict(tiles, first):
        calls.append(len(tiles))
        return _pixelwise(tiles, first)

    sink = ArraySink(96, 96, 2)
    report = segment_raster(
        predict, ArraySource(image, valid), sink, 2, tile=48, overlap=0, nodata=255, progress=False
    )
    assert report.skipped_nodata == 1 and report.predicted == 3 and sum(calls) == 3
    assert (sink.labels[:48, :48] == 255).all() and sink.labels[60, 70] == 255
    assert (sink.labels[valid] != 255).all()
    assert (sink.probabilities[:, ~valid] == 0).all()
