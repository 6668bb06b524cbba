"""Field scenes and diseased leaves drawn from real photographs, for the sample datasets.

Nothing here is a photograph of a field or a leaf, but every surface is a real texture:
soil is skimage's *gravel* photo tinted to soil colours, plant tissue its *grass* photo
tinted green, and leaves lie on the out-of-focus foliage of scikit-learn's *flower.jpg* (or
on soil). Shapes carry the task: crop plants are rosettes set at regular spacing along
parallel rows, weeds are smaller grass-like or broadleaf plants scattered mostly between
the rows, so telling weed from crop needs position and shape, not only colour. Reflectances
are chosen so that vegetation is dark in red and bright in near-infrared, as in real
imagery, which makes NDVI separate plants from soil. Every draw comes from the ``rng``
passed in, so a seed gives the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

CROP, WEED, PARTIAL_CROP, PARTIAL_WEED = 1, 2, 3, 4
"""Field label values, as in PhenoBench's semantics maps (0 is soil)."""
DISEASES = ("rust", "blight", "mildew", "healthy")
_DISEASE_P = (0.35, 0.3, 0.25, 0.1)
# The left and right strips of flower.jpg (427×640) hold only blurred foliage, no flower.
_FOLIAGE_BOXES = ((0, 0, 160, 427), (485, 0, 640, 427))


@dataclass(frozen=True)
class FieldScene:
    rgb: np.ndarray  # H×W×3 float32 in [0, 1]
    nir: np.ndarray  # H×W float32 in [0, 1]
    label: np.ndarray  # H×W uint8: 0 soil, 1 crop, 2 weed, 3/4 crop/weed cut by the border


@dataclass(frozen=True)
class LeafImage:
    rgb: np.ndarray  # H×W×3 float32 in [0, 1]
    lesion: np.ndarray  # H×W bool, inside the leaf
    leaf: np.ndarray  # H×W bool
    disease: str


def flower_photo_path() -> Path:
    """scikit-learn's flower.jpg, found without importing scikit-learn."""
    from importlib.util import find_spec

    spec = find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError("the leaf sample data needs scikit-learn's flower.jpg: pip install scikit-learn")
    return Path(spec.origin).parent / "datasets" / "images" / "flower.jpg"


@lru_cache(maxsize=1)
def texture_bank() -> dict[str, np.ndarray]:
    """The real photographs the scenes are made of, as float32 in [0, 1]."""
    from PIL import Image
    from skimage import data

    bank = {name: getattr(data, name)().astype(np.float32) / 255.0 for name in ("grass", "gravel")}
    with Image.open(flower_photo_path()) as im:
        bank["flower"] = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return bank


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if array.ndim == 2:
        return np.asarray(Image.fromarray(array, mode="F").resize((size, size), Image.BILINEAR))
    planes = [_resize(np.ascontiguousarray(array[..., i]), size) for i in range(array.shape[2])]
    return np.stack(planes, axis=-1)


def texture_patch(
    source: np.ndarray, size: int, rng: np.random.Generator, zoom: tuple[float, float]
) -> np.ndarray:
    """A random crop of ``source`` (``zoom`` × its shorter side) resized to size², randomly flipped."""
    side = min(source.shape[:2])
    crop = int(np.clip(rng.uniform(*zoom) * side, 8, side))
    y, x = rng.integers(0, source.shape[0] - crop + 1), rng.integers(0, source.shape[1] - crop + 1)
    patch = _resize(np.ascontiguousarray(source[y : y + crop, x : x + crop]), size)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if rng.random() < 0.5:
        patch = patch[::-1]
    return patch


def _standardise(texture: np.ndarray) -> np.ndarray:
    """Zero mean, unit spread (so tints set the brightness and the photo only the pattern)."""
    return (texture - texture.mean()) / (texture.std() + 1e-6)


def smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a cells² random grid interpolated up to size²."""
    grid = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    return _resize(grid, size)


def _ellipse(
    mask: np.ndarray, centre: tuple[float, float], long: float, short: float, angle: float, origin=(0, 0)
) -> None:
    """OR a filled ellipse (semi-axes ``long`` along ``angle``, ``short`` across) into ``mask``,
    whose pixel (0, 0) lies at ``origin`` in image coordinates."""
    h, w = mask.shape
    cy, cx = centre[0] - origin[0], centre[1] - origin[1]
    reach = long + 1.0
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, h)
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, w)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    mask[y0:y1, x0:x1] |= (u / max(long, 0.5)) ** 2 + (v / max(short, 0.5)) ** 2 <= 1.0


@dataclass(frozen=True)
class _Stamp:
    """A plant's mask within its bounding window ``[y0:y0+h, x0:x0+w]`` of the image."""

    y0: int
    x0: int
    mask: np.ndarray

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.mask.shape[0]), slice(self.x0, self.x0 + self.mask.shape[1])

    def touches_border(self, size: int) -> bool:
        m = self.mask
        return bool(
            (self.y0 == 0 and m[0].any())
            or (self.x0 == 0 and m[:, 0].any())
            or (self.y0 + m.shape[0] == size and m[-1].any())
            or (self.x0 + m.shape[1] == size and m[:, -1].any())
        )


