"""RGB + NIR image pairs kept as two files, as Agriculture-Vision ships them.

``.../images/rgb/NAME.jpg`` with ``.../images/nir/NAME.jpg`` beside it is one four-band
image (red, green, blue, nir). The plugin claims such a file by looking at its folder
(``genseg_get_reader``), never by extension, so every other PNG, JPEG or TIFF stays with the
reader that claims it (the built-in one, or a GeoTIFF reader); their band order comes from
``-O bands=...`` or a default by channel count (see :mod:`genseg_agriculture.preprocessing`).
"""

from __future__ import annotations

from pathlib import Path

from genseg.plugins.api import InputError, Sample, read_image

RGB_FOLDER = "rgb"
NIR_FOLDER = "nir"
PAIR_BANDS = ("red", "green", "blue", "nir")
_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")

RGB_NIR_READER = {
    "name": "rgb-nir-pair",
    "patterns": [f"*{s}" for s in _SUFFIXES],
    "kinds": ["image"],
    "description": "rgb/NAME + sibling nir/NAME (Agriculture-Vision layout) as one red,green,blue,nir image",
    "read": "genseg_agriculture.readers:read_rgb_nir",
}


def nir_partner(path: Path) -> Path | None:
    """The NIR file paired with an image in an ``rgb/`` folder, or None when there is none."""
    path = Path(path)
    if path.parent.name.lower() != RGB_FOLDER or path.suffix.lower() not in _SUFFIXES:
        return None
    folders = [
        p for p in (path.parent.parent / NIR_FOLDER, path.parent.parent / NIR_FOLDER.upper()) if p.is_dir()
    ]
    for folder in folders:
        for suffix in dict.fromkeys((path.suffix, *_SUFFIXES)):
            candidate = folder / f"{path.stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def read_rgb_nir(path: Path, kind: str) -> Sample:
    """The RGB file and its NIR partner as float32 H×W×4 in [0, 1] (each scaled by its own bit depth)."""
    import numpy as np

    path = Path(path)
    if kind != "image":
        raise InputError(
            "an rgb/ + nir/ pair is an image, not a label", path=path, fix="read labels from labels/"
        )
    nir_path = nir_partner(path)
    if nir_path is None:
        raise InputError(
            f"no NIR partner in ../{NIR_FOLDER}/ for this image",
            path=path,
            fix=f"put {path.stem}{path.suffix} in the {NIR_FOLDER}/ folder beside {RGB_FOLDER}/",
        )
    rgb = read_image(path)
    nir = read_image(nir_path)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    if rgb.shape[2] != 3:
        raise InputError(
            f"expected an RGB image, found {rgb.shape[2]} channels", path=path, fix="store RGB here"
        )
    if nir.shape[:2] != rgb.shape[:2]:
        raise InputError(
            f"the NIR band is {nir.shape[1]}×{nir.shape[0]} but its RGB image {path.name} is "
            f"{rgb.shape[1]}×{rgb.shape[0]}",
            path=nir_path,
            fix="pair each RGB image with the NIR image of the same tile",
        )
    # A NIR JPEG saved as RGB repeats the band in every channel: take the first.
    array = np.concatenate([rgb, nir[:, :, :1]], axis=2)
    meta = {"bands": list(PAIR_BANDS), "nir_path": str(nir_path)}
    return Sample(
        np.ascontiguousarray(array), path, "image", reader="rgb-nir-pair", meta=meta, normalised=True
    )
