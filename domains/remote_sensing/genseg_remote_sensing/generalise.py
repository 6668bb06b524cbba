"""Polygons a GIS user can work with: small regions sieved away, staircase edges simplified,
neighbouring polygons still sharing their edges.

Polygons traced from a label raster follow every pixel edge; most of a scene's polygons are
specks of a few pixels. Here, in pixel coordinates (so every vertex is an integer and two
neighbours' edges are exactly the same numbers):

1. holes smaller than the minimum area are filled;
2. a polygon smaller than the minimum area joins the neighbouring polygon of another class
   with which it shares the longest edge (as ``rasterio.features.sieve`` gives a small region
   to a neighbour), or is dropped when it borders only background;
3. every edge is split at each pixel corner, so that the polygons form a coverage whose
   shared edges have the same vertices, and ``shapely.coverage_simplify`` (GEOS, shapely >= 2.1)
   simplifies each shared edge once: neighbours keep a common boundary, without gaps or
   overlaps.

Working on the joined polygons, not on raster strips, keeps the sieve exact for regions that
cross the strips the vector writer receives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_SIMPLIFY_PIXELS = 1.0
"""Default simplification tolerance, in pixels. shapely's coverage simplifier removes a vertex
whose triangle with its neighbours is smaller than the tolerance squared: half a pixel keeps
every staircase corner (a 0.5 px² triangle), 1 pixel removes them, 1.5 pixels and more also
turn 2×2-pixel squares into triangles."""

DEFAULT_MIN_AREA_PIXELS = 4.0
"""Default minimum polygon area, in pixels (a region of 1-3 pixels is noise at map scale)."""


@dataclass(frozen=True)
class Generalisation:
    """Tolerance (map units) and minimum area (map units²); None: the pixel-based default."""

    simplify: float | None = None
    min_area: float | None = None

    def in_pixels(self, pixel_area: float) -> tuple[float, float]:
        """(tolerance, minimum area) in pixels for a raster whose pixels cover ``pixel_area``."""
        side = pixel_area**0.5
        tolerance = DEFAULT_SIMPLIFY_PIXELS if self.simplify is None else self.simplify / side
        area = DEFAULT_MIN_AREA_PIXELS if self.min_area is None else self.min_area / pixel_area
        return tolerance, area


def fill_small_holes(geometry, min_area: float):
    """``geometry`` without the interior rings enclosing less than ``min_area``."""
    from shapely import MultiPolygon, Polygon, get_parts

    parts = []
    for part in get_parts(geometry):
        holes = [ring for ring in part.interiors if Polygon(ring).area >= min_area]
        parts.append(Polygon(part.exterior, holes))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def sieve_polygons(geometries: Sequence, classes: Sequence[int], min_area: float) -> tuple[list, list[int]]:
    """Steps 1-2 of the module: returns (geometries kept, their indices into the input)."""
    from shapely import STRtree, area, intersection, length, union_all

    geoms = [fill_small_holes(g, min_area) for g in geometries]
    sizes = area(np.asarray(geoms, dtype=object))
    large = np.flatnonzero(sizes >= min_area)
    tree = STRtree([geoms[i] for i in large])
    joins: dict[int, list] = {}
    for i in np.flatnonzero(sizes < min_area):
        near = large[tree.query(geoms[i], predicate="intersects")]
        others = [j for j in near if classes[j] != classes[i]]
        if not others:
            continue  # only background around it (or inside a filled hole): it goes
        shared = length(intersection(geoms[i].boundary, [geoms[j].boundary for j in others]))
        if shared.max() > 0:
            joins.setdefault(int(others[int(shared.argmax())]), []).append(geoms[i])
    for j, small in joins.items():
        geoms[j] = union_all([geoms[j], *small])
    return [geoms[i] for i in large], [int(i) for i in large]


def simplify_coverage(geometries: Sequence, tolerance: float) -> list:
    """Step 3 of the module (pixel coordinates in, pixel coordinates out)."""
    from shapely import coverage_simplify, segmentize

    if tolerance <= 0 or not len(geometries):
        return list(geometries)
    dense = segmentize(np.asarray(geometries, dtype=object), 1.0)
    return list(coverage_simplify(dense, tolerance))


def to_map(geometries: Sequence, transform) -> list:
    """Pixel-coordinate geometries placed by the affine ``transform`` (column, row → x, y)."""
    from shapely import transform as apply

    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f

    def place(xy: np.ndarray) -> np.ndarray:
        col, row = xy[:, 0], xy[:, 1]
        return np.column_stack([a * col + b * row + c, d * col + e * row + f])

    return list(apply(np.asarray(geometries, dtype=object), place))