def _plant(size: int, centre: tuple[float, float], leaves: int, long: float, short: float, rng) -> _Stamp:
    """A rosette: ``leaves`` ellipses radiating from ``centre``, drawn in its own window."""
    reach = int(2.5 * long) + 3
    y0, x0 = max(int(centre[0]) - reach, 0), max(int(centre[1]) - reach, 0)
    y1, x1 = min(int(centre[0]) + reach, size), min(int(centre[1]) + reach, size)
    angle = (
        rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(leaves) / leaves + rng.uniform(-0.3, 0.3, leaves)
    )
    length = long * rng.uniform(0.75, 1.15, leaves)
    width = np.maximum(short * rng.uniform(0.8, 1.2, leaves), 0.5)
    cy = centre[0] - y0 + 0.85 * length * np.sin(angle)
    cx = centre[1] - x0 + 0.85 * length * np.cos(angle)
    if y1 <= y0 or x1 <= x0:
        return _Stamp(y0, x0, np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), bool))
    yy, xx = np.ogrid[: y1 - y0, : x1 - x0]
    k = (slice(None), None, None)  # leaves along the first axis
    dy, dx = yy[None] - cy[k], xx[None] - cx[k]
    u = dx * np.cos(angle)[k] + dy * np.sin(angle)[k]
    v = -dx * np.sin(angle)[k] + dy * np.cos(angle)[k]
    mask = ((u / np.maximum(length, 0.5)[k]) ** 2 + (v / width[k]) ** 2 <= 1.0).any(axis=0)
    return _Stamp(y0, x0, mask)


def _row_positions(
    size: int, rng: np.random.Generator
) -> tuple[list[tuple[float, float]], float, np.ndarray]:
    """Crop plant centres along parallel rows, the row spacing, and each pixel's distance to a row."""
    theta = rng.uniform(0, np.pi)
    normal = np.array([np.sin(theta), np.cos(theta)])  # (dy, dx) across the rows
    along = np.array([normal[1], -normal[0]])
    spacing = rng.uniform(0.22, 0.32) * size
    phase = rng.uniform(0, spacing)
    step = rng.uniform(0.09, 0.13) * size
    centre = np.array([size / 2, size / 2])
    positions = []
    for k in range(-int(size / spacing) - 2, int(size / spacing) + 3):
        base = centre + (k * spacing + phase) * normal
        for s in np.arange(-size, size, step):
            if rng.random() < 0.08:  # a planter skip
                continue
            p = base + s * along + rng.normal(0, 0.012 * size, 2)
            if -0.05 * size <= p[0] < 1.05 * size and -0.05 * size <= p[1] < 1.05 * size:
                positions.append((float(p[0]), float(p[1])))
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    across = (yy - centre[0]) * normal[0] + (xx - centre[1]) * normal[1] - phase
    distance = np.abs((across + spacing / 2) % spacing - spacing / 2)
    return positions, spacing, distance


