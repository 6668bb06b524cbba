import numpy as np
import pytest
from PIL import Image

from genseg.evaluation.plots import OverlayCell, few_shot_plot, overlay_grid, per_class_plot, seen_unseen_plot


def _open(path):
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def test_few_shot_plot(tmp_path):
    out = few_shot_plot(
        {"ours": {0: 0.2, 1: 0.3, 5: 0.45, 10: 0.5}, "baseline": {1: 0.25, 10: 0.4, 100: 0.6}},
        tmp_path / "fewshot.png",
    )
    assert out == tmp_path / "fewshot.png"
    h, w, _ = _open(out).shape
    assert 300 <= w <= 1200 and 200 <= h <= 900
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no leftovers


def test_seen_unseen_plot(tmp_path):
    out = seen_unseen_plot({"ours": (0.6, 0.4), "zero-shot": (0.3, 0.0)}, tmp_path / "su.png", title="ADE")
    h, w, _ = _open(out).shape
    assert 300 <= w <= 1200 and 200 <= h <= 900


def test_per_class_plot_grows_with_classes(tmp_path):
    few = per_class_plot({"a": {"cat": 0.5, "dog": 0.7}, "b": {"cat": 0.4}}, tmp_path / "few.png")
    many = per_class_plot({"a": {f"class {i}": i / 40 for i in range(40)}}, tmp_path / "many.png")
    hf, wf, _ = _open(few).shape
    hm, _, _ = _open(many).shape
    assert 300 <= wf <= 1200 and 150 <= hf <= 900
    assert hm > hf


def test_empty_inputs_are_errors(tmp_path):
    with pytest.raises(ValueError):
        few_shot_plot({}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        overlay_grid([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_overlay_grid_size_and_shapes(tmp_path):
    img = np.zeros((30, 40, 3), np.uint8)
    m = np.zeros((30, 40), bool)
    cells = [OverlayCell(img, {"a": m}, f"cell {i}", truth={"a": m}) for i in range(5)]
    out = overlay_grid(cells, tmp_path / "grid.png", columns=2)
    h, w, _ = _open(out).shape
    assert 400 <= w <= 1000 and 600 <= h <= 2000  # 2 columns, 3 rows
    with pytest.raises(ValueError, match="shape"):
        overlay_grid([OverlayCell(img, {"a": np.zeros((3, 3), bool)})], tmp_path / "bad.png")


def test_overlay_tints_pixels_under_the_mask_only(tmp_path):
    from genseg.data.readers import OVERLAY_COLOURS

    grey = np.full((40, 40, 3), 128, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[:, :20] = True  # the left half
    plain = _open(overlay_grid([OverlayCell(grey, {"thing": np.zeros_like(mask)})], tmp_path / "plain.png"))
    tinted = _open(overlay_grid([OverlayCell(grey, {"thing": mask})], tmp_path / "tinted.png"))
    assert plain.shape == tinted.shape

    # where the image landed: the grey pixels of the untinted render
    ys, xs = np.nonzero((plain == 128).all(-1))
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    assert right - left > 100  # the image is drawn upscaled, not as a thumbnail
    mid = (left + right) // 2

    changed = (plain != tinted).any(-1)
    cy, cx = np.nonzero(changed)
    assert changed.any()
    # only the left half of the image changed (a pixel of slack for the edge) …
    assert cy.min() >= top and cy.max() <= bottom and cx.min() >= left and cx.max() <= mid + 1
    # … all of it, to the blend of grey and the first overlay colour
    expected = 0.55 * 128 + 0.45 * np.array(OVERLAY_COLOURS[0])
    inside = tinted[top + 2 : bottom - 1, left + 2 : mid - 2].reshape(-1, 3)
    assert np.abs(inside - expected).max() <= 2
    assert (tinted[top + 2 : bottom - 1, mid + 3 : right - 1] == 128).all()


def test_overlay_truth_outline_is_drawn(tmp_path):
    grey = np.full((40, 40, 3), 128, np.uint8)
    empty = np.zeros((40, 40), bool)
    truth = empty.copy()
    truth[10:30, 10:30] = True
    without = _open(
        overlay_grid([OverlayCell(grey, {"thing": empty}, truth={"thing": empty})], tmp_path / "a.png")
    )
    with_truth = _open(
        overlay_grid([OverlayCell(grey, {"thing": empty}, truth={"thing": truth})], tmp_path / "b.png")
    )
    assert without.shape == with_truth.shape
    assert (without != with_truth).any(-1).sum() > 100  # the dashed outline
