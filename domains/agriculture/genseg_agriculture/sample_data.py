"""The generated sample datasets, written in the layouts of the real datasets they stand in for.

- ``field-scenes``: crop rows, weeds and soil (:func:`genseg_agriculture.scenes.render_field`)
  in the PhenoBench layout, ``{train,val,test}/images/NAME.png`` + ``semantics/NAME.png``
  with PhenoBench's values (the test split keeps its semantics here, so it can be scored).
- ``leaf-lesions``: diseased leaves (:func:`genseg_agriculture.scenes.render_leaf`) in the
  leaf-disease layout, ``images/NAME.jpg`` + ``masks/NAME.png`` (0/255).

The registered loaders generate once, then index the files with the real dataset's loader.
A generation records its parameters in ``genseg-sample.json``, marked complete only at the
end, so an interrupted run is redone and a folder genseg did not write is never touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from genseg.plugins.api import DatasetError, atomic_write

GENERATOR_VERSION = 1
MARKER = "genseg-sample.json"
FIELD_BANDS = ("red", "green", "blue", "nir")


def _begin(root: Path, params: dict[str, Any], owned: tuple[str, ...]) -> bool:
    """Whether ``root`` must be (re)generated; clears what an older generation left in ``owned``."""
    marker = root / MARKER
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if previous == {"params": params, "complete": True}:
            return False
        for sub in owned:
            shutil.rmtree(root / sub, ignore_errors=True)
    elif root.is_dir() and any(root.iterdir()):
        raise DatasetError(
            "this folder holds files that genseg did not generate; the sample data is not written over them",
            path=root,
            fix="pass a new or empty folder (or leave out =FOLDER to use the default place)",
        )
    root.mkdir(parents=True, exist_ok=True)
    _mark(root, params, complete=False)
    return True


def _mark(root: Path, params: dict[str, Any], complete: bool) -> None:

    text = json.dumps({"params": params, "complete": complete}, indent=2)
    atomic_write(root / MARKER, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def make_field_scenes(
    root: str | Path, seed: int = 0, n_train: int = 120, n_val: int = 16, n_test: int = 24, size: int = 128
) -> Path:
    """Write the field scenes under ``root`` in the PhenoBench layout (skipped when already there)."""
    from genseg_agriculture.scenes import render_field

    root = Path(root)
    counts = [n_train, n_val, n_test]
    params = {
        "kind": "field-scenes",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "size": size,
        "counts": counts,
    }
    if not _begin(root, params, owned=("train", "val", "test")):
        return root
    for offset, (split, count) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        rng = np.random.default_rng([seed, offset])
        for i in range(count):
            scene = render_field(rng, size)
            name = f"field_{i:05d}.png"
            _save_png(root / split / "images" / name, _to_uint8(scene.rgb))
            _save_png(root / split / "semantics" / name, scene.label)
    _mark(root, params, complete=True)
    return root


def make_leaf_lesions(root: str | Path, seed: int = 0, n: int = 200, size: int = 128) -> Path:
    """Write diseased leaves under ``root`` in the leaf-disease layout (skipped when already there)."""
    from PIL import Image

    from genseg_agriculture.scenes import render_leaf

    root = Path(root)
    params = {"kind": "leaf-lesions", "version": GENERATOR_VERSION, "seed": seed, "size": size, "n": n}
    if not _begin(root, params, owned=("images", "masks")):
        return root
    (root / "images").mkdir(exist_ok=True)
    rng = np.random.default_rng([seed, 7])
    for i in range(n):
        leaf = render_leaf(rng, size)
        Image.fromarray(_to_uint8(leaf.rgb)).save(root / "images" / f"leaf_{i:05d}.jpg", quality=92)
        _save_png(root / "masks" / f"leaf_{i:05d}.png", leaf.lesion.astype(np.uint8) * 255)
    _mark(root, params, complete=True)
    return root


def write_field_tiff(path: str | Path, seed: int = 0, size: int = 128) -> tuple[Path, np.ndarray]:
    """One field scene as a 4-band 8-bit TIFF (red, green, blue, nir; band-sequential), and its
    label (0 soil, 1 crop, 2 weed, 3/4 partial crop/weed): a test input for RGB-NIR reading."""
    import tifffile

    from genseg_agriculture.scenes import render_field

    scene = render_field(np.random.default_rng([seed, 99]), size)
    bands = np.concatenate([scene.rgb, scene.nir[..., None]], axis=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    planar = np.ascontiguousarray(_to_uint8(bands).transpose(2, 0, 1))
    tifffile.imwrite(path, planar, photometric="minisblack", planarconfig="separate")
    return path, scene.label
