"""`genseg segment` for rasters cut into tiles: streamed from disk or held in memory.

A domain that declares ``tiling`` (aerial scenes) has images larger than the model's input
cut into overlapping tiles at the model's resolution, instead of being resized whole; the
other domains tile only images several times larger than it (:data:`WHOLE_UP_TO`). When
the file's reader can open it window by window (``ReaderSpec.open_windowed``) and the
output's writer can take rows (``WriterSpec.stream``), the scene is never read whole and
the mask is written block by block; otherwise the tiles come from the image in memory.
Vector writers (``--vector``) take the same rows. Outputs are committed only after the
last row; a failure aborts every sink, leaving no partial file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genseg.data.bands import layout_of, model_input
from genseg.data.classes import label_values
from genseg.errors import InputError
from genseg.inference import InferenceOptions, inference_options
from genseg.tiling import ArraySink, ArraySource, pipeline_predictor, segment_raster

if TYPE_CHECKING:
    from genseg.plugins.schemas import ClassInfo

THUMBNAIL = 1024
"""Longest side of the overlay written for a tiled scene."""


WHOLE_UP_TO = 4
"""In a domain that does not declare ``tiling`` (photographs, slices), an image whose longer
side is at most this many times the model's resolution is segmented whole, shrunk to that
resolution as training shrank its images; a larger one is cut into tiles at the model's
resolution. Shrinking a 4000×3000 photo to 128 px (31×) turns a 30-pixel weed into one pixel;
up to 4× (512 px for a 128-px model, the size of most dataset images) the model sees the
scene as it was trained to, and tiles would show it parts too small to recognise."""


@dataclass(frozen=True)
class TilePolicy:
    """How the images of one run are cut: ``tile`` pixels a side (0: never), for an image
    whose longer side exceeds ``above``; ``stream``: read window by window where the reader
    can (domains that tile, or ``--tile-size``)."""

    tile: int
    above: int
    stream: bool

    def tiles(self, height: int, width: int) -> bool:
        return self.tile > 0 and max(height, width) > self.above


def tiling_for(domain: str, tile_size: int | None, resolution: int) -> TilePolicy:
    """``--tile-size`` if given (0: never tile); else tiles at the model's resolution, for
    any image larger than one tile in a domain that tiles, and for images over
    :data:`WHOLE_UP_TO` × that resolution in the others."""
    if tile_size is not None:
        if tile_size < 0 or 0 < tile_size < 8:
            raise InputError(f"--tile-size {tile_size} is too small", fix="pass 0 (no tiling) or at least 8")
        return TilePolicy(tile_size, tile_size, tile_size > 0)
    from genseg.plugins.registry import domain_info

    if domain_info(domain).tiling:
        return TilePolicy(resolution, resolution, True)
    return TilePolicy(resolution, WHOLE_UP_TO * resolution, False)


def windowed_opener(path: Path):
    """The reader's window-by-window opener for ``path``, or None."""
    from genseg.plugins.registry import find_reader
    from genseg.plugins.schemas import resolve_target

    _, spec = find_reader(path, "image")
    return resolve_target(spec.open_windowed) if spec.open_windowed else None


