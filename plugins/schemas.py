"""What plugins hand to genseg, as validated data.

Hooks return these models (or plain dicts with the same fields, validated on arrival).
Static parts (vocabularies, dataset and adapter cards) live as JSON package data so that
listing them imports nothing heavy; code is named by a ``"module:attribute"`` string and
imported only when it is used.
"""

from __future__ import annotations

import importlib
import json
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from genseg.errors import ConfigError
from genseg.names import normalise

_NAME = r"^[a-z0-9][a-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_target(value: str) -> str:
    module, sep, attr = value.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{value!r} must name code as 'package.module:attribute'")
    return value


Target = Annotated[str, AfterValidator(_check_target)]
"""Code named as ``"package.module:attribute"``, imported only when used."""


class DomainInfo(_Strict):
    """A field of application (medical, remote-sensing, ...) that a plugin serves."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    tiling: bool = Field(
        False,
        description="images larger than the model's input are cut into overlapping tiles at the model's "
        "resolution (aerial scenes) instead of being resized whole (photographs, slices)",
    )
    option_keys: list[str] | None = Field(
        None,
        description="the preprocessing options (-O KEY=VALUE, dataset.json 'preprocessing') the domain "
        "understands; genseg refuses others when a dataset is loaded. None: not declared, not checked",
    )
    flips: list[Literal["horizontal", "vertical"]] = Field(
        default_factory=list,
        description="the flips training may apply to the domain's images without changing what a class "
        "name means ('horizontal': left-right mirror, 'vertical': up-down). Not declared: none, since a "
        "mirror turns a left kidney into a right one",
    )


class DatasetCard(_Strict):
    """Where a public dataset comes from and under which terms; shown by `genseg datasets list`."""

    name: str = Field(pattern=_NAME)
    title: str = ""
    domain: str = "generic"
    description: str = ""
    url: str = ""
    licence: str = Field(min_length=1, description="licence name or terms; 'unknown' if not stated")
    citation: str = ""
    classes: list[str] = []
    layout: str = Field("", description="how the files lie on disk, e.g. 'images/ + masks/'")


class DatasetRegistration(_Strict):
    """A dataset name, its card, and the loader that turns a root folder into a dataset folder.

    ``loader`` names ``load(root: pathlib.Path) -> pathlib.Path``: given the folder where the
    user keeps the data, return a folder holding a ``dataset.json`` (writing an index for a
    well-known layout if needed). It raises :class:`genseg.errors.DatasetError` when the data
    are missing, saying where to download them.
    """

    card: DatasetCard
    loader: Target

    @property
    def name(self) -> str:
        return self.card.name


class DatasetCatalog(_Strict):
    """A package data file listing several dataset registrations."""

    datasets: list[DatasetRegistration]


class Term(_Strict):
    """One thing a user may prompt for: its canonical name, synonyms and ontology codes."""

    name: str = Field(min_length=1)
    synonyms: list[str] = []
    codes: dict[str, str] = Field(default_factory=dict, description="ontology -> code, e.g. SNOMED CT")
    description: str = ""


class Vocabulary(_Strict):
    """The prompt vocabulary of a domain; templates turn a term into prompt text."""

    domain: str = Field(pattern=_NAME)
    name: str = Field(min_length=1)
    description: str = ""
    templates: list[str] = ["{}"]
    terms: list[Term] = Field(min_length=1)

    @field_validator("templates")
    @classmethod
    def _templates_have_slot(cls, templates: list[str]) -> list[str]:
        for t in templates:
            if t.count("{}") != 1:
                raise ValueError(f"template {t!r} must contain '{{}}' exactly once")
        return templates

    def lookup(self, text: str) -> Term | None:
        """The term whose name or synonym equals ``text`` (case and spacing ignored)."""
        key = normalise(text)
        for term in self.terms:
            if key in (normalise(n) for n in (term.name, *term.synonyms)):
                return term
        return None


class ReaderSpec(_Strict):
    """A file reader: the patterns it claims and the function that reads.

    ``read`` names ``read(path: pathlib.Path, kind: str) -> genseg.data.sample.Sample``
    where ``kind`` is ``"image"`` or ``"label"``.
    """

    name: str = Field(pattern=_NAME)
    patterns: list[str] = Field(
        min_length=1, description="fnmatch patterns on the file name, e.g. '*.nii.gz'"
    )
    kinds: list[Literal["image", "label"]] = ["image", "label"]
    directories: bool = Field(False, description="claims folders instead of files (e.g. a DICOM series)")
    description: str = ""
    read: Target
    claims: Target | None = Field(
        None,
        description="names claims(path) -> bool, asked after a pattern matched, for formats that share an "
        "extension (a GeoTIFF is a TIFF): only files it accepts are read by this reader",
    )
    open_windowed: Target | None = Field(
        None,
        description="names open(path, domain, options) -> genseg.tiling.RasterSource with a `reference` "
        "Sample (metadata only): rasters too large to read whole are streamed through it window by window",
    )


class WriterSpec(_Strict):
    """An output writer: the patterns it claims and how it writes.

    A ``mask`` writer's ``write`` names ``write(path: pathlib.Path, mask: numpy.ndarray,
    reference: Sample | None) -> pathlib.Path``; ``reference`` is the input the mask was
    predicted from, whose spatial metadata the writer must carry over unchanged. ``path`` is
    a temporary sibling of the output (same format ending), renamed to the output name only
    when ``write`` returns, so a writer failing half-way leaves no file under that name.

    Since hookspec 1.4 ``write`` (and ``open`` below) may also accept the keywords
    ``classes: list[ClassInfo]`` (what each label value means: prompt, vocabulary term,
    synonyms, codes, colour; one record per prompt, background 0 has none) and ``model: str |
    None`` (the name of the model that predicted the mask). genseg passes each only to a
    function whose signature names it (or takes ``**kwargs``); a writer without ``classes``
    keeps working and genseg warns once that its files carry no class names.

    ``stream`` (mask or ``vector`` writers) names ``open(path, reference, prompts) -> sink``
    whose ``write_rows(row, labels, probabilities)`` takes finished rows in order, ``close()``
    commits the file and ``abort()`` removes what was written: outputs of rasters too large
    for memory, and vector layers (polygons with class, prompt and score). Writers write
    atomically: nothing appears under ``path`` before ``close()``.
    """

    name: str = Field(pattern=_NAME)
    patterns: list[str] = Field(min_length=1)
    formats: list[str] = Field(min_length=1, description="format names a user may ask for, e.g. 'png'")
    kind: Literal["mask", "vector"] = "mask"
    description: str = ""
    write: Target | None = None
    stream: Target | None = None

    @model_validator(mode="after")
    def _writes_somehow(self) -> WriterSpec:
        if self.write is None and self.stream is None:
            raise ValueError("a writer needs `write`, `stream` or both")
        if self.kind == "vector" and self.stream is None:
            raise ValueError("a vector writer needs `stream`")
        return self


class ClassInfo(_Strict):
    """What one label value of a written mask means: handed to mask and vector writers as
    ``classes`` (hookspec 1.4), so that the file can name its classes for the tools that open
    it (DICOM-SEG segment labels and codes, NIfTI colour tables, raster colour maps).

    genseg builds one per prompt, in prompt order: ``value`` is the label value written for
    it (1, 2, ... for several prompts; the single prompt's "on" value otherwise, e.g. 255 in a
    PNG); 0 is background and has no record. ``name`` is the vocabulary term the prompt
    resolved to (its canonical name), or the prompt itself when it is no term, in which case
    ``synonyms`` and ``codes`` are empty and ``vocabulary`` is "". ``colour`` is the colour of
    the class in genseg's overlay legend, so every output shows a class in one colour.
    """

    value: int = Field(ge=0, description="the label value in the mask")
    prompt: str = Field(min_length=1, description="the prompt text as the user gave it")
    name: str = Field(min_length=1, description="the vocabulary term's name, else the prompt")
    synonyms: list[str] = []
    codes: dict[str, str] = Field(
        default_factory=dict,
        description="ontology -> code, as in the vocabulary, e.g. {'SNOMED CT': '10200004'}",
    )
    colour: tuple[int, int, int] = Field(description="display colour, RGB 0-255")
    vocabulary: str = Field(
        "", description="the vocabulary the term comes from; '' when the prompt is no term"
    )

    @field_validator("colour")
    @classmethod
    def _rgb(cls, colour: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= c <= 255 for c in colour):
            raise ValueError(f"colour {colour} must be three integers in 0..255")
        return colour


class AdapterCard(_Strict):
    """A fine-tuned adapter (LoRA) a plugin ships or points to, with what it expects as input."""

    name: str = Field(pattern=_NAME)
    domain: str
    description: str = ""
    base_model: str = ""
    location: str = Field(description="folder inside the package, absolute path, or hub id")
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    licence: str = "unknown"
    prompts: list[str] = []


class MetricSpec(_Strict):
    """A metric for a domain; ``factory`` names a callable returning a torchmetrics Metric
    over binary masks (``update(pred, target)``, ``compute() -> tensor``)."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    higher_is_better: bool = True
    factory: Target


