"""What a reader returns: pixels plus the spatial metadata that must travel with them.

Arrays are channel-last numpy: images H×W×C (2D) or D×H×W×C (a volume), labels H×W or
D×H×W integers. ``meta`` carries whatever locates the pixels in the world, under fixed
keys, so writers can put it back unchanged: ``crs``, ``transform``,
``nodata`` for rasters; ``affine``, ``spacing``, ``orientation`` for volumes. Readers of
plain photographs leave it empty. Nothing here resamples or reprojects. The other ``meta``
keys genseg reads (``bands``, ``valid_mask``, ``axes``, ``preprocessing``) and what it does
with each are listed in docs/architecture.md ("What a reader returns").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

SPATIAL_KEYS = ("crs", "transform", "nodata", "affine", "spacing", "orientation")
VOLUME_KEYS = ("affine", "spacing", "orientation")
"""What the medical readers put in ``meta``: a mask without them no longer lands on the scan."""


def warn_spatial_loss(path: Path, reference: Sample | None, fmt: str, stores: tuple[str, ...] = ()) -> None:
    """One warning when a mask of ``reference`` written as ``fmt`` (e.g. "PNG") drops the
    spatial metadata the input had (every :data:`SPATIAL_KEYS` entry not in ``stores``),
    naming what is lost and the format that keeps it: NIfTI or DICOM-SEG for a medical
    input (affine, spacing), GeoTIFF for a georeferenced one."""
    if reference is None:
        return
    lost = [k for k in SPATIAL_KEYS if k not in stores and reference.meta.get(k) is not None]
    if not lost:
        return
    import warnings

    if any(k in VOLUME_KEYS for k in lost):
        keep = "write the mask as .nii.gz (NIfTI) or .dcm (DICOM-SEG) to keep them"
    else:
        keep = "write the mask as .tif (GeoTIFF) to keep them"
    warnings.warn(
        f"{path}: a {fmt} cannot store the {', '.join(lost)} of {reference.path}; {keep}",
        UserWarning,
        stacklevel=3,
    )


@dataclass(frozen=True)
class Sample:
    """One image or label as read from ``path`` by the reader named ``reader``.

    ``normalised`` says whether image values are already float32 in [0, 1] (what the
    models take); domain preprocessing (CT windows, band scaling) turns raw values into
    that and sets it.
    """

    array: np.ndarray
    path: Path
    kind: str  # "image" | "label"
    reader: str
    meta: dict[str, Any] = field(default_factory=dict)
    normalised: bool = False

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """H×W, or D×H×W for a volume."""
        return tuple(self.array.shape[:-1] if self.kind == "image" else self.array.shape)

    @property
    def is_volume(self) -> bool:
        return len(self.spatial_shape) == 3

    def with_array(self, array: np.ndarray, **changes: Any) -> Sample:
        """A copy holding ``array`` (same path, reader and metadata unless changed)."""
        return replace(self, array=array, **changes)