class _Tee:
    """Rows to several sinks; a thumbnail of the labels kept on the side for the overlay."""

    def __init__(self, sinks: list, height: int, width: int, step: int) -> None:
        self.sinks = sinks
        self.step = step
        self.thumb = np.zeros((-(-height // step), -(-width // step)), np.uint8)

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        for sink in self.sinks:
            sink.write_rows(row, labels, probabilities)
        first = (-row) % self.step  # first row of this chunk on the thumbnail grid
        picked = labels[first :: self.step, :: self.step]
        start = (row + first) // self.step
        self.thumb[start : start + picked.shape[0]] = picked


def segment_tiled(
    pipe,
    src: Path,
    prompts: Sequence[str],
    outputs: dict[str, Path],
    tile: int,
    inference: InferenceOptions | None = None,
    *,
    source=None,
    sample=None,
    progress: bool = True,
    classes: Sequence[ClassInfo] | None = None,
    model: str | None = None,
    **legacy: Any,
):
    """Segment one raster tile by tile; ``source`` (windowed) or ``sample`` (in memory), in
    ``tile``-pixel tiles overlapping by ``inference.overlap`` (None: a quarter tile).
    ``classes`` and ``model`` go to the writers that accept them (values 1, 2, ...; a single
    prompt's record takes the mask's "on" value). ``outputs["probabilities"]``, when there,
    also takes the per-prompt probabilities; ``inference.vector`` the polygons, shaped by its
    ``simplify`` and ``min_area`` (map units). Keyword arguments named as
    :class:`~genseg.inference.InferenceOptions` fields are applied over ``inference``.

    Returns (written paths, coverage per prompt, the tiling report).
    """
    from genseg.data.readers import write_overlay_png
    from genseg.plugins.registry import open_stream, write

    inference = inference_options(inference, **legacy).for_model(pipe)
    vector, probabilities = inference.vector, outputs.get("probabilities")
    prompts = list(prompts)
    if source is None:
        source = ArraySource(np.asarray(sample.array, np.float32), sample.meta.get("valid_mask"))
        reference = sample
    else:
        reference = source.reference
    # each tile laid out as the network reads it (a view of its first three channels for an RGB model)
    names, layout = reference.meta.get("bands"), layout_of(pipe)
    height, width = source.height, source.width
    overlap = tile // 4 if inference.overlap is None else inference.overlap
    mask_path = outputs["mask"]
    on_value = 255 if mask_path.suffix.lower() == ".png" else 1
    named = {"classes": label_values(classes, on_value) if classes else None, "model": model}
    streamed = open_stream(mask_path, reference, prompts, **named)
    sinks = [streamed] if streamed is not None else []
    collected = None
    if streamed is None:
        collected = ArraySink(height, width, len(prompts))
        sinks.append(collected)
    if vector is not None or probabilities is not None:
        try:
            numbered = label_values(classes, 1) if classes else None  # polygons and bands: classes 1, 2, ...
            if vector is not None:
                polygons = open_stream(
                    vector, reference, prompts, kind="vector", classes=numbered, model=model
                )
                sinks.append(polygons)
                generalise_polygons(polygons, vector, inference.simplify, inference.min_area)
            if probabilities is not None:  # one band per prompt, in prompt order
                sinks.append(open_stream(probabilities, reference, prompts, classes=numbered, model=model))
        except BaseException:  # e.g. a raster polygons cannot be placed from: leave no partial mask
            _abort(sinks)
            raise
    step = max(1, -(-max(height, width) // THUMBNAIL))
    tee = _Tee(sinks, height, width, step)
    nodata = getattr(streamed, "nodata", None)
    writes_nodata = nodata is not None or on_value != 255
    if nodata is None:
        nodata = 0 if on_value == 255 else 255  # PNG has no nodata: such pixels are background
    try:
        report = segment_raster(
            pipeline_predictor(
                pipe, prompts, inference, arrange=lambda t: model_input(t, names, layout, src)
            ),
            source,
            tee,
            len(prompts),
            tile,
            overlap,
            inference,
            nodata=nodata,
            on_value=on_value,
            progress=progress,
        )
        if collected is not None:
            write(mask_path, collected.labels, reference=reference, **named)
        written = [s.close() for s in sinks if s is not collected]
    except BaseException:
        _abort(sinks)
        raise
    finally:
        if hasattr(source, "close"):
            source.close()
    thumb = tee.thumb
    # a PNG's 0 is background, not nodata: every pixel counts, or coverage would always be 100 %
    valid = ((thumb != nodata) | (thumb == on_value)) if writes_nodata else np.ones_like(thumb, bool)
    shown = [(thumb == (on_value if len(prompts) == 1 else i + 1)) & valid for i in range(len(prompts))]
    image = _thumbnail_image(source, sample, step, thumb.shape)
    write_overlay_png(outputs["overlay"], image, shown, prompts)
    coverage = {p: float(m.sum() / max(1, valid.sum())) for p, m in zip(prompts, shown, strict=True)}
    paths = (
        [mask_path] + [p for p in written if p is not None and Path(p) != mask_path] + [outputs["overlay"]]
    )
    return paths, coverage, report


def generalise_polygons(sink, path: Path, simplify: float | None, min_area: float | None) -> None:
    """Hand ``--simplify`` / ``--min-area`` to a vector sink (its ``generalise`` method); a
    writer without one cannot honour them, which is an error rather than a silent raw file."""
    if simplify is None and min_area is None:
        return
    generalise = getattr(sink, "generalise", None)
    if generalise is None:
        raise InputError(
            "the vector writer of this file cannot simplify polygons or drop small ones",
            path=path,
            fix="leave out --simplify and --min-area, or write NAME.gpkg / NAME.geojson",
        )
    generalise(simplify=simplify, min_area=min_area)


def _abort(sinks: list) -> None:
    """Drop every sink's partial output."""
    for s in sinks:
        if hasattr(s, "abort"):
            s.abort()


def _thumbnail_image(source, sample, step: int, shape: tuple[int, int]) -> np.ndarray:
    if sample is not None:
        return np.asarray(sample.array, np.float32)[::step, ::step, :3]
    if hasattr(source, "thumbnail"):
        return source.thumbnail(shape)
    return np.zeros((*shape, 3), np.float32)
