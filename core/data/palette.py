"""genseg's class colours: one palette for overlay legends, palette PNG masks and figures.

A class (the i-th prompt) has the same colour in every picture genseg makes, so a person
matches a mask file to its overlay by colour. The colours are Sasha Trubetskoy's distinct
set, ordered so that the first ones stay visible on the images genseg segments. Measured as
CIEDE2000 between a 45 % tint and the pixel under it (10th percentile over pixels of the
sample data): green is the worst colour of the set over crops (9), so it comes late; red,
yellow, cyan and magenta are at least 20 over crops, Landsat vegetation and water, and 22 on
CT, and at least 28 apart from each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

OVERLAY_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),  # red
    (255, 225, 25),  # yellow
    (70, 240, 240),  # cyan
    (240, 50, 230),  # magenta
    (0, 130, 200),  # blue
    (245, 130, 48),  # orange
    (145, 30, 180),  # purple
    (60, 180, 75),  # green: vanishes over vegetation
    (250, 190, 190),  # pink
    (210, 245, 60),  # lime: close to yellow
)
"""Colour of the i-th prompt (0-based, cycled beyond ten), 8-bit RGB."""

BACKGROUND = (0, 0, 0)
"""Colour of label value 0 in a palette PNG."""


def class_colour(index: int) -> tuple[int, int, int]:
    """The colour of prompt ``index`` (0-based)."""
    return OVERLAY_COLOURS[index % len(OVERLAY_COLOURS)]


def label_palette(colours: Mapping[int, Iterable[int]] | None = None) -> list[int]:
    """A 256-entry PNG palette (768 ints) for a label map: 0 black, value v the colour of
    prompt v - 1, with ``colours`` (label value → RGB) taking precedence, so a writer told
    each class's colour uses it and any other value still shows in a colour."""
    table = [BACKGROUND] + [class_colour(v - 1) for v in range(1, 256)]
    for value, rgb in (colours or {}).items():
        if not 0 <= int(value) <= 255:
            raise ValueError(f"label value {value} has no palette entry (0..255)")
        r, g, b = (int(c) for c in rgb)
        table[int(value)] = (r, g, b)
    return [c for rgb in table for c in rgb]
