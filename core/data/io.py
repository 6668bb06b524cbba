"""Reading files through whichever installed plugin claims them.

Core code never picks a reader itself: a file goes to the reader the plugins choose
(``genseg_get_reader``), then to the preprocessing of its domain (``genseg_preprocess``),
so a domain plugin's formats work everywhere the generic ones do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genseg.data.sample import Sample

COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def load_image(path: str | Path, domain: str = "generic", options: Mapping[str, Any] | None = None) -> Sample:
    """Read an image and preprocess it for ``domain``: float32 in [0, 1], metadata kept."""
    from genseg.plugins import registry

    sample = registry.read(path, "image")
    return registry.preprocess(sample, domain, options)


def load_label(path: str | Path) -> Sample:
    """Read an integer label map (values untouched)."""
    from genseg.plugins import registry

    return registry.read(path, "label")


def image_size(path: str | Path) -> tuple[int, ...]:
    """Spatial shape of an image; from the header alone when the built-in reader owns it."""
    from genseg.data.readers import read_image_size, read_sample
    from genseg.plugins import registry
    from genseg.plugins.schemas import resolve_target

    _, spec = registry.find_reader(path, "image")
    if resolve_target(spec.read) is read_sample:
        return read_image_size(path)
    return registry.read(path, "image").spatial_shape


def stem(path: str | Path) -> str:
    """A file name without its extension, a compressed one counted whole (``a.nii.gz`` → ``a``)."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() in COMPRESSION_SUFFIXES:
        name = name[: -len(path.suffix)]
    return Path(name).stem if Path(name).suffix else name
