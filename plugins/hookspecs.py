"""The hooks a genseg plugin may implement (any subset), with their exact signatures.

genseg calls every hook with keyword arguments, so an implementation may accept fewer
arguments than the spec lists, and new arguments can be added to a spec without breaking
existing plugins. The contract is versioned by :data:`GENSEG_HOOKSPEC_VERSION` (semver):
a plugin states the range it was written for in a module attribute
``GENSEG_HOOKSPEC = ">=1.0,<2"``; a plugin outside its range is not loaded.

Registration hooks return lists of the models in :mod:`genseg.plugins.schemas` (or dicts
with the same fields). ``genseg_get_reader``, ``genseg_get_writer``, ``genseg_preprocess``,
``genseg_index_dataset_folder`` and ``genseg_refine_query`` are *first result* hooks: the
first plugin to answer wins; the built-in generic plugin answers last, so domain plugins
override it.
Registration hooks should return static data: genseg calls each once per process and
keeps the validated result.
docs/plugins.md documents each hook with an example.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # annotations only: keep plugin loading free of heavy imports
    import typer

    from genseg.data.sample import Sample
    from genseg.plugins.schemas import (
        AdapterCard,
        DatasetRegistration,
        DomainInfo,
        MetricSpec,
        ReaderSpec,
        RefinedQuery,
        SampleDataset,
        Vocabulary,
        WriterSpec,
    )

PROJECT = "genseg"
GENSEG_HOOKSPEC_VERSION = "1.6.0"
"""1.1: optional fields, compatible with 1.0 plugins: ``DomainInfo.tiling``,
``ReaderSpec.claims`` / ``open_windowed``, ``WriterSpec.kind`` / ``stream`` (vector and streamed writers).
1.2: the first-result hook ``genseg_refine_query`` (free-form request → vocabulary phrases).
1.3: the optional field ``DomainInfo.option_keys`` (preprocessing options checked at dataset load).
1.4: mask and vector writers may accept a ``classes`` keyword (what each label value means:
name, vocabulary term, codes, colour) and a ``model`` keyword (the predicting model's name);
the optional field ``DomainInfo.flips`` (which flips training may apply without changing what
a class name means).
1.5: the first-result hook ``genseg_index_dataset_folder`` (a folder in another tool's dataset
layout, such as nnU-Net's, indexed as a genseg dataset).
1.6: the registration hook ``genseg_register_sample_data`` (the datasets ``genseg sample-data``
writes, so each comes with the plugin that owns its domain)."""
HOOKSPEC_ATTRIBUTE = "GENSEG_HOOKSPEC"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genseg_register_domains() -> list[DomainInfo | dict[str, Any]]:
    """Domains this plugin serves (``name``, ``description``)."""


@hookspec
def genseg_register_datasets() -> list[DatasetRegistration | dict[str, Any]]:
    """Datasets by name: a card (URL, licence, citation, classes) and a loader target."""


@hookspec
def genseg_register_vocabularies() -> list[Vocabulary | dict[str, Any]]:
    """Prompt vocabularies: terms with synonyms and ontology codes, per domain."""


@hookspec
def genseg_register_readers() -> list[ReaderSpec | dict[str, Any]]:
    """File readers, each claiming file-name patterns for images and/or labels."""


@hookspec
def genseg_register_writers() -> list[WriterSpec | dict[str, Any]]:
    """Mask writers, each claiming output patterns and format names.

    A writer's ``write`` (and a streamed writer's ``open``) may accept the keywords
    ``classes`` (a list of :class:`~genseg.plugins.schemas.ClassInfo`: per label value the
    prompt, vocabulary term, codes and overlay colour) and ``model`` (the predicting model's
    name), since 1.4; genseg passes them only to functions that name them."""


@hookspec(firstresult=True)
def genseg_get_reader(path: Path, kind: str) -> ReaderSpec | dict[str, Any] | None:
    """The reader for ``path`` (``kind`` is ``"image"`` or ``"label"``), or None to pass.

    Implement this only to look inside files (e.g. DICOM without an extension); readers
    registered with patterns are matched by the built-in plugin.
    """


@hookspec(firstresult=True)
def genseg_get_writer(path: Path, fmt: str | None) -> WriterSpec | dict[str, Any] | None:
    """The writer for output ``path`` (or format name ``fmt`` when given), or None to pass."""


@hookspec(firstresult=True)
def genseg_preprocess(sample: Sample, domain: str, options: Mapping[str, Any]) -> Sample | None:
    """``sample`` turned into model input (float32 in [0, 1], ``normalised=True``), or None
    when this plugin does not preprocess ``domain``. ``options`` holds user choices such
    as ``{"window": "lung"}``. Spatial metadata must be kept unchanged."""


@hookspec(firstresult=True)
def genseg_index_dataset_folder(folder: Path) -> Path | None:
    """A folder holding genseg's ``dataset.json`` for ``folder``, a dataset in another tool's
    layout (its ``dataset.json`` is of another schema, or it has none), or None to pass.

    The index must be written elsewhere (``genseg.plugins.dataset_index.index_dir``), never
    into ``folder``; a layout the plugin knows but cannot read raises DatasetError naming the
    file and the fix."""


@hookspec
def genseg_register_sample_data() -> list[SampleDataset | dict[str, Any]]:
    """Sample datasets ``genseg sample-data`` writes: generated from a seed (``make``) or
    built by a registered dataset's loader from downloaded files (``fetches``)."""


@hookspec
def genseg_register_adapters() -> list[AdapterCard | dict[str, Any]]:
    """Fine-tuned adapters (LoRA) with the preprocessing they expect."""


@hookspec
def genseg_register_commands(app: typer.Typer) -> None:
    """Add commands to the ``genseg`` CLI (``app.command("name")(function)``)."""


@hookspec
def genseg_register_metrics(domain: str) -> list[MetricSpec | dict[str, Any]]:
    """Metrics worth reporting for ``domain`` besides IoU and Dice."""


@hookspec(firstresult=True)
def genseg_refine_query(
    request: str, domain: str, vocabulary: Vocabulary, top_k: int, threshold: float
) -> RefinedQuery | dict[str, Any] | None:
    """The phrase(s) to segment for a free-form ``request`` (GenMask's reasoning stage), or None
    to pass. ``vocabulary`` is ``domain``'s merged vocabulary; the built-in answer grounds the
    request in it by MiniLM cosine and raises PromptError below ``threshold``. A plugin may
    answer with a VLM loaded from a local path (docs/plugins.md)."""