def render_field(rng: np.random.Generator, size: int = 128) -> FieldScene:
    """One field image (RGB + NIR) with crop rows, weeds and soil, and its PhenoBench-style label."""
    bank = texture_bank()
    soil_tex = _standardise(texture_patch(bank["gravel"], size, rng, (0.3, 0.8)))
    moisture = 1.0 + 0.12 * smooth_noise(size, 4, rng)
    soil_colour = np.array([0.46, 0.35, 0.25]) * rng.uniform(0.8, 1.15) * rng.uniform(0.93, 1.07, 3)
    shade = np.clip(1.0 + 0.22 * soil_tex, 0.4, 1.6) * moisture
    rgb = soil_colour[None, None, :] * shade[..., None]
    nir = soil_colour[0] * rng.uniform(1.15, 1.35) * shade
    label = np.zeros((size, size), np.uint8)

    positions, spacing, row_distance = _row_positions(size, rng)
    growth = rng.uniform(0.8, 1.25)
    plants: list[tuple[_Stamp, int, np.ndarray, float]] = []
    crop_colour = np.array([0.14, 0.42, 0.1]) * rng.uniform(0.85, 1.15)
    for p in positions:
        long = rng.uniform(0.03, 0.045) * size * growth
        stamp = _plant(size, p, int(rng.integers(4, 7)), long, long * rng.uniform(0.35, 0.5), rng)
        plants.append((stamp, CROP, crop_colour * rng.uniform(0.92, 1.08, 3), rng.uniform(0.55, 0.72)))
    n_weeds = int(rng.integers(5, 16) * (size / 128) ** 2)
    for _ in range(n_weeds):
        for _try in range(4):  # weeds grow mostly between the rows
            y, x = rng.uniform(0, size, 2)
            if row_distance[int(y), int(x)] > 0.25 * spacing or rng.random() < 0.3:
                break
        if rng.random() < 0.5:  # grass-like weed: long narrow leaves
            long = rng.uniform(0.03, 0.06) * size
            stamp = _plant(size, (y, x), int(rng.integers(3, 7)), long, long * rng.uniform(0.08, 0.15), rng)
        else:  # small broadleaf weed
            long = rng.uniform(0.012, 0.025) * size
            stamp = _plant(size, (y, x), int(rng.integers(2, 5)), long, long * rng.uniform(0.6, 0.9), rng)
        tint = np.array([0.26, 0.46, 0.1]) if rng.random() < 0.5 else np.array([0.14, 0.33, 0.12])
        plants.append((stamp, WEED, tint * rng.uniform(0.9, 1.1, 3), rng.uniform(0.45, 0.6)))

    leaf_tex = _standardise(texture_patch(bank["grass"], size, rng, (0.15, 0.4)))
    leaf_shade = np.clip(1.0 + 0.18 * leaf_tex, 0.5, 1.5)
    for stamp, kind, colour, nir_level in plants:
        mask = stamp.mask
        if not mask.any():
            continue
        window = stamp.window
        shade = leaf_shade[window][mask]
        rgb[window][mask] = colour[None, :] * shade[:, None]
        nir[window][mask] = nir_level * shade
        partial = stamp.touches_border(size)
        label[window][mask] = {CROP: PARTIAL_CROP, WEED: PARTIAL_WEED}[kind] if partial else kind
    rgb = _blur(rgb, 0.6) + rng.normal(0, 0.01, rgb.shape)
    nir = _blur(nir, 0.6) + rng.normal(0, 0.01, nir.shape)
    return FieldScene(np.clip(rgb, 0, 1).astype(np.float32), np.clip(nir, 0, 1).astype(np.float32), label)


