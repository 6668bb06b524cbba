"""Generated multispectral sample data: 4-band GeoTIFF scenes with label rasters on the same grid.

No real remote-sensing data can be downloaded here, so the ``rs-scenes`` sample dataset and
the benchmark's huge scenes are generated from a seed (see :mod:`.landscape` for what the
scenes contain). The files look like a Sentinel-2 L2A extract: bands blue, green, red, nir
(named in the band descriptions, with their wavelengths in the band tags), uint16 surface
reflectance × 10000 with no additive offset (the scale is also recorded as the bands' GDAL
scale, 0.0001), nodata 0, 10 m pixels in EPSG:32633 (WGS 84 / UTM zone 33N, placed near
47.8° N, 15° E). Label rasters are uint8 on the same grid; their nodata value 0 marks the
pixels without image (every imaged pixel has a class), listed under ``ignore`` in dataset.json.

Rasters are written window by window, so :func:`write_scene` needs memory for one block of
pixels, not for the scene, and both files are written under temporary names and renamed
when complete.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.plugins.api import DatasetEntry, DatasetSpec, atomic_write, up_to_date, write_dataset_spec
from genseg_remote_sensing.landscape import BANDS, CLASSES, WAVELENGTHS_NM, Scene, plan_scene, render

if TYPE_CHECKING:
    from affine import Affine

CRS = "EPSG:32633"
PIXEL_SIZE = 10.0
ORIGIN = (500_000.0, 5_300_000.0)
"""Easting and northing (m) of the top-left corner of a scene written without an origin."""
REFLECTANCE_SCALE = 10000
NODATA = 0
BLOCK = 512
GENERATOR_VERSION = 1
DATASET_NAME = "rs-scenes"
DEFAULTS = {"n_train": 48, "n_val": 8, "n_test": 8, "size": 128}

_LABEL_COLOURS = {
    0: (0, 0, 0, 0),
    1: (220, 40, 40, 255),
    2: (250, 220, 60, 255),
    3: (30, 90, 230, 255),
    4: (20, 120, 40, 255),
    5: (240, 180, 110, 255),
    6: (140, 220, 90, 255),
    7: (170, 150, 130, 255),
}


def scene_transform(origin: tuple[float, float] = ORIGIN, pixel_size: float = PIXEL_SIZE) -> Affine:
    """North-up affine transform with square pixels whose top-left corner is ``origin``."""
    from affine import Affine

    return Affine(pixel_size, 0.0, origin[0], 0.0, -pixel_size, origin[1])


def _windows(height: int, width: int, block: int | None) -> list[tuple[int, int, int, int]]:
    """(row, col, h, w) of the blocks covering the raster in row-major order (one if no block)."""
    if block is None:
        return [(0, 0, height, width)]
    return [
        (r, c, min(block, height - r), min(block, width - c))
        for r in range(0, height, block)
        for c in range(0, width, block)
    ]


def _write_rasters(
    image_path: Path, label_path: Path | None, scene: Scene, transform: Affine, block: int | None
) -> None:
    """Render ``scene`` window by window into the image (and label) GeoTIFFs at these paths."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    common: dict[str, Any] = {
        "driver": "GTiff",
        "height": scene.height,
        "width": scene.width,
        "crs": CRS,
        "transform": transform,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    if block is not None:
        common.update(tiled=True, blockxsize=block, blockysize=block)
    with ExitStack() as stack:
        image = stack.enter_context(
            rasterio.open(
                image_path,
                "w",
                count=len(BANDS),
                dtype="uint16",
                nodata=NODATA,
                predictor=2,
                photometric="minisblack",
                **common,
            )
        )
        image.update_tags(
            bands=",".join(BANDS),
            reflectance_scale=str(REFLECTANCE_SCALE),
            generator="genseg_remote_sensing.synthetic",
            seed=str(scene.seed),
        )
        for i, (name, nm) in enumerate(zip(BANDS, WAVELENGTHS_NM, strict=True), start=1):
            image.set_band_description(i, name)
            image.update_tags(i, name=name, wavelength_nm=str(nm))
        image.scales = (1.0 / REFLECTANCE_SCALE,) * len(BANDS)
        image.offsets = (0.0,) * len(BANDS)
        label = None
        if label_path is not None:
            label = stack.enter_context(
                rasterio.open(label_path, "w", count=1, dtype="uint8", nodata=NODATA, **common)
            )
            label.set_band_description(1, "land cover")
            label.update_tags(**{f"class_{k}": v for k, v in CLASSES.items()}, class_0="no data")
            label.write_colormap(1, _LABEL_COLOURS)
        for row, col, h, w in _windows(scene.height, scene.width, block):
            reflectance, classes, valid = render(scene, row, col, h, w)
            counts = np.rint(reflectance * REFLECTANCE_SCALE).clip(1, 65535).astype(np.uint16)
            counts[:, ~valid] = NODATA
            window = Window(col, row, w, h)
            image.write(counts, window=window)
            if label is not None:
                label.write(classes, 1, window=window)