class SampleDataset(_Strict):
    """A dataset ``genseg sample-data`` writes into ``OUTPUT/name`` (hookspec 1.6).

    ``make`` names ``make(root: pathlib.Path, seed: int) -> pathlib.Path``, generating the
    dataset offline from the seed; without it, ``name`` is a registered dataset and its
    loader builds it (``fetches``: it downloads, so ``--generated-only`` leaves it out).
    """

    name: str = Field(pattern=_NAME)
    make: Target | None = None
    fetches: bool = Field(False, description="built from downloaded files (package registry), not generated")

    @model_validator(mode="after")
    def _made_or_fetched(self) -> SampleDataset:
        if self.make is None and not self.fetches:
            raise ValueError(
                "a sample dataset needs 'make' (generated) or 'fetches': true (its loader fetches)"
            )
        return self


M = TypeVar("M", bound=BaseModel)


def validate_as(model: type[M], value: Any, source: str) -> M:
    """``value`` (a model or a dict) as ``model``; a ConfigError naming ``source`` otherwise."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"invalid {model.__name__} at {where}: {first['msg']}",
            path=source,
            fix=f"see docs/plugins.md for the fields of {model.__name__}",
        ) from None


def load_package_json(package: str, resource: str, model: type[M]) -> M:
    """Read ``resource`` from ``package``'s data files and validate it as ``model``."""
    source = f"{package}/{resource}"
    try:
        text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ModuleNotFoundError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read package data: {exc}", path=source, fix="reinstall the plugin package"
        ) from None
    return validate_as(model, data, source)


def resolve_target(target: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attr = _check_target(target).partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------- genseg_refine_query
class Candidate(BaseModel):
    """One vocabulary term and how close the request came to it."""

    model_config = ConfigDict(frozen=True)

    term: str
    score: float
    matched: str = Field(description="the name, synonym or description that scored best")


class RefinedQuery(BaseModel):
    """What ``genseg_refine_query`` returns: the phrases to segment, best first.

    ``phrases`` are the texts handed to the segmenter; ``terms`` the vocabulary terms they
    stand for (empty when a plugin, e.g. a VLM, produced free text that is no term).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: str = Field(min_length=1)
    domain: str
    phrases: list[str] = Field(min_length=1)
    scores: list[float]
    terms: list[str] = []
    method: str = Field(min_length=1, description="how the phrases were chosen, e.g. 'minilm-cosine'")
    threshold: float | None = None
    candidates: list[Candidate] = Field(default_factory=list, description="the ranking behind the choice")

    @model_validator(mode="after")
    def _aligned(self) -> RefinedQuery:
        if len(self.scores) != len(self.phrases):
            raise ValueError("scores must give one score per phrase")
        if self.terms and len(self.terms) != len(self.phrases):
            raise ValueError("terms must be empty or name one term per phrase")
        return self