def _blur(array: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigmas = (sigma, sigma, 0) if array.ndim == 3 else sigma
    return gaussian_filter(array.astype(np.float32), sigmas)


def _leaf_shape(
    size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """An ovate leaf, its petiole, each pixel's position along and across the leaf, and its half length."""
    from PIL import Image, ImageDraw

    half_long = rng.uniform(0.34, 0.44) * size
    half_wide = half_long * rng.uniform(0.42, 0.6)
    angle = rng.uniform(0, 2 * np.pi)
    cy, cx = size / 2 + rng.uniform(-0.06, 0.06, 2) * size
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    u = half_long * np.cos(t)
    v = half_wide * np.sin(t) * (1.0 - 0.28 * np.cos(t)) * (1.0 - 0.25 * np.clip(np.cos(t), 0, 1) ** 3)
    ys, xs = cy + u * np.sin(angle) + v * np.cos(angle), cx + u * np.cos(angle) - v * np.sin(angle)
    canvas = Image.new("1", (size, size), 0)
    ImageDraw.Draw(canvas).polygon(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=1)
    leaf = np.asarray(canvas, dtype=bool)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    along = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    across = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    petiole = (
        (along < -half_long * 0.95) & (along > -half_long - 0.14 * size) & (np.abs(across) < 0.012 * size)
    )
    return leaf, petiole, along, across, half_long


def _lesions(disease: str, leaf: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Lesion masks (inside ``leaf``) for one disease: rust pustules, blight patches or mildew."""
    ys, xs = np.nonzero(leaf)
    if disease == "healthy" or ys.size == 0:
        return []

    def inside_point() -> tuple[float, float]:
        i = rng.integers(ys.size)
        return float(ys[i]), float(xs[i])

    out = []
    if disease == "rust":
        for _ in range(int(rng.integers(1, 4))):
            centre = inside_point()
            mask = np.zeros_like(leaf)
            for _ in range(int(rng.integers(8, 26))):
                p = (centre[0] + rng.normal(0, 0.08 * size), centre[1] + rng.normal(0, 0.08 * size))
                radius = rng.uniform(0.007, 0.018) * size + 0.4
                _ellipse(mask, p, radius, radius, 0.0)
            out.append(mask & leaf)
    elif disease == "blight":
        for _ in range(int(rng.integers(1, 4))):
            centre = inside_point()
            mask = np.zeros_like(leaf)
            for _ in range(int(rng.integers(3, 7))):
                p = (centre[0] + rng.normal(0, 0.04 * size), centre[1] + rng.normal(0, 0.04 * size))
                radius = rng.uniform(0.035, 0.075) * size
                _ellipse(mask, p, radius, radius * rng.uniform(0.7, 1.0), rng.uniform(0, np.pi))
            out.append(mask & leaf)
    else:  # mildew: powdery patches with ragged edges
        yy, xx = np.mgrid[:size, :size].astype(np.float32)
        for _ in range(int(rng.integers(2, 6))):
            cy, cx = inside_point()
            radius = rng.uniform(0.05, 0.11) * size
            falloff = 1.0 - np.hypot(yy - cy, xx - cx) / radius
            out.append((falloff + 0.35 * smooth_noise(size, 12, rng) > 0.3) & leaf)
    return [m for m in out if m.any()]


def render_leaf(rng: np.random.Generator, size: int = 128) -> LeafImage:
    """One leaf photo on foliage or soil, with lesions of one disease (or none), and the lesion mask."""
    bank = texture_bank()
    if rng.random() < 0.6:
        x0, y0, x1, y1 = _FOLIAGE_BOXES[int(rng.integers(len(_FOLIAGE_BOXES)))]
        background = texture_patch(bank["flower"][y0:y1, x0:x1], size, rng, (0.6, 1.0))
    else:
        soil = np.array([0.46, 0.35, 0.25]) * rng.uniform(0.7, 1.1)
        grain = _standardise(texture_patch(bank["gravel"], size, rng, (0.2, 0.6)))
        background = soil[None, None, :] * np.clip(1.0 + 0.25 * grain, 0.3, 1.7)[..., None]
    rgb = background.astype(np.float32)

    leaf, petiole, along, across, half_long = _leaf_shape(size, rng)
    mottle = _standardise(_blur(texture_patch(bank["grass"], size, rng, (0.2, 0.5)), 1.5))
    green = np.array([0.2, 0.45, 0.12]) * rng.uniform(0.8, 1.15) * rng.uniform(0.95, 1.05, 3)
    light = 1.0 + 0.12 * mottle + 0.1 * np.tanh(across / (0.2 * size))
    surface = green[None, None, :] * light[..., None]
    vein_colour = np.array([0.45, 0.62, 0.32])
    veins = (np.abs(across) < 0.011 * size) & (along > -half_long)
    for k in range(1, 6):  # secondary veins leave the midrib at about 50°
        start = -half_long + k * 2 * half_long / 6
        for side in (1, -1):
            distance = np.abs(np.sin(0.87) * (along - start) - np.cos(0.87) * side * across)
            veins |= (distance < 0.006 * size) & (side * across > 0) & (along > start)
    surface[veins] = 0.55 * surface[veins] + 0.45 * vein_colour
    rgb[leaf] = surface[leaf]
    rgb[petiole] = vein_colour * 0.8

    disease = DISEASES[int(rng.choice(len(DISEASES), p=_DISEASE_P))]
    lesion = np.zeros_like(leaf)
    for mask in _lesions(disease, leaf, size, rng):
        if disease == "rust":
            colour = np.array([0.78, 0.45, 0.13]) * rng.uniform(0.85, 1.1)
            rgb[mask] = colour * (0.85 + 0.15 * light[mask, None])
        elif disease == "blight":
            halo = _blur(mask.astype(np.float32), 0.025 * size) > 0.05
            ring = halo & leaf & ~mask
            rgb[ring] = 0.5 * rgb[ring] + 0.5 * np.array([0.72, 0.68, 0.22])
            yy, xx = np.nonzero(mask)
            centre = (yy.mean(), xx.mean())
            gy, gx = np.mgrid[:size, :size]
            rings = 0.85 + 0.15 * np.sin(np.hypot(gy - centre[0], gx - centre[1]) / (0.012 * size))
            rgb[mask] = np.array([0.36, 0.24, 0.11]) * rings[mask, None] * rng.uniform(0.85, 1.15)
        else:
            powder = np.clip(0.75 + 0.2 * rng.normal(0, 1, mask.sum()), 0, 1)[:, None]
            rgb[mask] = (1 - powder) * rgb[mask] + powder * np.array([0.86, 0.88, 0.83])
        lesion |= mask
    rgb = _blur(rgb, 0.5) + rng.normal(0, 0.01, rgb.shape)
    return LeafImage(np.clip(rgb, 0, 1).astype(np.float32), lesion, leaf, disease)
