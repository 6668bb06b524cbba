"""Volume overlays in radiological orientation: whatever the voxel order of the file, the
patient's right is on the picture's left and anterior at the top."""

from __future__ import annotations

import numpy as np
import pytest

from genseg.data.volume_view import GAP, PANEL_SIDE, volume_view

SHAPE = (30, 24, 10)  # voxels along i, j, k


def _affine(columns: np.ndarray) -> np.ndarray:
    """An affine with the given 3×3 voxel-to-mm part, centred on the world origin."""
    affine = np.eye(4)
    affine[:3, :3] = columns
    affine[:3, 3] = -columns @ ((np.array(SHAPE) - 1) / 2)
    return affine


AFFINES = {
    "RAS": _affine(np.diag([2.0, 2.0, 3.0])),
    "LPS (DICOM order)": _affine(np.diag([-2.0, -2.0, 3.0])),
    "LAI": _affine(np.diag([-2.0, 2.0, -3.0])),
    # sagittal acquisition: i runs inferior→superior, j posterior→anterior, k left→right
    "sagittal": _affine(np.array([[0.0, 0.0, 3.0], [0.0, 2.0, 0.0], [2.0, 0.0, 0.0]])),
}


def _volume(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A D×H×W×1 image and 1×D×H×W mask (genseg's layout: the voxel array transposed to k, j, i)
    with a block on the patient's right, anterior side, in every axial slice."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), -1).astype(float)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    x, y = world[..., 0], world[..., 1]
    marker = (x > 0.3 * np.abs(x).max()) & (y > 0.3 * np.abs(y).max())
    image = np.where(marker, 1.0, 0.3).astype(np.float32)
    return np.transpose(image, (2, 1, 0))[..., None], np.transpose(marker, (2, 1, 0))[None]


def _first_panel(view, ph: int, pw: int) -> tuple[np.ndarray, np.ndarray]:
    return view.image[:ph, :pw, 0], view.masks[0][:ph, :pw]


@pytest.mark.parametrize("name", list(AFFINES))
def test_patient_right_is_on_the_left_and_anterior_is_up(name):
    affine = AFFINES[name]
    image, masks = _volume(affine)
    view = volume_view(image, masks, affine, "kji", uncertainty=image[..., 0])
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(0))
    # the panel is one axial slice (x by y) enlarged; find its size from the gap
    columns = np.nonzero((view.image[..., 0] == 0).all(0))[0]
    pw = int(columns[0]) if columns.size else view.image.shape[1]
    rows = np.nonzero((view.image[..., 0] == 0).all(1))[0]
    ph = int(rows[0]) if rows.size else view.image.shape[0]
    assert max(ph, pw) >= PANEL_SIDE
    panel, mask = _first_panel(view, ph, pw)
    ys, xs = np.nonzero(mask)
    assert xs.mean() < pw / 2 and ys.mean() < ph / 2  # right → left of the picture, anterior → top
    assert (panel[mask] == 1.0).all() and (panel[~mask] == pytest.approx(0.3))  # image and mask agree
    np.testing.assert_array_equal(view.uncertainty[:ph, :pw], panel)
    # in-plane spacing kept: mm per picture pixel the same across and down
    x_vox, y_vox = (SHAPE[int(np.argmax(np.abs(affine[a, :3])))] for a in (0, 1))
    x_mm, y_mm = (zooms[int(np.argmax(np.abs(affine[a, :3])))] for a in (0, 1))
    assert x_vox * x_mm / pw == pytest.approx(y_vox * y_mm / ph)
    assert "radiological" in " ".join(view.notes)
    assert {m.text for m in view.marks} >= {"R", "L", "A", "P"}


def test_slices_are_named_by_their_height_in_the_patient():
    affine = AFFINES["LAI"]  # k runs superior → inferior
    image, masks = _volume(affine)
    masks[:, :3] = False  # the mask only in slices k = 3..9
    view = volume_view(image, masks, affine, "kji", count=2)
    note = view.notes[-1]
    heights = [affine[2, 2] * k + affine[2, 3] for k in (3, 9)]
    for n, z in enumerate(sorted(heights)):  # listed inferior → superior
        assert f"{n + 1}: z {round(z, 1):g} mm" in note


def test_without_an_affine_slices_are_shown_as_stored():
    rng = np.random.default_rng(0)
    image = rng.random((6, 20, 30, 1), dtype=np.float32)
    masks = np.zeros((2, 6, 20, 30), bool)
    masks[0, 2, 3:5, 4:9] = True
    view = volume_view(image, masks, None)
    scale = view.image.shape[1] // 30
    np.testing.assert_array_equal(
        view.image[: 20 * scale : scale, : 30 * scale : scale, 0], image[2, :, :, 0]
    )
    assert len(view.masks) == 2 and view.uncertainty is None
    assert "orientation unknown" in " ".join(view.notes)
    assert not {"R", "L"} & {m.text for m in view.marks}


def test_a_few_slices_fill_a_grid():
    image = np.zeros((12, 8, 8, 1), np.float32)
    masks = np.ones((1, 12, 8, 8), bool)
    view = volume_view(image, masks, AFFINES["RAS"] @ np.diag([1, 1, 1, 1]), "kji", count=4)
    side = view.masks[0].shape
    assert side[0] > PANEL_SIDE and side[1] > PANEL_SIDE  # 2 × 2 panels
    assert (view.masks[0] == 0).sum() == GAP * (side[0] + side[1]) - GAP * GAP  # only the gaps are off
