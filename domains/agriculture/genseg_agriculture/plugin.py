"""Hook implementations of the agriculture plugin (registered through the ``genseg`` entry point).

Light at import: package data is read, and numpy, Pillow or scikit-image imported, only when
a hook needs them. The plugin registers no file pattern: PNG, JPEG and TIFF stay with the
reader that claims them, and only an ``rgb/`` image with a ``nir/`` partner is claimed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genseg.plugins.api import hookimpl

GENSEG_HOOKSPEC = ">=1.0,<2"
DOMAIN = "agriculture"
_PACKAGE = "genseg_agriculture"
OPTION_KEYS = ("bands", "indices", "composite", "illumination", "strict")  # = preprocessing.OPTIONS


@hookimpl
def genseg_register_domains():
    return [
        {
            "name": DOMAIN,
            "description": "agriculture: field-robot, drone and leaf images (RGB, RGB-NIR)",
            "option_keys": list(OPTION_KEYS),
            # rows, plots and leaves seen from above or the side mean the same mirrored
            "flips": ["horizontal", "vertical"],
        }
    ]


@hookimpl
def genseg_register_vocabularies():
    from genseg.plugins.api import Vocabulary, load_package_json

    return [load_package_json(_PACKAGE, "data/vocabulary.json", Vocabulary)]


@hookimpl
def genseg_register_datasets():
    from genseg.plugins.api import DatasetCatalog, load_package_json

    return list(load_package_json(_PACKAGE, "data/datasets.json", DatasetCatalog).datasets)


@hookimpl
def genseg_get_reader(path: Path, kind: str):
    """An ``rgb/NAME`` image whose ``nir/NAME`` partner exists is read as four bands."""
    if kind != "image":
        return None
    from genseg_agriculture.readers import RGB_NIR_READER, nir_partner

    return RGB_NIR_READER if nir_partner(Path(path)) is not None else None


@hookimpl
def genseg_preprocess(sample, domain: str, options: Mapping[str, Any]):
    if domain != DOMAIN:
        return None
    from genseg_agriculture.preprocessing import preprocess_agriculture

    return preprocess_agriculture(sample, options)
