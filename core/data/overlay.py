"""Pictures for people: masks tinted over their image with a legend, and uncertainty maps
in a colour map with a scale bar.

Both are pictures, not data: a small image is enlarged by a whole factor (nearest
neighbour, so each input pixel stays a visible block), text is sized to the picture, and
the legend or scale sits in a strip under the image so it never hides pixels. Each is
written atomically (a crash never leaves half a picture).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genseg.data.atomic import atomic_write
from genseg.data.palette import class_colour
from genseg.extras import require

OVERLAY_BAND_PIXELS = 1 << 20
"""Pixels of an overlay coloured at a time, in whole rows (bounds its memory on large images:
a band's float copies take about 40 MB, however wide the image)."""

MIN_LONG_SIDE = 384
"""Pictures whose longer side is shorter are enlarged by a whole factor to at least this."""

MIN_FONT = 12
"""Smallest legend text, in picture pixels."""

FONT_PER_PIXEL = 1 / 50
"""Legend text height per pixel of the picture's longer side: a picture shrunk to fit a
screen or a page keeps its legend about as readable as at full size."""

UNCERTAINTY_MAX = 0.5
"""Top of the uncertainty scale: the largest standard deviation values in [0, 1] can have."""

UNCERTAINTY_LABEL = "std of the ensemble's probabilities, max over prompts"

UNCERTAINTY_COLORMAP = "viridis"


@dataclass(frozen=True)
class Mark:
    """Text drawn on the picture at (x, y) in the given image's pixels, e.g. orientation
    letters; ``anchor`` is Pillow's text anchor ("mm": centred)."""

    x: float
    y: float
    text: str
    anchor: str = "mm"


def enlargement(height: int, width: int) -> int:
    """The whole factor a ``height``×``width`` picture is enlarged by (1 for large ones)."""
    return max(1, -(-MIN_LONG_SIDE // max(height, width, 1)))


def legend_font_size(height: int, width: int) -> int:
    """Text height for a picture of ``height``×``width`` pixels: grows with its longer side."""
    return max(MIN_FONT, round(max(height, width) * FONT_PER_PIXEL))


def legend_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size`` pixels (Pillow ≥ 10.1 scales it)."""
    return ImageFont.load_default(size=size)


def _enlarge(array: np.ndarray, factor: int) -> np.ndarray:
    return array if factor == 1 else np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def to_rgb_uint8(image: np.ndarray, keep_gray: bool = False) -> np.ndarray:
    """A float [0, 1] H×W, H×W×1 or H×W×3 image as 8-bit (RGB unless ``keep_gray``)."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2 and not keep_gray:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"expected an H×W, H×W×1 or H×W×3 image, got shape {np.asarray(image).shape}")
    return (np.clip(np.nan_to_num(img), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _draw_marks(canvas: Image.Image, marks: Iterable[Mark], factor: int, size: int) -> None:
    """White text with a black rim, readable over any pixels."""
    draw = ImageDraw.Draw(canvas)
    font = legend_font(size)
    for m in marks:
        xy = (m.x * factor, m.y * factor)
        draw.text(xy, m.text, fill=(255, 255, 255), font=font, anchor=m.anchor,
                  stroke_width=max(1, size // 8), stroke_fill=(0, 0, 0))  # fmt: skip


def _text_width(font, text: str) -> int:
    return int(np.ceil(font.getlength(text)))


def write_overlay_png(
    path: str | Path,
    image: np.ndarray,
    masks: Sequence[np.ndarray],
    names: Sequence[str],
    alpha: float = 0.45,
    notes: Sequence[str] = (),
    marks: Sequence[Mark] = (),
) -> Path:
    """Write the image with each mask tinted and outlined in its class colour
    (:mod:`genseg.data.palette`), plus a legend strip under the image: a swatch and name per
    mask, then ``notes`` (e.g. how a volume is shown). ``marks`` are drawn on the image. An
    image of more than three bands is shown by its first three, where genseg's domains put
    red, green and blue."""
    if len(masks) != len(names):
        raise ValueError(f"{len(masks)} masks but {len(names)} names")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] > 3:
        image = image[:, :, :3]
    h, w = image.shape[:2]
    prepared = []
    for i, m in enumerate(masks):
        m = np.asarray(m)
        m = m.squeeze() if m.ndim > 2 else m
        if m.shape != (h, w):
            raise ValueError(f"mask {names[i]!r} has shape {m.shape}, image is {(h, w)}")
        prepared.append(m)
    factor = enlargement(h, w)
    if factor > 1:  # a small picture: the copies are small too
        image, prepared = _enlarge(image, factor), [_enlarge(m, factor) for m in prepared]
        h, w = h * factor, w * factor
    size = legend_font_size(h, w)
    font = legend_font(size)
    line_h, pad = round(size * 1.35), max(2, size // 3)
    lines = [str(n) for n in names] + [str(n) for n in notes]
    text_w = max((_text_width(font, t) for t in lines), default=0) + size + 3 * pad
    legend_h = line_h * len(lines) + (2 * pad if lines else 0)
    canvas = Image.new("RGB", (max(w, text_w), h + legend_h), (0, 0, 0))
    # in bands of rows pasted straight into the canvas, so a large image needs the canvas and no
    # other full-size copy (uint8 or float)
    band_rows = max(1, OVERLAY_BAND_PIXELS // max(w, 1))
    for top in range(0, h, band_rows):
        rows = slice(top, min(h, top + band_rows))
        halo = slice(max(0, top - 1), min(h, top + band_rows + 1))  # outlines need the next rows
        inner = slice(rows.start - halo.start, rows.stop - halo.start)
        rgb = to_rgb_uint8(image[rows]).astype(np.float32)
        for i, m in enumerate(prepared):
            band = m[halo] > 0.5 if np.issubdtype(m.dtype, np.floating) else m[halo].astype(bool)
            colour = np.array(class_colour(i), dtype=np.float32)
            inside = band[inner]
            rgb[inside] = (1.0 - alpha) * rgb[inside] + alpha * colour
            rgb[_outline(band)[inner]] = colour
        canvas.paste(Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8)), (0, top))
    _draw_marks(canvas, marks, factor, size)
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(lines):
        y = h + pad + i * line_h
        if i < len(names):
            box = round(size * 0.8)
            top = y + (line_h - box) // 2
            draw.rectangle((pad, top, pad + box, top + box), fill=class_colour(i))
        draw.text((2 * pad + size, y + line_h // 2), text, font=font, anchor="lm",
                  fill=(255, 255, 255) if i < len(names) else (200, 200, 200))  # fmt: skip
    return atomic_write(Path(path), lambda tmp: canvas.save(tmp, format="PNG"))


def colormap_lut(name: str = UNCERTAINTY_COLORMAP) -> np.ndarray:
    """256×3 uint8 colours of a matplotlib colour map."""
    colormaps = require("matplotlib").colormaps  # genseg[plots]
    return (colormaps[name].resampled(256)(np.arange(256))[:, :3] * 255 + 0.5).astype(np.uint8)


UNCERTAINTY_GAMMA = 0.5
"""Colour position = (value / top) ** gamma: a square-root scale, so the small spreads of a
confident model still show, while the scale stays fixed and reaches the largest value."""


def _scale_ticks(vmax: float, gamma: float) -> list[float]:
    """Round values from 0 to ``vmax``, about evenly spaced along the bar."""
    magnitude = 10 ** np.floor(np.log10(vmax))
    candidates = sorted({float(round(m * magnitude * f, 12)) for m in (1, 2, 3, 5) for f in (0.01, 0.1, 1)})
    ticks, last = [0.0], 0.0
    for t in candidates:
        at = (t / vmax) ** gamma
        if t < vmax and at - last >= 0.12 and 1 - at >= 0.12:
            ticks.append(t)
            last = at
    return [*ticks, float(vmax)]


def write_uncertainty_png(
    path: str | Path,
    uncertainty: np.ndarray,
    vmax: float = UNCERTAINTY_MAX,
    colormap: str = UNCERTAINTY_COLORMAP,
    gamma: float = UNCERTAINTY_GAMMA,
    label: str = UNCERTAINTY_LABEL,
    marks: Sequence[Mark] = (),
) -> Path:
    """Write an H×W map of values in [0, ``vmax``] in ``colormap`` with a scale bar (ticks
    and what the values are) in a strip under it, atomically. The scale is fixed, not
    stretched to the data, so two maps compare by colour; colour position is
    ``(value / vmax) ** gamma``. The PNG's text chunks repeat the colour map, range and scale
    (``genseg:colormap``, ``genseg:range``, ``genseg:gamma``) for programs."""
    from PIL.PngImagePlugin import PngInfo

    values = np.asarray(uncertainty)
    if values.ndim != 2:
        raise ValueError(f"expected an H×W uncertainty map, got shape {values.shape}")
    if not vmax > 0:
        raise ValueError(f"the scale's top must be positive, got {vmax}")
    lut = colormap_lut(colormap)
    h, w = values.shape
    factor = enlargement(h, w)
    h, w = h * factor, w * factor
    size = legend_font_size(h, w)
    font = legend_font(size)
    pad, bar_h = max(2, size // 3), max(8, size)
    ticks = _scale_ticks(vmax, gamma)
    scale = "linear" if gamma == 1 else "square-root" if gamma == 0.5 else f"power {gamma:g}"
    captions = [label, f"{colormap}, {scale} colour scale"]
    text_w = max(_text_width(font, c) for c in captions) + 2 * pad
    canvas = Image.new("RGB", (max(w, text_w), h + 4 * pad + bar_h + 3 * round(size * 1.35)), (0, 0, 0))
    band_rows = max(1, OVERLAY_BAND_PIXELS // max(w, 1)) // factor * factor or factor
    for top in range(0, h, band_rows):
        part = values[top // factor : (top + band_rows) // factor]
        position = np.clip(np.nan_to_num(part.astype(np.float32)) / vmax, 0, 1) ** gamma
        index = np.rint(position * 255).astype(np.uint8)
        canvas.paste(Image.fromarray(_enlarge(lut[index], factor)), (0, top))
    _draw_marks(canvas, marks, factor, size)
    draw = ImageDraw.Draw(canvas)
    left, right = pad + size // 2, max(w, text_w) - pad - size
    right = max(right, left + 64)
    bar = lut[np.linspace(0, 255, right - left).round().astype(int)]
    y = h + 2 * pad
    canvas.paste(Image.fromarray(np.repeat(bar[None], bar_h, axis=0)), (left, y))
    for t in ticks:
        x = left + round((right - left - 1) * (t / vmax) ** gamma)
        draw.line((x, y + bar_h, x, y + bar_h + pad), fill=(255, 255, 255))
        draw.text((x, y + bar_h + pad), f"{t:g}", font=font, anchor="ma", fill=(255, 255, 255))
    for n, line in enumerate(captions):
        text_y = y + bar_h + pad + round(size * 1.35) * (n + 1)
        draw.text((pad, text_y), line, font=font, anchor="la", fill=(200, 200, 200))
    info = PngInfo()
    info.add_text("genseg:colormap", colormap)
    info.add_text("genseg:range", f"0 {vmax:g}")
    info.add_text("genseg:gamma", f"{gamma:g}")
    info.add_text("genseg:quantity", label)
    return atomic_write(Path(path), lambda tmp: canvas.save(tmp, format="PNG", pnginfo=info))
