"""Sliding-window segmentation of rasters too large for one forward pass, in bounded memory.

The raster is covered by square tiles that overlap by ``overlap`` pixels. Tiles are read
one row of tiles at a time from a :class:`RasterSource`, predicted in batches, and blended
with weights that fall smoothly to a small value at each tile edge (so a pixel seen by two
tiles takes most of its value from the tile where it lies further from the edge, and seams
vanish). Rows of output are final as soon as no later tile can touch them; they are handed
to a :class:`RasterSink` and dropped. Memory is therefore set by the tile size, the raster
*width* and the number of prompts, never by the raster height.

Pixels the source marks invalid (nodata) are never predicted from: a tile that holds only
nodata is skipped, and invalid pixels come out as ``nodata`` in the label rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from genseg.inference import DEFAULT_THRESHOLD, InferenceOptions, inference_options

Predictor = Callable[[list[np.ndarray], int], np.ndarray]
"""``predict(tiles, first_index) -> B×P×h×w`` probabilities for B tiles (each h×w×C float in
[0, 1]); ``first_index`` is the running index of the first tile, for per-tile seeding."""


class RasterSource(Protocol):
    """Window reads of an image: normalised float32 h×w×C plus a validity mask h×w."""

    height: int
    width: int

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]: ...


class RasterSink(Protocol):
    """Receives finished rows in order: labels (h×W uint8) and probabilities (P×h×W float32)."""

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None: ...


@dataclass(frozen=True)
class TileGrid:
    """Tile origins covering ``height``×``width``: a stride of ``tile - overlap``, the last tile
    of each row and column moved back so it ends at the raster's edge (no padding needed when
    the raster is at least one tile large; smaller rasters get one tile of their own size)."""

    height: int
    width: int
    tile: int
    overlap: int

    def __post_init__(self) -> None:
        if self.tile < 8:
            raise ValueError(f"tile size must be at least 8 pixels, got {self.tile}")
        if not 0 <= self.overlap < self.tile // 2 + 1:
            raise ValueError(
                f"overlap must be between 0 and half the tile ({self.tile // 2}), got {self.overlap}"
            )

    @staticmethod
    def _starts(size: int, tile: int, stride: int) -> list[int]:
        if size <= tile:
            return [0]
        starts = list(range(0, size - tile, stride))
        starts.append(size - tile)
        return starts

    @property
    def stride(self) -> int:
        return self.tile - self.overlap

    @property
    def rows(self) -> list[int]:
        return self._starts(self.height, self.tile, self.stride)

    @property
    def cols(self) -> list[int]:
        return self._starts(self.width, self.tile, self.stride)

    @property
    def tile_height(self) -> int:
        return min(self.tile, self.height)

    @property
    def tile_width(self) -> int:
        return min(self.tile, self.width)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)


def blend_weights(height: int, width: int, overlap: int, floor: float = 1e-3) -> np.ndarray:
    """h×w weights: 1 inside, a raised-cosine ramp down to ``floor`` across the ``overlap``
    pixels at each edge. The floor keeps a raster-edge pixel (seen by one tile only) defined."""

    def ramp(n: int) -> np.ndarray:
        w = np.ones(n, dtype=np.float64)
        k = min(overlap, n // 2)
        if k > 0:
            x = (np.arange(k) + 0.5) / k
            edge = floor + (1 - floor) * 0.5 * (1 - np.cos(np.pi * x))
            w[:k] = edge
            w[n - k :] = edge[::-1]
        return w

    return np.outer(ramp(height), ramp(width)).astype(np.float32)


def labels_from_probabilities(probs: np.ndarray, threshold: float, on_value: int = 1) -> np.ndarray:
    """P×… probabilities → uint8 labels: 0 none, ``on_value`` for a single prompt, else the
    1-based index of the most probable prompt above ``threshold``."""
    masks = probs > threshold
    if probs.shape[0] == 1:
        return masks[0].astype(np.uint8) * np.uint8(on_value)
    best = np.where(masks, probs, -1.0).argmax(0)
    return np.where(masks.any(0), best + 1, 0).astype(np.uint8)


@dataclass
class TilingReport:
    tiles: int
    predicted: int
    skipped_nodata: int


def segment_raster(
    predict: Predictor,
    source: RasterSource,
    sink: RasterSink,
    prompts: int,
    tile: int,
    overlap: int,
    inference: InferenceOptions | None = None,
    *,
    nodata: int = 255,
    on_value: int = 1,
    progress: bool = True,
    **legacy: Any,
) -> TilingReport:
    """Predict ``source`` tile by tile and stream blended rows into ``sink``.

    ``prompts`` is P, the number of probability maps ``predict`` returns per tile;
    ``inference`` gives the ``threshold`` of the label rows and the tiles per ``batch_size``
    (keyword arguments named as its fields are applied over it).
    """
    from rich.progress import Progress

    inference = inference_options(inference, **legacy)
    threshold = DEFAULT_THRESHOLD if inference.threshold is None else inference.threshold
    batch_size = inference.batch_size
    grid = TileGrid(source.height, source.width, tile, overlap)
    th, tw, width = grid.tile_height, grid.tile_width, source.width
    weights = blend_weights(th, tw, overlap)
    # Batches run across tile rows (narrow scenes would otherwise send a few tiles per call),
    # so the rolling strip holds every row a pending batch may touch: rows [top, top + strip).
    rows_per_batch = -(-batch_size // max(len(grid.cols), 1))
    strip = min(th + grid.stride * rows_per_batch, source.height)
    acc = np.zeros((prompts, strip, width), dtype=np.float32)
    wsum = np.zeros((strip, width), dtype=np.float32)
    valid = np.zeros((strip, width), dtype=bool)
    top = 0
    counter = {"tile": 0, "predicted": 0, "skipped": 0}
    batch: list[tuple[int, int, np.ndarray, np.ndarray]] = []

    def flush(until: int) -> None:
        """Hand rows [top, until) to the sink and shift the strip."""
        nonlocal top, acc, wsum, valid
        n = until - top
        if n <= 0:
            return
        probs = np.where(wsum[:n] > 0, acc[:, :n] / np.maximum(wsum[:n], 1e-12), 0.0).astype(np.float32)
        labels = labels_from_probabilities(probs, threshold, on_value)
        labels[~valid[:n]] = nodata
        probs[:, ~valid[:n]] = 0.0
        sink.write_rows(top, labels, probs)
        acc = np.concatenate([acc[:, n:], np.zeros((prompts, n, width), np.float32)], axis=1)
        wsum = np.concatenate([wsum[n:], np.zeros((n, width), np.float32)], axis=0)
        valid = np.concatenate([valid[n:], np.zeros((n, width), bool)], axis=0)
        top = until

    def run_batch() -> None:
        nonlocal batch
        if not batch:
            return
        probs = np.asarray(predict([b[2] for b in batch], counter["tile"] - len(batch)), dtype=np.float32)
        if probs.shape != (len(batch), prompts, th, tw):
            raise ValueError(f"predictor returned {probs.shape}, expected {(len(batch), prompts, th, tw)}")
        for (r, c, _, ok), p in zip(batch, probs, strict=True):
            w = weights * ok  # invalid pixels of a tile contribute nothing
            y = r - top
            acc[:, y : y + th, c : c + tw] += p * w
            wsum[y : y + th, c : c + tw] += w
        batch = []

    with Progress(disable=not progress) as bar:
        task = bar.add_task("segmenting tiles", total=len(grid))
        for r in grid.rows:
            # rows above the earliest row still waiting in the batch are final
            flush(min([r] + [b[0] for b in batch]))
            if r + th > top + strip:  # the strip cannot hold this row beside the pending ones
                run_batch()
                flush(r)
            for c in grid.cols:
                image, ok = source.read(r, c, th, tw)
                counter["tile"] += 1
                valid[r - top : r - top + th, c : c + tw] |= ok
                if not ok.any():
                    counter["skipped"] += 1
                else:
                    batch.append((r, c, image, ok))
                    counter["predicted"] += 1
                if len(batch) == batch_size:
                    run_batch()
                bar.advance(task)
        run_batch()
        flush(source.height)
    return TilingReport(tiles=len(grid), predicted=counter["predicted"], skipped_nodata=counter["skipped"])


def pipeline_predictor(
    pipe,
    prompts: Sequence[str],
    inference: InferenceOptions | None = None,
    arrange: Callable[[np.ndarray], np.ndarray] | None = None,
    **legacy: Any,
) -> Predictor:
    """A :data:`Predictor` running a GenSegPipeline on tiles with ``inference``'s steps and
    ensemble; noise seeded from ``seed`` plus the tile index, so a tile's prediction does not
    depend on how the raster was streamed. ``arrange`` lays each tile's bands out as the
    network reads them (genseg.data.bands)."""
    inference = inference_options(inference, **legacy).for_model(pipe)

    def predict(tiles: list[np.ndarray], first: int) -> np.ndarray:
        if arrange is not None:
            tiles = [arrange(t) for t in tiles]
        out = pipe(tiles, list(prompts), **inference.pipeline_kwargs(first))
        return np.asarray(out.probabilities, dtype=np.float32)

    return predict


class ArraySource:
    """An in-memory image (h×w×C float in [0, 1]) with an optional validity mask."""

    def __init__(self, image: np.ndarray, valid: np.ndarray | None = None) -> None:
        self.image = image
        self.valid = np.ones(image.shape[:2], bool) if valid is None else valid
        self.height, self.width = image.shape[:2]

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        win = (slice(row, row + height), slice(col, col + width))
        return self.image[win], self.valid[win]


class ArraySink:
    """Collects the streamed rows into whole arrays (for rasters that fit in memory)."""

    def __init__(self, height: int, width: int, prompts: int) -> None:
        self.labels = np.zeros((height, width), np.uint8)
        self.probabilities = np.zeros((prompts, height, width), np.float32)

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self.labels[row : row + labels.shape[0]] = labels
        self.probabilities[:, row : row + labels.shape[0]] = probabilities
