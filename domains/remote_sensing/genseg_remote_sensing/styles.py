"""What a label raster's values mean, in the forms GIS software reads.

A label GeoTIFF carries its classes three ways, so that QGIS (or any GDAL client) shows named,
coloured classes instead of a grey band of small integers: an internal colour table (every
GDAL client), a raster attribute table in the GDAL PAM sidecar ``NAME.tif.aux.xml`` (value,
class name, prompt and colour columns: QGIS's attribute table and "classify by RAT"; GTiff
keeps RATs only there), and a QGIS style ``NAME.qml`` (a paletted renderer with the class
names as legend labels, which QGIS applies when it opens ``NAME.tif``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from genseg.plugins.api import OVERLAY_COLOURS

BACKGROUND = "background"
CLEAR = (0, 0, 0, 0)


@dataclass(frozen=True)
class LabelClass:
    """One label value of a written raster: its value, display name, prompt and colour."""

    value: int
    name: str
    prompt: str
    colour: tuple[int, int, int]


def _field(record: Any, key: str) -> Any:
    return record.get(key) if isinstance(record, dict) else getattr(record, key, None)


def overlay_colour(index: int) -> tuple[int, int, int]:
    """The colour genseg's overlay legend gives prompt ``index`` (0-based)."""
    r, g, b = OVERLAY_COLOURS[index % len(OVERLAY_COLOURS)]
    return int(r), int(g), int(b)


def label_classes(prompts: Sequence[str], classes: Sequence[Any] | None = None) -> list[LabelClass]:
    """The classes of a label raster with values 1..P (one prompt: 1).

    ``classes`` (hookspec 1.4 ``ClassInfo`` records, or dicts with their fields) give each
    value's name and colour; without them each prompt names its value and takes the overlay
    legend's colour, so the raster, its overlay and its polygons agree.
    """
    if classes:
        out = []
        for i, record in enumerate(classes):
            prompt = str(_field(record, "prompt") or (prompts[i] if i < len(prompts) else i + 1))
            colour = _field(record, "colour")
            value = _field(record, "value")
            out.append(
                LabelClass(
                    value=int(value) if value is not None else i + 1,
                    name=str(_field(record, "name") or prompt),
                    prompt=prompt,
                    colour=tuple(int(c) for c in colour) if colour is not None else overlay_colour(i),
                )
            )
        return out
    return [LabelClass(i + 1, str(p), str(p), overlay_colour(i)) for i, p in enumerate(prompts)]


def classes_in(mask: np.ndarray, nodata: int | None) -> list[LabelClass]:
    """Classes for a label map written without prompts or class records: each value present
    (background and nodata aside) as ``class N``."""
    counts = np.bincount(np.asarray(mask, np.uint8).ravel(), minlength=256)
    values = [v for v in np.flatnonzero(counts) if v != 0 and v != nodata]
    return [LabelClass(int(v), f"class {v}", f"class {v}", overlay_colour(int(v) - 1)) for v in values]


def colour_table(classes: Sequence[LabelClass], nodata: int | None) -> dict[int, tuple[int, int, int, int]]:
    """The GeoTIFF colour map: background and nodata transparent, each class opaque."""
    table = {0: CLEAR}
    for c in classes:
        table[c.value] = (*c.colour, 255)
    if nodata is not None:
        table[int(nodata)] = CLEAR
    return table


def hex_colour(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


# GDAL's field types and usages (gdal.h: GDALRATFieldType, GDALRATFieldUsage)
_INTEGER, _STRING = 0, 2
_GENERIC, _NAME, _MINMAX, _RED, _GREEN, _BLUE, _ALPHA = 0, 2, 5, 6, 7, 8, 9
RAT_FIELDS = (
    ("Value", _INTEGER, _MINMAX),
    ("Class", _STRING, _NAME),
    ("Prompt", _STRING, _GENERIC),
    ("Red", _INTEGER, _RED),
    ("Green", _INTEGER, _GREEN),
    ("Blue", _INTEGER, _BLUE),
    ("Alpha", _INTEGER, _ALPHA),
)


def _rat_rows(classes: Sequence[LabelClass]) -> list[tuple]:
    rows = [(0, BACKGROUND, "", *CLEAR)]
    rows += [(c.value, c.name, c.prompt, *c.colour, 255) for c in sorted(classes, key=lambda c: c.value)]
    return rows


def pam_xml(classes: Sequence[LabelClass]) -> str:
    """A GDAL PAM document holding band 1's raster attribute table (thematic)."""
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    table = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    for index, (name, kind, usage) in enumerate(RAT_FIELDS):
        field = ET.SubElement(table, "FieldDefn", index=str(index))
        ET.SubElement(field, "Name").text = name
        ET.SubElement(field, "Type").text = str(kind)
        ET.SubElement(field, "Usage").text = str(usage)
    for index, row in enumerate(_rat_rows(classes)):
        element = ET.SubElement(table, "Row", index=str(index))
        for value in row:
            ET.SubElement(element, "F").text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def qml(classes: Sequence[LabelClass]) -> str:
    """A QGIS layer style: paletted renderer, one legend entry per class, background clear."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="AllStyleCategories")
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        enabled="false",
        zoomedInResamplingMethod="nearestNeighbour",
        zoomedOutResamplingMethod="nearestNeighbour",
        maxOversampling="2",
    )
    renderer = ET.SubElement(
        pipe, "rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1", nodataColor=""
    )
    ET.SubElement(renderer, "rasterTransparency")
    palette = ET.SubElement(renderer, "colorPalette")
    for value, name, _, r, g, b, alpha in _rat_rows(classes):
        ET.SubElement(
            palette,
            "paletteEntry",
            value=str(value),
            color=hex_colour((r, g, b)),
            alpha=str(alpha),
            label=name,
        )
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root)
    doctype = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
    return doctype + ET.tostring(root, encoding="unicode") + "\n"


def sidecar_paths(raster: Path) -> dict[str, Path]:
    """Where GDAL looks for the PAM file and QGIS for the default style of ``raster``."""
    raster = Path(raster)
    return {"aux": raster.with_name(raster.name + ".aux.xml"), "qml": raster.with_suffix(".qml")}


def write_sidecars(raster: Path, classes: Sequence[LabelClass]) -> list[Path]:
    """``NAME.tif.aux.xml`` (attribute table) and ``NAME.qml`` (style) beside ``raster``, each
    written under a temporary name and renamed; none left behind when one fails."""
    from genseg_remote_sensing.raster import NAME_MAX, temporary_name

    texts = {"aux": pam_xml(classes), "qml": qml(classes)}
    written: list[Path] = []
    try:
        for key, path in sidecar_paths(raster).items():
            if len(path.name.encode()) > NAME_MAX:
                warnings.warn(
                    f"{raster}: the name leaves no room for its sidecar {path.suffix} (over {NAME_MAX} "
                    "bytes); the class names stay in the GeoTIFF's tags and colour table",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            tmp = temporary_name(path)
            try:
                tmp.write_text(texts[key], encoding="utf-8")
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def remove_sidecars(raster: Path) -> None:
    for path in sidecar_paths(raster).values():
        path.unlink(missing_ok=True)
