"""Everything a genseg domain plugin imports from genseg, in one module.

A plugin package (``domains/*``, or one made by ``genseg plugins new``) imports genseg
through this module only, as a test suite imports ``pytest`` and never ``_pytest``: the
names here are the contract genseg keeps across its releases, while the modules behind
them may move. ``make lint`` fails when a domain package imports any other genseg module.

The hook marker, the errors and the name helpers are imported with this module; everything
else (the schemas, ``Sample``, the dataset format, readers, the dataset-index helpers) on
first use, since genseg imports every plugin module just to list it.

- Hooks and what they return: :data:`hookimpl`, :data:`GENSEG_HOOKSPEC_VERSION`, the
  schemas (``DomainInfo``, ``DatasetRegistration``, ``Vocabulary``, ``ReaderSpec``,
  ``WriterSpec``, ``ClassInfo``, ``SampleDataset``...), ``load_package_json``.
- What readers return and writers keep: ``Sample``, ``SPATIAL_KEYS``, ``warn_spatial_loss``,
  ``atomic_write``, ``sidecar_path``.
- Preprocessing options: ``check_option_keys``, ``is_strict``, ``band_key``, ``MODEL_BANDS``.
- Dataset folders and indexes: ``DatasetSpec``, ``DatasetEntry``, ``ClassSpec``,
  ``write_dataset_spec``, ``PluginDatasets`` and the helpers of ``genseg.plugins.dataset_index``.
- Sample data: ``begin_generation``, ``up_to_date``, ``fetch_members``, ``RegistryArchive``,
  ``write_card``.
- Calling the host from a plugin or its tests: ``read``, ``preprocess``, ``find_reader``,
  ``load_dataset``, ``registered_domains``, ``registered_datasets``, ``domain_vocabularies``,
  ``validate_plugin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genseg.errors import (
    ConfigError,
    DatasetError,
    GenSegError,
    InputError,
    OutputError,
    PluginError,
    PromptError,
)
from genseg.extras import MissingExtraError
from genseg.lazy import lazy_exports
from genseg.names import normalise, slug
from genseg.plugins.hookspecs import GENSEG_HOOKSPEC_VERSION, hookimpl
from genseg.version import __version__ as GENSEG_VERSION

_SCHEMAS = "genseg.plugins.schemas"
_INDEX = "genseg.plugins.dataset_index"
_REGISTRY = "genseg.plugins.registry"
_LAZY = {
    **{
        name: _SCHEMAS
        for name in (
            "AdapterCard",
            "Candidate",
            "ClassInfo",
            "DatasetCard",
            "DatasetCatalog",
            "DatasetRegistration",
            "DomainInfo",
            "MetricSpec",
            "ReaderSpec",
            "RefinedQuery",
            "SampleDataset",
            "Term",
            "Vocabulary",
            "WriterSpec",
            "load_package_json",
        )
    },
    "Sample": "genseg.data.sample",
    "SPATIAL_KEYS": "genseg.data.sample",
    "warn_spatial_loss": "genseg.data.sample",
    "atomic_write": "genseg.data.atomic",
    "check_option_keys": "genseg.plugins.options",
    "is_strict": "genseg.plugins.options",
    "band_key": "genseg.plugins.options",
    "MODEL_BANDS": "genseg.plugins.options",
    "DATASET_JSON": "genseg.data.schema",
    "ClassSpec": "genseg.data.schema",
    "DatasetEntry": "genseg.data.schema",
    "DatasetSpec": "genseg.data.schema",
    "load_dataset_spec": "genseg.data.schema",
    "write_dataset_spec": "genseg.data.schema",
    "read_image": "genseg.data.readers",
    "to_unit_float": "genseg.data.readers",
    "warn_float_clipping": "genseg.data.readers",
    "max_raster_pixels": "genseg.data.readers",
    "DEFAULT_MAX_PIXELS": "genseg.data.readers",
    "MAX_PIXELS_ENV": "genseg.data.readers",
    "write_image_png": "genseg.data.readers",
    "write_png_mask": "genseg.data.readers",
    "OVERLAY_COLOURS": "genseg.data.palette",
    **{
        name: _INDEX
        for name in (
            "INDEX_VERSION",
            "PluginDatasets",
            "absolute",
            "image_size",
            "index_dir",
            "missing_files",
            "natural_key",
            "read_binary_mask",
            "split_every_tenth",
            "stale",
            "visible_files",
            "write_png_label",
        )
    },
    "RegistryArchive": "genseg.data.registry_fetch",
    "fetch_members": "genseg.data.registry_fetch",
    "sha256_of": "genseg.data.registry_fetch",
    "write_card": "genseg.data.registry_fetch",
    "begin_generation": "genseg.data.sample_data",
    "up_to_date": "genseg.data.sample_data",
    "read": _REGISTRY,
    "preprocess": _REGISTRY,
    "find_reader": _REGISTRY,
    "sidecar_path": _REGISTRY,
    "load_dataset": _REGISTRY,
    "registered_domains": f"{_REGISTRY}:domains",
    "registered_datasets": f"{_REGISTRY}:datasets",
    "domain_vocabularies": f"{_REGISTRY}:vocabulary",
    "validate_plugin": "genseg.plugins.validate",
}

__all__ = [  # the public names; the layer contract and tests/plugins/test_api.py check them
    "absolute",
    "AdapterCard",
    "atomic_write",
    "band_key",
    "begin_generation",
    "Candidate",
    "check_option_keys",
    "ClassInfo",
    "ClassSpec",
    "ConfigError",
    "DATASET_JSON",
    "DatasetCard",
    "DatasetCatalog",
    "DatasetEntry",
    "DatasetError",
    "DatasetRegistration",
    "DatasetSpec",
    "DEFAULT_MAX_PIXELS",
    "domain_vocabularies",
    "DomainInfo",
    "fetch_members",
    "find_reader",
    "GENSEG_HOOKSPEC_VERSION",
    "GENSEG_VERSION",
    "GenSegError",
    "hookimpl",
    "image_size",
    "index_dir",
    "INDEX_VERSION",
    "InputError",
    "is_strict",
    "load_dataset",
    "load_dataset_spec",
    "load_package_json",
    "MAX_PIXELS_ENV",
    "max_raster_pixels",
    "MetricSpec",
    "missing_files",
    "MissingExtraError",
    "MODEL_BANDS",
    "natural_key",
    "normalise",
    "OutputError",
    "OVERLAY_COLOURS",
    "PluginDatasets",
    "PluginError",
    "preprocess",
    "PromptError",
    "read",
    "read_binary_mask",
    "read_image",
    "ReaderSpec",
    "RefinedQuery",
    "registered_datasets",
    "registered_domains",
    "RegistryArchive",
    "Sample",
    "SampleDataset",
    "sha256_of",
    "sidecar_path",
    "slug",
    "SPATIAL_KEYS",
    "split_every_tenth",
    "stale",
    "Term",
    "to_unit_float",
    "up_to_date",
    "validate_plugin",
    "visible_files",
    "Vocabulary",
    "warn_float_clipping",
    "warn_spatial_loss",
    "write_card",
    "write_dataset_spec",
    "write_image_png",
    "write_png_label",
    "write_png_mask",
    "WriterSpec",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # pragma: no cover - what type checkers and the layer contract see
    from genseg.data.atomic import atomic_write
    from genseg.data.palette import OVERLAY_COLOURS
    from genseg.data.readers import (
        DEFAULT_MAX_PIXELS,
        MAX_PIXELS_ENV,
        max_raster_pixels,
        read_image,
        to_unit_float,
        warn_float_clipping,
        write_image_png,
        write_png_mask,
    )
    from genseg.data.registry_fetch import RegistryArchive, fetch_members, sha256_of, write_card
    from genseg.data.sample import SPATIAL_KEYS, Sample, warn_spatial_loss
    from genseg.data.sample_data import begin_generation, up_to_date
    from genseg.data.schema import (
        DATASET_JSON,
        ClassSpec,
        DatasetEntry,
        DatasetSpec,
        load_dataset_spec,
        write_dataset_spec,
    )
    from genseg.plugins.dataset_index import (
        INDEX_VERSION,
        PluginDatasets,
        absolute,
        image_size,
        index_dir,
        missing_files,
        natural_key,
        read_binary_mask,
        split_every_tenth,
        stale,
        visible_files,
        write_png_label,
    )
    from genseg.plugins.options import MODEL_BANDS, band_key, check_option_keys, is_strict
    from genseg.plugins.registry import datasets as registered_datasets
    from genseg.plugins.registry import domains as registered_domains
    from genseg.plugins.registry import find_reader, load_dataset, preprocess, read, sidecar_path
    from genseg.plugins.registry import vocabulary as domain_vocabularies
    from genseg.plugins.schemas import (
        AdapterCard,
        Candidate,
        ClassInfo,
        DatasetCard,
        DatasetCatalog,
        DatasetRegistration,
        DomainInfo,
        MetricSpec,
        ReaderSpec,
        RefinedQuery,
        SampleDataset,
        Term,
        Vocabulary,
        WriterSpec,
        load_package_json,
    )
    from genseg.plugins.validate import validate_plugin
