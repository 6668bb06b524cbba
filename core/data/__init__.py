"""Data layer: the dataset.json folder format, 2D image/label I/O, atomic writes, the
prompted segmentation dataset, augmentation pipelines and seeded sample datasets.

Names are resolved lazily so ``import genseg.data`` stays light: torch and albumentations
load only when the dataset or the transforms are first used.
"""

from __future__ import annotations

from genseg.lazy import lazy_exports

_EXPORTS = {
    "atomic_write": "genseg.data.atomic",
    "ClassSpec": "genseg.data.schema",
    "DatasetEntry": "genseg.data.schema",
    "DatasetSpec": "genseg.data.schema",
    "load_dataset_spec": "genseg.data.schema",
    "write_dataset_spec": "genseg.data.schema",
    "resolve_path": "genseg.data.schema",
    "Sample": "genseg.data.sample",
    "load_image": "genseg.data.io",
    "load_label": "genseg.data.io",
    "read_image": "genseg.data.readers",
    "read_image_size": "genseg.data.readers",
    "read_label": "genseg.data.readers",
    "write_png_mask": "genseg.data.readers",
    "write_image_png": "genseg.data.readers",
    "write_overlay_png": "genseg.data.readers",
    "PromptedSegmentationDataset": "genseg.data.folder_dataset",
    "build_transform": "genseg.data.transforms",
    "ImageProcessor": "genseg.data.image_processor",
    "make_shapes_dataset": "genseg.data.sample_data",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