def write_scene(
    path: str | Path,
    height: int,
    width: int,
    seed: int = 0,
    *,
    label_path: str | Path | None = None,
    origin: tuple[float, float] = ORIGIN,
    block: int | None = BLOCK,
    nodata_border: bool = False,
) -> Path:
    """Write one generated scene of ``height × width`` pixels as a 4-band GeoTIFF; returns ``path``.

    Tiled (``block`` × ``block``, default 512), DEFLATE with horizontal predictor, BigTIFF when
    needed, rendered and written one block at a time, so a 20,000² scene is written in memory
    bounded by the block size. ``label_path`` also writes the uint8 label raster on the same
    grid; ``nodata_border`` cuts a slanted nodata edge into the scene. ``block=None`` writes
    an untiled file in one piece (small scenes). The same arguments give the same pixels.
    """

    if height < 1 or width < 1:
        raise ValueError(f"a scene needs at least one pixel, got {height}×{width}")
    if block is not None and (block < 16 or block % 16):
        raise ValueError(f"GeoTIFF blocks are multiples of 16 pixels, got {block}")
    scene = plan_scene(seed, height, width, nodata_border)
    transform = scene_transform(origin)
    path = Path(path)

    def write_image(tmp_image: Path) -> None:
        if label_path is None:
            _write_rasters(tmp_image, None, scene, transform, block)
        else:  # the label is renamed into place first, the image last
            atomic_write(
                Path(label_path),
                lambda tmp_label: _write_rasters(tmp_image, tmp_label, scene, transform, block),
            )

    atomic_write(path, write_image)
    return path


def make_rs_scenes(
    root: str | Path,
    seed: int = 0,
    n_train: int = DEFAULTS["n_train"],
    n_val: int = DEFAULTS["n_val"],
    n_test: int = DEFAULTS["n_test"],
    size: int = DEFAULTS["size"],
) -> Path:
    """Write the ``rs-scenes`` sample dataset under ``root`` (skipped when already there).

    ``images/SPLIT_NNNN.tif`` (4 bands) and ``labels/SPLIT_NNNN.tif`` for each split, drawn
    from independent seeded streams; every 5th scene from the 3rd has a nodata edge; each
    scene lies at its own place on a grid of the UTM zone. ``dataset.json`` (classes with the
    vocabulary's synonyms, the parameters under ``generator``) is written last, so an
    interrupted run is redone rather than taken as finished.
    """
    import numpy as np

    from genseg_remote_sensing.datasets import PLUGIN_DATASETS

    root = Path(root)
    params = {
        "kind": DATASET_NAME,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "size": size,
    }
    if up_to_date(root, params):
        return root
    (root / "dataset.json").unlink(missing_ok=True)
    spacing = 2 * size * PIXEL_SIZE
    splits: dict[str, list[DatasetEntry]] = {}
    for offset, (split, count) in enumerate((("training", n_train), ("validation", n_val), ("test", n_test))):
        entries = []
        for i in range(count):
            scene_seed = int(np.random.default_rng([seed, offset, i]).integers(2**31 - 1))
            origin = (ORIGIN[0] + (i % 16) * spacing, ORIGIN[1] - (offset * 64 + i // 16) * spacing)
            name = f"{split}_{i:04d}.tif"
            write_scene(
                root / "images" / name,
                size,
                size,
                scene_seed,
                label_path=root / "labels" / name,
                origin=origin,
                block=None,
                nodata_border=i % 5 == 2,
            )
            entries.append(DatasetEntry(image=f"images/{name}", label=f"labels/{name}"))
        splits[split] = entries
    card = PLUGIN_DATASETS.cards[DATASET_NAME]
    spec = DatasetSpec(
        name=DATASET_NAME,
        domain="remote-sensing",
        description=card.description,
        license=card.licence,
        reference=card.citation,
        classes={str(k): PLUGIN_DATASETS.class_spec(name) for k, name in CLASSES.items()},
        ignore=[NODATA],
        generator=params,
        **splits,
    )
    write_dataset_spec(root, spec)
    return root


def main(argv: list[str] | None = None) -> None:
    """``python -m genseg_remote_sensing.synthetic OUT.tif --size 20000`` writes one big scene."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", type=int, nargs="+", default=[4096], help="HEIGHT [WIDTH]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", type=Path, default=None)
    args = parser.parse_args(argv)
    height, width = (args.size * 2)[:2]
    path = write_scene(args.output, height, width, args.seed, label_path=args.label)
    print(json.dumps({"image": str(path), "label": str(args.label) if args.label else None}))


if __name__ == "__main__":
    main()
