"""Procedural land-cover scenes with per-class spectral signatures, rendered window by window.

Every quantity is a function of the global pixel position and the scene's seed (hashed
lattices, value noise, lines), so any window of a scene can be rendered on its own and two
neighbouring windows agree along their edge. That is what lets
:func:`genseg_remote_sensing.synthetic.write_scene` write a 20,000² scene in memory bounded
by its block size, and the small sample scenes are simply one-window scenes.

The reflectances are typical surface-reflectance values for Sentinel-2's blue, green, red
and NIR bands (B2, B3, B4, B8): open water is dark in the NIR, green vegetation reflects
strongly in the NIR and absorbs red, roofs are bright in every band, bare soil brightens
steadily from blue to NIR. Each class is modulated by a real photographed texture from
``skimage.data`` (grass, gravel, brick), so classes differ in texture as well as in colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BUILDING, ROAD, WATER, FOREST, FARMLAND, GRASSLAND, BARREN = range(1, 8)
CLASSES: dict[int, str] = {
    BUILDING: "building",
    ROAD: "road",
    WATER: "water",
    FOREST: "forest",
    FARMLAND: "farmland",
    GRASSLAND: "grassland",
    BARREN: "barren land",
}
"""Label value → class name (names are terms of the plugin's vocabulary)."""

BANDS = ("blue", "green", "red", "nir")
WAVELENGTHS_NM = (490, 560, 665, 842)
"""Central wavelengths of Sentinel-2 B2, B3, B4 and B8, which the four bands imitate."""

SIGNATURES: dict[int, tuple[float, float, float, float]] = {
    BUILDING: (0.17, 0.18, 0.20, 0.25),
    ROAD: (0.08, 0.09, 0.10, 0.12),
    WATER: (0.06, 0.05, 0.03, 0.012),
    FOREST: (0.025, 0.045, 0.025, 0.28),
    FARMLAND: (0.035, 0.075, 0.045, 0.38),
    GRASSLAND: (0.04, 0.075, 0.055, 0.32),
    BARREN: (0.11, 0.14, 0.18, 0.26),
}
"""Mean surface reflectance (blue, green, red, nir) of each class; farmland is a full crop
canopy here and is mixed with :data:`SOIL` according to each field's cover."""

SOIL = (0.09, 0.12, 0.15, 0.21)
RED_ROOF = (0.10, 0.11, 0.20, 0.25)

TEXTURES: dict[int, tuple[str, int, float]] = {
    BUILDING: ("brick", 1, 0.12),
    ROAD: ("gravel", 3, 0.06),
    WATER: ("gravel", 1, 0.05),
    FOREST: ("grass", 1, 0.30),
    FARMLAND: ("grass", 2, 0.12),
    GRASSLAND: ("grass", 3, 0.15),
    BARREN: ("gravel", 1, 0.22),
}
"""Class → (skimage.data photo, pixel step through it, relative amplitude)."""

PARCEL_SIZE = 28  # px between field/forest parcel centres
BUILDING_CELL = 8  # px of the grid that holds at most one building per cell
NOISE_SIGMA = 0.004  # sensor noise, reflectance units
_PARCEL_CLASSES = ((0.28, FOREST), (0.64, FARMLAND), (0.86, GRASSLAND), (1.0, BARREN))
_MASK = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class Line:
    """A straight or meandering band (road, river) through a point at an angle."""

    y0: float
    x0: float
    angle: float
    width: float
    amplitude: float = 0.0
    wavelength: float = 1.0
    phase: float = 0.0

    def offset(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Signed distance (px) of each pixel from the centre line, meander included."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        dy, dx = rows[:, None] - self.y0, cols[None, :] - self.x0
        across = -dx * s + dy * c
        if self.amplitude:
            along = dx * c + dy * s
            across = across - self.amplitude * np.sin(2 * math.pi * along / self.wavelength + self.phase)
        return across

    def may_touch(self, rows: np.ndarray, cols: np.ndarray) -> bool:
        """False when the window lies certainly beyond the band (cheap culling)."""
        cy, cx = (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2
        radius = math.hypot(rows[-1] - rows[0], cols[-1] - cols[0]) / 2
        across = -(cx - self.x0) * math.sin(self.angle) + (cy - self.y0) * math.cos(self.angle)
        return abs(across) <= radius + self.amplitude + self.width + 40


@dataclass(frozen=True)
class Scene:
    """What a scene holds beyond its seed: rivers, roads, haze and an optional nodata cut."""

    seed: int
    height: int
    width: int
    rivers: tuple[Line, ...]
    roads: tuple[Line, ...]
    haze: float
    cut: tuple[float, float, float] | None  # nodata where x·a + y·b > c


def plan_scene(seed: int, height: int, width: int, nodata_border: bool = False) -> Scene:
    """Draw a scene's rivers and roads (more of them in bigger scenes) from ``seed``."""
    rng = np.random.default_rng([seed, 7])
    extent = max(height, width)

    def line(widths: tuple[float, float], meander: bool) -> Line:
        return Line(
            y0=float(rng.uniform(0, height)),
            x0=float(rng.uniform(0, width)),
            angle=float(rng.uniform(0, math.pi)),
            width=float(rng.uniform(*widths)),
            amplitude=float(rng.uniform(4, 25)) if meander else 0.0,
            wavelength=float(rng.uniform(120, 400)) if meander else 1.0,
            phase=float(rng.uniform(0, 2 * math.pi)),
        )

    rivers = tuple(line((3.0, 8.0), True) for _ in range(rng.poisson(0.6 + extent / 1000)))
    roads = tuple(line((1.6, 3.0), False) for _ in range(rng.poisson(1.0 + extent / 300)))
    haze = float(rng.uniform(0, 1))
    cut = None
    if nodata_border:  # a slanted swath edge cutting off roughly 10-30 % of the scene
        a = float(rng.uniform(0, 2 * math.pi))
        ca, sa = math.cos(a), math.sin(a)
        corners = [x * ca + y * sa for y in (0, height) for x in (0, width)]
        hi, lo = max(corners), min(corners)
        cut = (ca, sa, hi - float(rng.uniform(0.15, 0.4)) * (hi - lo))
    return Scene(seed, height, width, rivers, roads, haze, cut)


# --- hashing and noise: pure functions of (seed, salt, integer position) ---------------------


def _hash(seed: int, salt: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values from integer positions (an integer mix, no state, no tables)."""
    a = np.asarray(a, dtype=np.int64).astype(np.uint64) & _MASK
    b = np.asarray(b, dtype=np.int64).astype(np.uint64) & _MASK
    key = np.uint64((seed * 0x27D4EB2F + salt * 0x165667B1 + 0x3C6EF372) & 0xFFFFFFFF)
    h = (a * np.uint64(0x9E3779B1) + b * np.uint64(0x85EBCA77) + key) & _MASK
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & _MASK
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & _MASK
    h ^= h >> np.uint64(15)
    return (h.astype(np.float64) / 2.0**32).astype(np.float32)


def _lattice(seed: int, salt: int, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
    """Hash values on the integer grid [i0, i1) × [j0, j1)."""
    return _hash(seed, salt, np.arange(i0, i1)[:, None], np.arange(j0, j1)[None, :])


def value_noise(seed: int, salt: int, rows: np.ndarray, cols: np.ndarray, scale: float) -> np.ndarray:
    """Smooth noise in [0, 1] on the pixel grid ``rows × cols`` (lattice spacing ``scale`` px)."""
    gy, gx = np.asarray(rows, np.float64) / scale, np.asarray(cols, np.float64) / scale
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    fy, fx = (gy - iy).astype(np.float32), (gx - ix).astype(np.float32)
    grid = _lattice(seed, salt, int(iy.min()), int(iy.max()) + 2, int(ix.min()), int(ix.max()) + 2)
    a, b = iy - iy.min(), ix - ix.min()
    sy = (fy * fy * (3 - 2 * fy))[:, None]
    sx = (fx * fx * (3 - 2 * fx))[None, :]
    top = grid[a][:, b] * (1 - sx) + grid[a][:, b + 1] * sx
    bottom = grid[a + 1][:, b] * (1 - sx) + grid[a + 1][:, b + 1] * sx
    return top * (1 - sy) + bottom * sy


@lru_cache(maxsize=1)
def texture_bank() -> dict[str, np.ndarray]:
    """skimage's grass, gravel and brick photographs, standardised (mean 0, std 1)."""
    from skimage import data

    bank = {}
    for name in ("grass", "gravel", "brick"):
        photo = getattr(data, name)().astype(np.float32)
        bank[name] = (photo - photo.mean()) / photo.std()
    return bank


def _mirror(index: np.ndarray, n: int) -> np.ndarray:
    """Reflect indices into [0, n): mirrored tiling has no seams."""
    index = np.mod(index, 2 * n)
    return np.where(index < n, index, 2 * n - 1 - index)


def _texture(seed: int, cls: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    name, step, _ = TEXTURES[cls]
    photo = texture_bank()[name]
    oy, ox = (int(v * 4096) for v in _hash(seed, 40 + cls, np.arange(2), np.zeros(2)))
    iy = _mirror(np.floor(rows).astype(np.int64) * step + oy, photo.shape[0])
    ix = _mirror(np.floor(cols).astype(np.int64) * step + ox, photo.shape[1])
    return photo[iy[:, None], ix[None, :]]


# --- the land-cover map ----------------------------------------------------------------------


def _parcels(seed: int, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """Jittered-grid Voronoi parcels with warped edges: (class, brightness, cover, row phase) per pixel."""
    warp = 6.0
    wy = rows[:, None] + (value_noise(seed, 1, rows, cols, 40) - 0.5) * 2 * warp
    wx = cols[None, :] + (value_noise(seed, 2, rows, cols, 40) - 0.5) * 2 * warp
    size = PARCEL_SIZE
    wy, wx = wy.astype(np.float32), wx.astype(np.float32)
    cy0, cx0 = np.floor(wy / size).astype(np.intp), np.floor(wx / size).astype(np.intp)
    i0, i1, j0, j1 = int(cy0.min()) - 1, int(cy0.max()) + 2, int(cx0.min()) - 1, int(cx0.max()) + 2
    ncols = j1 - j0

    def grid(salt: int) -> np.ndarray:  # one value per parcel, flattened for np.take
        return _lattice(seed, salt, i0, i1, j0, j1).ravel()

    seed_y = ((np.arange(i0, i1)[:, None] + grid(11).reshape(-1, ncols)) * size).ravel()
    seed_x = ((np.arange(j0, j1)[None, :] + grid(12).reshape(-1, ncols)) * size).ravel()
    centre = (cy0 - i0) * ncols + (cx0 - j0)
    best = np.full(wy.shape, np.inf, np.float32)
    nearest = centre.copy()
    for step in (dy * ncols + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
        index = centre + step
        d = (wy - seed_y.take(index)) ** 2 + (wx - seed_x.take(index)) ** 2
        closer = d < best
        np.copyto(best, d, where=closer)
        np.copyto(nearest, index, where=closer)
    kind = grid(13).take(nearest)
    cls = np.full(kind.shape, BARREN, np.uint8)
    for upper, value in reversed(_PARCEL_CLASSES):
        cls[kind < upper] = value
    brightness = 0.85 + 0.3 * grid(14).take(nearest)
    cover = 0.35 + 0.65 * grid(15).take(nearest)
    angle = math.pi * grid(16).take(nearest)
    period = 3.0 + 3.0 * grid(17).take(nearest)
    phase = (cols[None, :] * np.cos(angle) + rows[:, None] * np.sin(angle)) / period
    return cls, brightness, cover, phase


def _buildings(seed: int, scene: Scene, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most one rectangular roof per grid cell, in settlements (noise, denser near roads).

    Returns the building mask and each roof's red-tile share (0 concrete … 1 red tiles).
    """
    cell = BUILDING_CELL
    r_cell, c_cell = np.floor(rows / cell).astype(np.int64), np.floor(cols / cell).astype(np.int64)
    i0, i1, j0, j1 = int(r_cell.min()), int(r_cell.max()) + 1, int(c_cell.min()), int(c_cell.max()) + 1
    centre_r, centre_c = (np.arange(i0, i1) + 0.5) * cell, (np.arange(j0, j1) + 0.5) * cell
    zone = value_noise(seed, 30, centre_r, centre_c, 90)
    near = [r for r in scene.roads if r.may_touch(centre_r, centre_c)]
    if near:
        distance = np.min([np.abs(r.offset(centre_r, centre_c)) for r in near], axis=0)
        zone = zone + 0.3 * np.exp(-distance / 12)
    grids = {salt: _lattice(seed, salt, i0, i1, j0, j1) for salt in (31, 32, 33, 34, 35, 36)}
    present = (zone > 0.68) & (grids[31] < 0.75)
    h = 3 + np.floor(grids[32] * 3)
    w = 3 + np.floor(grids[33] * 3)
    top = np.floor(grids[34] * (cell - h + 1))
    left = np.floor(grids[35] * (cell - w + 1))
    a, b = r_cell - i0, c_cell - j0
    ly = (rows - r_cell * cell)[:, None]
    lx = (cols - c_cell * cell)[None, :]

    def at(grid: np.ndarray) -> np.ndarray:
        return grid[a][:, b]

    t, lft = at(top), at(left)
    inside = at(present) & (ly >= t) & (ly < t + at(h)) & (lx >= lft) & (lx < lft + at(w))
    return inside, at(grids[36])


def render(scene: Scene, row_off: int, col_off: int, height: int, width: int) -> tuple[np.ndarray, ...]:
    """Reflectance (4×h×w float32), label (h×w uint8) and validity (h×w bool) of one window."""
    seed = scene.seed
    rows = np.arange(row_off, row_off + height, dtype=np.float64) + 0.5
    cols = np.arange(col_off, col_off + width, dtype=np.float64) + 0.5
    label, brightness, cover, phase = _parcels(seed, rows, cols)

    lakes = 0.65 * value_noise(seed, 20, rows, cols, 120) + 0.35 * value_noise(seed, 21, rows, cols, 45)
    water = lakes > 0.78
    for river in scene.rivers:
        if river.may_touch(rows, cols):
            water |= np.abs(river.offset(rows, cols)) < river.width / 2
    label[water] = WATER
    roofs, red_share = _buildings(seed, scene, rows, cols)
    roofs &= ~water
    label[roofs] = BUILDING
    for road in scene.roads:  # over water they are bridges
        if road.may_touch(rows, cols):
            label[np.abs(road.offset(rows, cols)) < road.width / 2] = ROAD

    table = np.zeros((8, 4), np.float32)
    for value, signature in SIGNATURES.items():
        table[value] = signature
    spectrum = table[label]  # h×w×4
    farm = label == FARMLAND
    if farm.any():
        rowsine = 0.5 + 0.5 * np.sin(2 * math.pi * phase[farm])
        c = (cover[farm] * (0.7 + 0.3 * rowsine))[:, None]
        spectrum[farm] = c * table[FARMLAND] + (1 - c) * np.asarray(SOIL, np.float32)
    roof_mix = red_share[roofs][:, None]
    spectrum[roofs] = (1 - roof_mix) * table[BUILDING] + roof_mix * np.asarray(RED_ROOF, np.float32)

    factor = np.ones(label.shape, np.float32)
    parcel = np.isin(label, (FOREST, FARMLAND, GRASSLAND, BARREN))
    factor[parcel] = brightness[parcel]
    factor[roofs] = 0.8 + 0.5 * red_share[roofs]
    for cls in np.unique(label):
        if cls in TEXTURES:
            sel = label == cls
            factor[sel] *= 1 + TEXTURES[int(cls)][2] * _texture(seed, int(cls), rows, cols)[sel]

    reflectance = spectrum.transpose(2, 0, 1) * factor[None]
    haze = np.asarray((0.012, 0.007, 0.004, 0.001), np.float32) * scene.haze
    reflectance += haze[:, None, None]
    noise = np.random.default_rng([seed, row_off, col_off]).standard_normal(reflectance.shape, np.float32)
    reflectance = np.clip(reflectance + NOISE_SIGMA * noise, 1e-4, 1.0)

    valid = np.ones(label.shape, bool)
    if scene.cut is not None:
        a, b, c = scene.cut
        valid = (cols[None, :] * a + rows[:, None] * b) <= c
        label[~valid] = 0
    return reflectance, label, valid


__all__ = [
    "BANDS",
    "CLASSES",
    "SIGNATURES",
    "TEXTURES",
    "WAVELENGTHS_NM",
    "Line",
    "Scene",
    "plan_scene",
    "render",
    "texture_bank",
    "value_noise",
]
