"""A few axial slices of a volume laid out as one picture, in radiological orientation.

Radiological convention, as in clinical viewers: the patient's right on the picture's left,
anterior at the top, looking from the feet. The voxel axes are matched to the patient's
axes with the volume's affine (nibabel's ``io_orientation``), so a scan stored in any axis
order and direction (RAS, LPS, sagittal slices ...) is shown the same way; in-plane voxel
spacing is kept, so anisotropic voxels are not squashed. A volume without an affine is
shown in voxel order, and the picture says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from genseg.data.overlay import Mark
from genseg.volumes import montage_slices

PANEL_SIDE = 384
"""Longer side, in pixels, a slice is enlarged to (by a whole factor) at the least."""

RADIOLOGICAL = ("P", "L", "S")
"""Axis codes of the reoriented volume: rows run anterior → posterior (anterior up),
columns patient right → left (right on the picture's left), slices inferior → superior."""

GAP = 4
"""Black pixels between panels."""


@dataclass
class VolumeView:
    """The picture's pieces: the image (H×W or H×W×C), each mask (H×W) and the uncertainty
    (H×W or None) as montages of the same panels; text marks and legend notes."""

    image: np.ndarray
    masks: list[np.ndarray]
    uncertainty: np.ndarray | None
    marks: list[Mark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def radiological_transform(affine: np.ndarray, axes: str = "kji") -> np.ndarray:
    """nibabel orientation transform taking a D×H×W array (its axes named by ``axes`` after
    the affine's voxel indices i, j, k) to rows P, columns L, slices S."""
    from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

    current = io_orientation(np.asarray(affine, dtype=np.float64))
    # row r of ``current`` describes voxel axis i, j, k; reorder it to the array's axes
    by_array = current[["ijk".index(a) for a in axes]]
    return ornt_transform(by_array, axcodes2ornt(RADIOLOGICAL))


def reorient(volume: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """``volume`` (3 spatial axes first, any trailing ones) in the transform's orientation."""
    from nibabel.orientations import apply_orientation

    return apply_orientation(volume, transform)


def spacing_after(affine: np.ndarray, axes: str, transform: np.ndarray) -> np.ndarray:
    """Voxel spacing (mm) along the reoriented axes."""
    zooms = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    by_array = zooms[["ijk".index(a) for a in axes]]
    out = np.empty(3)
    out[transform[:, 0].astype(int)] = by_array
    return out


def _grid(panels: Sequence[np.ndarray], columns: int, fy: int, fx: int) -> np.ndarray:
    """Panels (each H×W[×C]) enlarged by (fy, fx) and tiled row by row with black gaps."""
    h, w = panels[0].shape[0] * fy, panels[0].shape[1] * fx
    rows = -(-len(panels) // columns)
    out = np.zeros((rows * h + (rows - 1) * GAP, columns * w + (columns - 1) * GAP, *panels[0].shape[2:]),
                   panels[0].dtype)  # fmt: skip
    for n, p in enumerate(panels):
        r, c = divmod(n, columns)
        big = np.repeat(np.repeat(p, fy, axis=0), fx, axis=1)
        out[r * (h + GAP) : r * (h + GAP) + h, c * (w + GAP) : c * (w + GAP) + w] = big
    return out


def volume_view(
    image: np.ndarray,
    masks: np.ndarray,
    affine: np.ndarray | None = None,
    axes: str | None = None,
    uncertainty: np.ndarray | None = None,
    count: int = 4,
) -> VolumeView:
    """A picture of ``count`` slices of a D×H×W×C ``image`` with its P×D×H×W ``masks`` (and a
    D×H×W ``uncertainty``): axial and radiological when ``affine`` is known, ``axes`` naming
    the array's axes after the affine's voxel indices ("kji", genseg's volume layout)."""
    image = np.asarray(image)
    masks = np.asarray(masks)
    if affine is not None:
        axes = axes or "kji"
        transform = radiological_transform(affine, axes)
        turn = lambda v: reorient(v, transform)  # noqa: E731
        dy, dx, _ = spacing_after(affine, axes, transform)
        orientation = True
    else:  # voxel order: slices along D, each slice as stored
        turn = lambda v: np.moveaxis(v, 0, 2)  # noqa: E731
        dy = dx = 1.0
        orientation = False
    vol = turn(image)  # H'×W'×D'×C
    on = np.stack([turn(m) for m in masks]) if len(masks) else np.zeros((0, *vol.shape[:3]), bool)
    unc = turn(np.asarray(uncertainty)) if uncertainty is not None else None
    picks = montage_slices(np.moveaxis(on, 3, 1), count)  # P×D×H×W, D the axial slices
    h, w = vol.shape[:2]
    # whole factors that keep the in-plane spacing's aspect, the longer side at least PANEL_SIDE
    ratio = Fraction(float(dy / dx)).limit_denominator(8)  # rows' to columns' mm per voxel
    ay, ax = max(1, ratio.numerator), max(1, ratio.denominator)
    scale = max(1, -(-PANEL_SIDE // max(h * ay, w * ax)))
    fy, fx = ay * scale, ax * scale
    columns = len(picks) if len(picks) < 4 else 2 if len(picks) == 4 else 3
    view = VolumeView(
        image=_grid([vol[:, :, z] for z in picks], columns, fy, fx),
        masks=[_grid([m[:, :, z] for z in picks], columns, fy, fx) for m in on],
        uncertainty=_grid([unc[:, :, z] for z in picks], columns, fy, fx) if unc is not None else None,
    )
    ph, pw = h * fy, w * fx
    for n in range(len(picks)):
        r, c = divmod(n, columns)
        top, left = r * (ph + GAP), c * (pw + GAP)
        if orientation:
            view.marks += [
                Mark(left + 4, top + ph / 2, "R", "lm"),
                Mark(left + pw - 4, top + ph / 2, "L", "rm"),
                Mark(left + pw / 2, top + 4, "A", "ma"),
                Mark(left + pw / 2, top + ph - 4, "P", "md"),
            ]
        view.marks.append(Mark(left + 4, top + 4, f"{n + 1}", "la"))
    if orientation:
        where = _slice_positions(affine, axes, transform, image.shape[:3], picks)
        view.notes.append("axial slices, radiological view (patient's right on the left, anterior up)")
        view.notes.append("slice " + ", ".join(f"{n + 1}: z {s:g} mm" for n, s in enumerate(where)))
    else:
        view.notes.append("slices as stored (no affine: orientation unknown)")
        view.notes.append("slice " + ", ".join(f"{n + 1}: {z}" for n, z in enumerate(picks)))
    return view


def _slice_positions(
    affine: np.ndarray, axes: str, transform: np.ndarray, shape: tuple[int, ...], picks: Sequence[int]
) -> list[float]:
    """World z (mm, superior positive) at the centre of each picked slice of the reoriented
    volume; ``shape`` is the array's D×H×W before reorienting."""
    from nibabel.orientations import inv_ornt_aff

    affine = np.asarray(affine, dtype=np.float64)
    array_affine = affine.copy()  # the affine of the D×H×W array: columns in its axis order
    array_affine[:, :3] = affine[:, ["ijk".index(a) for a in axes]]
    turned = array_affine @ inv_ornt_aff(transform, shape)
    rows, cols = (shape[int(np.nonzero(transform[:, 0] == out)[0][0])] for out in (0, 1))
    return [round(float((turned @ [(rows - 1) / 2, (cols - 1) / 2, z, 1.0])[2]), 1) for z in picks]
