"""Hook implementations of the ``example`` plugin, found by genseg through the ``genseg`` entry point.

Made from genseg's plugin template (``genseg plugins new``): keep the hooks you need
(genseg's docs/plugins.md lists them all). Importing this module must stay cheap: genseg
imports every plugin to list it, so numpy and genseg's data modules are imported inside the
functions that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genseg.plugins.api import hookimpl

if TYPE_CHECKING:
    from genseg.plugins.api import Sample

# The hook specification versions this plugin was written for; outside it genseg does not load it.
GENSEG_HOOKSPEC = ">=1.0,<2"

DOMAIN = "example"
_PACKAGE = "genseg_example"
_READER = "example-npy"


@hookimpl
def genseg_register_domains():
    return [{"name": DOMAIN, "description": "example domain: NumPy arrays of squares and discs"}]


@hookimpl
def genseg_register_vocabularies():
    from genseg.plugins.api import Vocabulary, load_package_json

    return [load_package_json(_PACKAGE, "data/vocabulary.json", Vocabulary)]


@hookimpl
def genseg_register_readers():
    # Code is named by "module:attribute" and imported only when a file is read.
    return [
        {
            "name": _READER,
            "patterns": ["*.npy"],
            "kinds": ["image", "label"],
            "description": "arrays saved with numpy.save: images H×W or H×W×C, labels H×W integers",
            "read": "genseg_example.plugin:read_npy",
        }
    ]


@hookimpl
def genseg_register_datasets():
    from genseg.plugins.api import DatasetCatalog, load_package_json

    return list(load_package_json(_PACKAGE, "data/datasets.json", DatasetCatalog).datasets)


def read_npy(path: Path, kind: str) -> Sample:
    """Read a ``.npy`` file as an image (H×W or H×W×C) or a label map (H×W, integers >= 0).

    Images keep their values and dtype (``normalised=False``): genseg's built-in
    preprocessing scales integers by their dtype's range and clips floats to [0, 1].
    Pickled (object) arrays are refused, since loading them could run arbitrary code.
    """
    import numpy as np
    from genseg.plugins.api import InputError, Sample

    path = Path(path)
    fix = "save a numeric array with numpy.save (no object arrays)"
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read as a .npy array: {exc}", path=path, fix=fix) from None
    if not isinstance(array, np.ndarray):  # an .npz archive renamed to .npy
        raise InputError("holds several arrays, not one", path=path, fix=fix)
    if kind == "image":
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.dtype.kind not in "biuf":
            raise InputError(
                f"expected a numeric H×W or H×W×C image, got shape {array.shape} ({array.dtype})",
                path=path,
                fix=fix,
            )
        return Sample(array, path, "image", reader=_READER)
    if kind == "label":
        if array.ndim != 2 or array.dtype.kind not in "biu" or (array.size and array.min() < 0):
            raise InputError(
                f"expected an H×W map of integers >= 0, got shape {array.shape} ({array.dtype})",
                path=path,
                fix="save the label map as an unsigned integer array (0 = background)",
            )
        return Sample(array.astype(np.uint8) if array.dtype == bool else array, path, "label", reader=_READER)
    raise ValueError(f"kind must be 'image' or 'label', got {kind!r}")


def load_example_shapes(root: Path) -> Path:
    """The dataset folder of ``example-shapes``: ``root``, indexed by a dataset.json on first use.

    ``root`` must hold ``images/NAME.npy`` and ``labels/NAME.npy``; every tenth pair goes to
    the test split and the next one to validation.
    """
    from genseg.plugins.api import (
        DATASET_JSON,
        DatasetCatalog,
        DatasetEntry,
        DatasetError,
        DatasetSpec,
        Vocabulary,
        load_package_json,
        write_dataset_spec,
    )

    root = Path(root)
    if (root / DATASET_JSON).is_file():
        return root
    card = load_package_json(_PACKAGE, "data/datasets.json", DatasetCatalog).datasets[0].card
    images = sorted((root / "images").glob("*.npy"))
    if not images:
        raise DatasetError(
            f"the {card.name} files are not there",
            path=root,
            fix=f"download them from {card.url} and unpack them so that images/*.npy and "
            "labels/*.npy are inside this folder",
        )
    unlabelled = [p.name for p in images if not (root / "labels" / p.name).is_file()]
    if unlabelled:
        raise DatasetError(
            f"{len(unlabelled)} image(s) have no label map; first: {unlabelled[0]}",
            path=root / "labels",
            fix="add labels/NAME.npy for every images/NAME.npy",
        )
    vocabulary = load_package_json(_PACKAGE, "data/vocabulary.json", Vocabulary)
    classes = {}
    for value, name in enumerate(card.classes, start=1):
        term = vocabulary.lookup(name)
        classes[str(value)] = {"name": name, "synonyms": list(term.synonyms) if term else []}
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for i, image in enumerate(images):
        split = {0: "test", 1: "validation"}.get(i % 10, "training")
        splits[split].append(DatasetEntry(image=f"images/{image.name}", label=f"labels/{image.name}"))
    spec = DatasetSpec(
        name=card.name,
        domain=card.domain,
        description=card.description,
        license=card.licence,
        reference=card.url,
        classes=classes,
        **splits,
    )
    write_dataset_spec(root, spec)
    return root
