"""Polygons from streamed label rows: GeoPackage (one layer per class) or GeoJSON.

Rows arrive in strips. Each strip's connected regions (4-connectivity, as
``rasterio.features.shapes`` traces them) become polygons in pixel coordinates with their
pixel count and summed probability; regions that continue across a strip boundary are
joined at the end (union-find over the touching rows, then a geometric union), so memory
holds polygons, never the label raster. Before writing, small regions are sieved and the
edges simplified with neighbours kept sharing them (:mod:`genseg_remote_sensing.generalise`),
then the polygons are placed in the raster's CRS. Each polygon has ``class`` (label value),
``name`` (the class name), ``prompt`` and ``score`` (mean probability of its class over its
pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genseg.plugins.api import InputError, slug
from genseg_remote_sensing.generalise import Generalisation, sieve_polygons, simplify_coverage, to_map
from genseg_remote_sensing.raster import temporary_name
from genseg_remote_sensing.styles import label_classes

STRIP = 512


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def layer_name(prompt: str) -> str:
    return slug(prompt)


def check_affine(reference, path: Path) -> None:
    """Polygons need an affine geotransform: refuse a raster placed only by GCPs or RPCs."""
    from genseg_remote_sensing.readers import has_no_geotransform

    meta = reference.meta
    how = "ground control points" if meta.get("gcps") else "RPCs" if meta.get("rpcs") else None
    if how and has_no_geotransform(meta.get("transform")):
        warp = "-rpc" if how == "RPCs" else "-tps"
        raise InputError(
            f"polygons need a geotransform, but {reference.path} is placed by {how}",
            path=path,
            fix=f"orthorectify it first (gdalwarp {warp} -t_srs EPSG:XXXX in.tif out.tif) "
            "or segment without --vector (the label GeoTIFF keeps the " + how + ")",
        )


class VectorSink:
    """Collects polygons strip by strip; ``close()`` writes the file (atomically)."""

    def __init__(
        self, path: Path, reference, prompts: list[str], classes=None, model: str | None = None
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}.get(suffix)
        if self.driver is None:
            raise InputError(
                f"unknown vector format {suffix!r}", path=path, fix="use NAME.gpkg or NAME.geojson"
            )
        check_affine(reference, path)
        self.crs = reference.meta.get("crs")
        self.transform = reference.meta.get("transform")
        self.prompts = list(prompts)
        self.names = [c.name for c in label_classes(prompts, classes)]
        self.single = len(prompts) == 1
        self.generalisation = Generalisation()
        self._pending_labels: list[np.ndarray] = []
        self._pending_probs: list[np.ndarray] = []
        self._row = 0
        self._next_id = 1
        self._pieces: dict[
            int, tuple[object, int, int, float]
        ] = {}  # id -> (geometry, class, pixels, prob sum)
        self._last_row: np.ndarray | None = None  # component ids of the previous strip's last row
        self._uf = _UnionFind()

    def generalise(self, simplify: float | None = None, min_area: float | None = None) -> None:
        """Simplification tolerance (map units) and minimum polygon area (map units²) to apply
        at ``close()``; None keeps the default (1 pixel, 4 pixels), 0 turns a step off."""

        for flag, value in (("--simplify", simplify), ("--min-area", min_area)):
            if value is not None and not value >= 0:
                raise InputError(
                    f"{flag} must be 0 or more, got {value}", path=self.path, fix=f"pass e.g. {flag} 0"
                )
        self.generalisation = Generalisation(simplify, min_area)

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self._pending_labels.append(labels)
        self._pending_probs.append(probabilities)
        if sum(p.shape[0] for p in self._pending_labels) >= STRIP:
            self._flush()

    def _flush(self) -> None:
        from affine import Affine
        from rasterio.features import shapes
        from scipy import ndimage
        from shapely.geometry import shape

        if not self._pending_labels:
            return
        labels = np.concatenate(self._pending_labels, axis=0)
        probs = np.concatenate(self._pending_probs, axis=1)
        self._pending_labels, self._pending_probs = [], []
        top = 1 if self.single else len(self.prompts)
        classes = np.where((labels >= 1) & (labels <= top), labels, 0).astype(np.int64)  # nodata → none
        ids = np.zeros(labels.shape, np.int64)
        four = ndimage.generate_binary_structure(2, 1)
        for value in np.unique(classes[classes > 0]):
            comp, n = ndimage.label(classes == value, structure=four)
            if n:
                ids[comp > 0] = comp[comp > 0] + self._next_id - 1
                index = np.arange(self._next_id, self._next_id + n)
                prob = probs[0 if self.single else int(value) - 1]
                counts = ndimage.sum_labels(np.ones_like(prob), ids, index)
                sums = ndimage.sum_labels(prob, ids, index)
                for k, c, s in zip(index, counts, sums, strict=True):
                    self._pieces[int(k)] = (None, int(value), int(c), float(s))
                self._next_id += n
        transform = Affine.translation(0, self._row)  # pixel coordinates: exact integers
        for geom, value in shapes(ids.astype(np.int32), mask=ids > 0, connectivity=4, transform=transform):
            key = int(value)
            _, cls, count, total = self._pieces[key]
            self._pieces[key] = (shape(geom), cls, count, total)
        if self._last_row is not None:  # join regions continuing from the strip above
            above, below = self._last_row, ids[0]
            touch = (above > 0) & (below > 0)
            for a, b in set(zip(above[touch].tolist(), below[touch].tolist(), strict=True)):
                if self._pieces[a][1] == self._pieces[b][1]:
                    self._uf.union(a, b)
        self._last_row = ids[-1].copy()
        self._row += labels.shape[0]

    def _features(self) -> list[tuple[int, str, str, float, object]]:
        from affine import Affine
        from shapely import union_all

        groups: dict[int, list[int]] = {}
        for key in self._pieces:
            groups.setdefault(self._uf.find(key), []).append(key)
        found = []
        for keys in groups.values():
            parts = [self._pieces[k] for k in keys]
            geom = parts[0][0] if len(parts) == 1 else union_all([p[0] for p in parts])
            score = sum(p[3] for p in parts) / max(1, sum(p[2] for p in parts))
            found.append((parts[0][1], score, geom))
        transform = self.transform or Affine.identity()
        tolerance, min_area = self.generalisation.in_pixels(abs(transform.determinant) or 1.0)
        geoms = [f[2] for f in found]
        if min_area > 0:
            geoms, kept = sieve_polygons(geoms, [f[0] for f in found], min_area)
            found = [found[i] for i in kept]
        geoms = to_map(simplify_coverage(geoms, tolerance), transform)
        out = []
        for (cls, score, _), geom in zip(found, geoms, strict=True):
            index = 0 if self.single else cls - 1
            out.append((cls, self.names[index], self.prompts[index], score, geom))
        return sorted(out, key=lambda f: (f[0], -f[3]))

    def close(self) -> Path:
        import geopandas as gpd

        self._flush()
        features = self._features()
        tmp = temporary_name(self.path)
        tmp.unlink(missing_ok=True)
        try:
            if self.driver == "GPKG":
                for i, prompt in enumerate(self.prompts):
                    cls = 1 if self.single else i + 1
                    frame = self._frame(gpd, [f for f in features if f[0] == cls])
                    frame.to_file(tmp, driver="GPKG", layer=layer_name(prompt), engine="pyogrio")
            else:
                self._frame(gpd, features).to_file(tmp, driver="GeoJSON", engine="pyogrio")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return self.path

    def _frame(self, gpd, rows: list):
        columns = ("class", "name", "prompt", "score")
        data = {key: [f[i] for f in rows] for i, key in enumerate(columns)}
        return gpd.GeoDataFrame(data, geometry=[f[4] for f in rows], crs=self.crs)

    def abort(self) -> None:
        self._pieces.clear()


def open_vector_sink(
    path: Path, reference, prompts: list[str], classes=None, model: str | None = None
) -> VectorSink:
    """``WriterSpec.stream`` target of the GeoPackage and GeoJSON vector writers."""
    return VectorSink(path, reference, prompts, classes, model)
