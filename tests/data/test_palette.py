"""One palette for overlays, palette PNGs and figures; its first colours stay visible over
vegetation and are told apart from each other."""

from __future__ import annotations

import numpy as np

from genseg.data.palette import OVERLAY_COLOURS, class_colour, label_palette


def _lab(rgb):
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb, float)[None] / 255.0)[0]


def _delta_e(a, b) -> np.ndarray:
    from skimage.color import deltaE_ciede2000

    return deltaE_ciede2000(_lab(a), _lab(b))


def test_the_first_colours_stay_visible_over_vegetation():
    """A 45 % tint of each of the first four colours over greens of crops and forest."""
    rng = np.random.default_rng(0)
    greens = np.clip(rng.normal((50, 110, 35), (12, 25, 10), size=(200, 3)), 0, 255)  # sunlit crops
    for colour in OVERLAY_COLOURS[:4]:
        tinted = 0.55 * greens + 0.45 * np.asarray(colour)
        assert np.percentile(_delta_e(tinted, greens), 10) > 15, colour
    green = next(c for c in OVERLAY_COLOURS if c[1] > 1.5 * max(c[0], c[2]))  # the palette's green
    assert OVERLAY_COLOURS.index(green) >= 4


def test_the_first_colours_are_told_apart():
    first = OVERLAY_COLOURS[:4]
    for i, a in enumerate(first):
        for b in first[i + 1 :]:
            assert _delta_e([a], [b])[0] > 25, (a, b)


def test_label_palette_maps_values_to_class_colours():
    table = np.asarray(label_palette()).reshape(256, 3)
    assert (table[0] == 0).all()
    for value in (1, 2, 11, 255):
        assert tuple(table[value]) == class_colour(value - 1)
    table = np.asarray(label_palette({2: (9, 8, 7)})).reshape(256, 3)
    assert tuple(table[2]) == (9, 8, 7) and tuple(table[1]) == class_colour(0)
