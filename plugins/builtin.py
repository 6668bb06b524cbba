"""The built-in generic plugin: genseg's own behaviour, provided through the public hooks.

It registers the ``generic`` domain, the generated shapes sample dataset, PNG/JPEG/BMP and TIFF
readers, the PNG mask writer and a generic vocabulary, and it answers the first-result
hooks *last*, matching files against every plugin's registered patterns, so any domain
plugin can override it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genseg.plugins.hookspecs import GENSEG_HOOKSPEC_VERSION, hookimpl

GENSEG_HOOKSPEC = f"=={GENSEG_HOOKSPEC_VERSION}"
_PACKAGE = "genseg.plugins"


@hookimpl
def genseg_register_domains():
    return [
        {
            "name": "generic",
            "description": "any image: a dataset.json folder of PNG/JPEG/TIFF files",
            "option_keys": [],
            # photographs mean the same mirrored left-right (not upside down); a dataset whose
            # classes name a side is not mirrored (genseg.data.transforms.allowed_flips)
            "flips": ["horizontal"],
        }
    ]


@hookimpl
def genseg_register_datasets():
    from genseg.plugins.schemas import DatasetCatalog, load_package_json

    return list(load_package_json(_PACKAGE, "data/datasets.json", DatasetCatalog).datasets)


@hookimpl
def genseg_register_sample_data():
    return [{"name": "shapes", "make": "genseg.data.sample_data:make_shapes_dataset"}]


@hookimpl
def genseg_register_vocabularies():
    from genseg.plugins.schemas import Vocabulary, load_package_json

    return [load_package_json(_PACKAGE, "data/vocabulary.json", Vocabulary)]


@hookimpl
def genseg_register_readers():
    return [
        {
            "name": "pillow",
            "patterns": ["*.png", "*.jpg", "*.jpeg", "*.bmp"],
            "description": "8/16-bit PNG, JPEG (images only), BMP via Pillow",
            "read": "genseg.data.readers:read_sample",
        },
        {
            "name": "tiff",
            "patterns": ["*.tif", "*.tiff"],
            "description": "TIFF via tifffile; pixels only (a GeoTIFF's CRS needs the remote-sensing plugin)",
            "read": "genseg.data.readers:read_sample",
        },
    ]


@hookimpl
def genseg_register_writers():
    return [
        {
            "name": "png-mask",
            "patterns": ["*.png"],
            "formats": ["png"],
            "description": "label map as palette PNG in the overlay colours, binary mask as 0/255 grey",
            "write": "genseg.data.readers:write_mask_sample",
        }
    ]


@hookimpl(trylast=True)
def genseg_get_reader(path: Path, kind: str):
    from genseg.plugins.manager import current_plugins
    from genseg.plugins.registry import match_reader

    return match_reader(Path(path), kind, current_plugins())


@hookimpl(trylast=True)
def genseg_get_writer(path: Path, fmt: str | None):
    from genseg.plugins.manager import current_plugins
    from genseg.plugins.registry import match_writer

    return match_writer(Path(path), fmt, current_plugins())


@hookimpl(trylast=True)
def genseg_preprocess(sample, domain: str, options: Mapping[str, Any]):
    """Images whose reader did not normalise them are scaled by their dtype's range; an image
    with more than three bands keeps the first three, with a warning (the models take RGB;
    the remote-sensing and agriculture domains choose the bands instead)."""
    if sample.kind != "image":
        return sample
    sample = _first_three_bands(sample, domain)
    if sample.normalised:
        return sample
    from genseg.data.readers import to_unit_float, warn_float_clipping

    warn_float_clipping(sample.array, sample.path, sample.meta.get("valid_mask"), f"the {domain} domain")
    return sample.with_array(to_unit_float(sample.array), normalised=True)


def _first_three_bands(sample, domain: str):
    bands = sample.array.shape[-1] if sample.array.ndim >= 3 else 1
    if bands <= 3:
        return sample
    import warnings

    how = (
        "pass --domain remote-sensing or --domain agriculture to choose the bands"
        if domain == "generic"
        else "convert the image to RGB to choose which bands are used"
    )
    unused = "band 4 is" if bands == 4 else f"bands 4-{bands} are"
    warnings.warn(
        f"{sample.path}: the image has {bands} bands; the {domain} domain uses bands 1-3 as RGB and "
        f"{unused} not used; {how}",
        UserWarning,
        stacklevel=2,
    )
    return sample.with_array(sample.array[..., :3])


@hookimpl(trylast=True)
def genseg_refine_query(request: str, domain: str, vocabulary, top_k: int, threshold: float):
    """Ground the request in the vocabulary by MiniLM cosine; a plugin answering first overrides it."""
    from genseg.refine import ground_request

    return ground_request(request, vocabulary, top_k=top_k, threshold=threshold)


@hookimpl
def genseg_register_metrics(domain: str):
    return [
        {
            "name": "iou",
            "description": "intersection over union of the binary masks",
            "factory": "torchmetrics.classification:BinaryJaccardIndex",
        },
        {
            "name": "dice",
            "description": "Dice coefficient (F1) of the binary masks",
            "factory": "torchmetrics.classification:BinaryF1Score",
        },
    ]


def load_shapes(root: Path) -> Path:
    """Generate the shapes dataset under ``root`` (skipped when already there)."""
    from genseg.data.sample_data import make_shapes_dataset

    return make_shapes_dataset(root)
