"""Overlay and uncertainty pictures: readable at every size, colours from the one palette,
a scale that says what the colours mean."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import genseg.data.overlay as overlay
from genseg.data.overlay import (
    Mark,
    colormap_lut,
    enlargement,
    legend_font_size,
    write_overlay_png,
    write_uncertainty_png,
)
from genseg.data.palette import class_colour


def _legend_text_height(path, image_height: int) -> int:
    """Rows of the legend strip holding white text (one legend line: its glyphs' height)."""
    strip = np.asarray(Image.open(path).convert("RGB"))[image_height:]
    rows = np.nonzero((strip > 200).all(-1).any(1))[0]  # the swatch is a colour, not white
    return int(rows.max() - rows.min() + 1)


def test_legend_text_grows_with_the_picture(tmp_path):
    heights = []
    for side in (400, 1600):
        image = np.full((side, side, 3), 0.5, np.float32)
        write_overlay_png(tmp_path / f"o{side}.png", image, [np.zeros((side, side), bool)], ["liver"])
        heights.append(_legend_text_height(tmp_path / f"o{side}.png", side))
    assert legend_font_size(1600, 1600) > legend_font_size(400, 400) >= overlay.MIN_FONT
    assert heights[1] > 2 * heights[0]  # the drawn text, not only the number, grows


def test_a_small_image_is_enlarged_and_its_legend_fits(tmp_path):
    image = np.full((32, 40, 1), 0.5, np.float32)
    masks = [np.zeros((32, 40), bool), np.zeros((32, 40), np.float32)]
    masks[0][4:10, 4:10] = True
    masks[1][:, 20:] = 0.9
    name = "a rather long class name that is wider than the picture"
    write_overlay_png(tmp_path / "o.png", image, masks, [name, "b"])
    out = np.asarray(Image.open(tmp_path / "o.png"))
    k = enlargement(32, 40)
    assert k > 1 and max(32, 40) * k >= overlay.MIN_LONG_SIDE
    assert out.shape[0] > 32 * k  # the legend strip under the enlarged image
    font = overlay.legend_font(legend_font_size(32 * k, 40 * k))
    assert out.shape[1] >= font.getlength(name)  # the canvas widens for the legend, nothing cut
    # inside each mask: grey blended with that mask's class colour
    np.testing.assert_allclose(out[6 * k, 6 * k], 0.55 * 128 + 0.45 * np.array(class_colour(0)), atol=1)
    np.testing.assert_allclose(out[20 * k, 30 * k], 0.55 * 128 + 0.45 * np.array(class_colour(1)), atol=1)
    with pytest.raises(ValueError, match="names"):
        write_overlay_png(tmp_path / "x.png", image, masks, ["a"])


def test_the_overlay_is_the_same_whatever_the_band_of_rows(tmp_path, monkeypatch):
    """Colouring in bands of rows bounds memory; outlines crossing a band's edge must not change."""
    rng = np.random.default_rng(3)
    image = rng.random((23, 17, 3), dtype=np.float32)
    masks = [rng.random((23, 17)) > 0.6, rng.random((23, 17)).astype(np.float32)]
    written = []
    width = 17 * enlargement(23, 17)
    for band_pixels in (1 << 20, width, 2 * width, 1):  # whole image, 1 row, 2 rows, 1 row (at least one)
        monkeypatch.setattr(overlay, "OVERLAY_BAND_PIXELS", band_pixels)
        write_overlay_png(tmp_path / f"o{band_pixels}.png", image, masks, ["a", "b"])
        written.append(np.asarray(Image.open(tmp_path / f"o{band_pixels}.png")))
    assert all(np.array_equal(written[0], other) for other in written[1:])


def test_a_multiband_image_is_shown_by_its_first_three_bands(tmp_path):
    image = np.zeros((400, 400, 6), np.float32)
    image[..., 0] = 1.0  # red
    image[..., 3:] = 0.7  # bands the picture cannot show
    write_overlay_png(tmp_path / "o.png", image, [np.zeros((400, 400), bool)], ["a"])
    assert tuple(np.asarray(Image.open(tmp_path / "o.png"))[10, 10]) == (255, 0, 0)


def test_marks_are_drawn_where_asked(tmp_path):
    image = np.zeros((400, 400), np.float32)
    write_overlay_png(tmp_path / "o.png", image, [], [], marks=[Mark(40, 200, "R")])
    out = np.asarray(Image.open(tmp_path / "o.png").convert("L"))[:400]
    ys, xs = np.nonzero(out > 128)
    assert 25 < xs.mean() < 55 and 185 < ys.mean() < 215


def test_uncertainty_map_in_a_colour_map_with_a_scale(tmp_path):
    ramp = np.tile(np.linspace(0, 0.5, 400, dtype=np.float32), (300, 1))
    write_uncertainty_png(tmp_path / "u.png", ramp)
    with Image.open(tmp_path / "u.png") as im:
        out = np.asarray(im.convert("RGB"))
        assert im.text["genseg:colormap"] == "viridis" and im.text["genseg:range"] == "0 0.5"
        assert float(im.text["genseg:gamma"]) == overlay.UNCERTAINTY_GAMMA
    lut = colormap_lut("viridis")
    assert out.shape[0] > 300 and out.shape[1] >= 400  # the scale sits in a strip under the map
    assert (out[150, 0] == lut[0]).all() and (out[150, 399] == lut[255]).all()
    # about a quarter of the top: the colour (1/4) ** gamma of the way along the colour map
    at = int(round((ramp[0, 100] / 0.5) ** overlay.UNCERTAINTY_GAMMA * 255))
    assert at > 100 and (out[150, 100] == lut[at]).all()
    # the scale bar is the same colour map, left to right
    bar_row = out[300 + np.argmax((out[300:, 1:-1] != 0).any(-1).any(-1))]
    assert (bar_row != 0).any(-1).sum() > 200
    with pytest.raises(ValueError, match="H×W"):
        write_uncertainty_png(tmp_path / "x.png", np.zeros((2, 2, 2)))


def test_scale_ticks_run_from_zero_to_the_top():
    ticks = overlay._scale_ticks(0.5, 0.5)
    assert ticks[0] == 0 and ticks[-1] == 0.5 and ticks == sorted(ticks) and len(ticks) >= 4
