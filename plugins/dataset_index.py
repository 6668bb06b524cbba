"""Helpers for a plugin's dataset loaders: index a user's download without touching it.

A loader takes the folder where a user unpacked a public dataset as its source ships it,
checks that the files are there and paired, and writes genseg's ``dataset.json`` into an
*index folder*, ``data_dir()/_index/NAME``, that points at the user's files by absolute
path. The user's folder is never written to, so a read-only copy works, and deleting the
index only costs a re-index. Files a loader must derive (PNG label maps from JPEG masks,
merged masks) live in the index folder, rebuilt only when their source is newer.

Every domain plugin's loaders share these rules, so they live here, bound to the plugin's
package (its cards and vocabulary) by :class:`PluginDatasets`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.errors import DatasetError

if TYPE_CHECKING:
    import numpy as np

    from genseg.data.schema import DatasetEntry
    from genseg.plugins.schemas import DatasetCard, Vocabulary

INDEX_FOLDER = "_index"
INDEX_VERSION = 1
"""Bumped when the index layout changes, so stale derived files are rebuilt."""


class PluginDatasets:
    """The dataset cards, vocabulary and index folders of one plugin package.

    ``package`` holds ``data/datasets.json`` (a :class:`DatasetCatalog`) and
    ``data/vocabulary.json``; ``domain`` is written into every index it makes.
    """

    def __init__(self, package: str, domain: str) -> None:
        self.package = package
        self.domain = domain

    @cached_property
    def cards(self) -> dict[str, DatasetCard]:
        """The package's dataset cards by name (the one place URLs, licences and classes are written)."""
        from genseg.plugins.schemas import DatasetCatalog, load_package_json

        catalog = load_package_json(self.package, "data/datasets.json", DatasetCatalog)
        return {reg.card.name: reg.card for reg in catalog.datasets}

    @cached_property
    def vocabulary(self) -> Vocabulary:
        from genseg.plugins.schemas import Vocabulary, load_package_json

        return load_package_json(self.package, "data/vocabulary.json", Vocabulary)

    def class_spec(self, name: str, values: list[int] | None = None) -> dict[str, Any]:
        """A dataset.json class named ``name``, with the vocabulary's synonyms when it knows the name."""
        term = self.vocabulary.lookup(name)
        words = [term.name, *term.synonyms] if term else []
        spec: dict[str, Any] = {"name": name, "synonyms": [w for w in words if w.lower() != name.lower()]}
        if values is not None:
            spec["values"] = list(values)
        return spec

    def not_found(self, name: str, root: Path, what: str, how: str) -> DatasetError:
        """The error for a root that does not hold dataset ``name``: where to get it and how to unpack."""
        from genseg.plugins.registry import data_dir

        card = self.cards[name]
        return DatasetError(
            f"{card.title or name}: {what}",
            path=root,
            fix=f"download it from {card.url} and {how}; then pass --dataset {name}=FOLDER "
            f"(or unpack it into {data_dir() / name})",
        )

    def prepare_index(self, name: str, root: Path, derived: bool) -> Path:
        """The index folder of ``name``; derived labels from another root or version are removed."""
        import shutil

        folder = index_dir(name)
        if derived and (folder / "labels").exists() and previous_root(folder) != str(root):
            shutil.rmtree(folder / "labels")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_index(
        self,
        name: str,
        root: Path,
        folder: Path,
        classes: dict[str, dict[str, Any]],
        splits: dict[str, list[DatasetEntry]],
        unregistered: dict[str, str] | None = None,
        ignore: list[int] | None = None,
        preprocessing: dict[str, str | int | float | bool] | None = None,
    ) -> Path:
        """Write ``folder/dataset.json`` (last, atomically) from the card and the entries found.

        ``unregistered`` gives description, license and reference for a dataset without a card;
        ``ignore`` lists label values that are neither background nor a class (no-data values);
        ``preprocessing`` the domain options the files need (e.g. which channel, which modality).
        """
        from genseg.data.schema import DatasetSpec, write_dataset_spec

        card = self.cards.get(name)
        about = (
            {
                "description": card.description,
                "license": card.licence,
                "reference": f"{card.citation}. {card.url}",
            }
            if card
            else dict(unregistered or {})
        )
        spec = DatasetSpec(
            name=name,
            domain=self.domain,
            **about,
            classes=classes,
            training=splits.get("training", []),
            validation=splits.get("validation", []),
            test=splits.get("test", []),
            ignore=list(ignore or []),
            preprocessing=dict(preprocessing or {}),
            generator={"loader": name, "root": str(root), "version": INDEX_VERSION},
        )
        write_dataset_spec(folder, spec)
        return folder


def index_dir(name: str) -> Path:
    """Where the index (dataset.json and derived files) of dataset ``name`` is written."""
    from genseg.plugins.registry import data_dir

    return (data_dir() / INDEX_FOLDER / name).expanduser().absolute()


def absolute(root: str | Path) -> Path:
    return Path(root).expanduser().absolute()


def natural_key(text: str) -> list[Any]:
    """Sort key that orders ``case_2`` before ``case_10`` (names are compared digit-run-wise)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def split_every_tenth(index: int) -> str:
    """0th, 10th, ... → test; 1st, 11th, ... → validation; the rest training (80/10/10)."""
    return {0: "test", 1: "validation"}.get(index % 10, "training")


def missing_files(what: str, missing: list[Path], fix: str) -> DatasetError:
    """An error naming the first of ``missing`` and how many there are."""
    more = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
    return DatasetError(f"{what}{more}", path=missing[0], fix=fix)


def visible_files(folder: Path, suffixes: Iterable[str] | None = None) -> list[Path]:
    """Plain files of ``folder`` in natural name order, without hidden ones (macOS archives add
    ``._NAME`` twins); only those with one of ``suffixes`` (lower-case, with the dot) if given."""
    wanted = tuple(suffixes) if suffixes is not None else None
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and (wanted is None or p.suffix.lower() in wanted)
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def previous_root(folder: Path) -> str | None:
    """The root the index in ``folder`` was last built from (None when there is none)."""
    try:
        raw = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        generator = raw.get("generator") or {}
        if generator.get("version") != INDEX_VERSION:
            return None
        return generator.get("root")
    except (OSError, ValueError, AttributeError):
        return None


def stale(target: Path, sources: Iterable[Path]) -> bool:
    """Whether ``target`` is missing or older than one of ``sources``."""
    if not target.is_file():
        return True
    made = target.stat().st_mtime_ns
    return any(s.stat().st_mtime_ns > made for s in sources)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"cannot read the image: {exc}", path=path, fix="re-download the file") from None


def read_binary_mask(path: Path, size: tuple[int, int], image: Path) -> np.ndarray:
    """A mask file as booleans (grey level >= 128), refused if its size differs from the image's."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mask_size = im.size
            grey = np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"cannot read the mask: {exc}", path=path, fix="re-download the file") from None
    if mask_size != size:
        raise DatasetError(
            f"mask is {mask_size[0]}×{mask_size[1]} but its image {image.name} is {size[0]}×{size[1]}",
            path=path,
            fix="re-download the dataset: each mask must be drawn on its own image",
        )
    return grey >= 128


def write_png_label(target: Path, label: np.ndarray) -> None:
    """Write a uint8 label map as PNG, atomically (an interrupted index never leaves half a file)."""
    from PIL import Image

    from genseg.data.atomic import atomic_write

    atomic_write(target, lambda tmp: Image.fromarray(label).save(tmp, format="PNG"))
