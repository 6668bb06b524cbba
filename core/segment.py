"""Segment image files from prompts and write masks and overlays (what `genseg segment` does).

Inputs are streamed: each is read, segmented and written before the next is read, so a
folder of any length needs the memory of its largest image only. What can be checked
without reading pixels (names, clashes, writable folders, outputs already there) is checked
for every input before anything is written. Each output is written to a temporary name and
renamed, and an input's overlay is its last output, so an input whose mask and overlay exist
under their final names is complete: ``existing="resume"`` skips it after an interrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genseg.data.atomic import check_writable
from genseg.data.bands import band_options, layout_of, model_input
from genseg.data.classes import class_infos, label_values
from genseg.errors import GenSegError, InputError, OutputError
from genseg.inference import InferenceOptions, inference_options

Existing = Literal["error", "resume", "overwrite"]
"""What to do with outputs already on disk: refuse before writing anything, skip the inputs
whose outputs are complete, or replace them."""


@dataclass
class SegmentedFile:
    input: Path
    outputs: list[Path]
    coverage: dict[str, float]  # fraction of pixels in each prompt's mask


@dataclass
class FailedFile:
    """An input that could not be segmented, and why (the others went on)."""

    input: Path
    error: Exception

    @property
    def reason(self) -> str:
        if isinstance(self.error, GenSegError):
            return self.error.one_line()
        return f"{type(self.error).__name__}: {self.error}"


class SegmentResults(list):
    """The inputs segmented (a list of :class:`SegmentedFile`), plus ``skipped``: inputs whose
    outputs were complete already (``existing="resume"``), and ``failed``: inputs that could
    not be segmented while the others went on."""

    def __init__(self, written=()) -> None:
        super().__init__(written)
        self.skipped: list[Path] = []
        self.failed: list[FailedFile] = []


def expand_folders(inputs: list[Path]) -> list[Path]:
    """Each folder that no reader takes as a whole (a DICOM series is one image) stands for
    what is directly inside it that a reader claims, in name order: image files, and
    sub-folders read whole (a patient's series folders); hidden entries, files no reader
    claims (notes, sidecars) and other sub-folders are passed over. Nothing is read."""
    expanded: list[Path] = []
    for src in map(Path, inputs):
        if not src.is_dir() or _claimed(src):
            expanded.append(src)
            continue
        entries = [e for e in sorted(src.iterdir()) if not e.name.startswith(".") and _claimed(e)]
        if not entries:
            raise InputError(
                "the folder holds no image file that an installed reader reads",
                path=src,
                fix="pass image files (.png, .jpg, .tif, ...), a folder of them, or a DICOM series "
                "folder (`genseg plugins list` shows the readers)",
            )
        expanded += entries
    return expanded


def _claimed(path: Path) -> bool:
    """Whether an installed reader takes ``path`` as an image."""
    from genseg.plugins.registry import find_reader

    try:
        find_reader(path, "image")
    except InputError:
        return False
    return True


def output_is_file(output: Path) -> bool:
    """A name with an extension that is not an existing folder is one output file; an
    extension no installed writer handles is an error listing the writers."""
    if output.is_dir() or not output.suffix:
        return False
    from genseg.plugins.registry import find_writer

    find_writer(output)
    return True


def mask_suffix(src: Path, is_volume: bool = False) -> str:
    """The mask format in folder mode: the input's own when a writer handles it (so a
    GeoTIFF or NIfTI keeps its georeferencing or affine), else PNG for images and NIfTI
    for volumes."""
    from genseg.data.io import stem
    from genseg.errors import GenSegError
    from genseg.plugins.registry import find_writer

    own = Path(src).name[len(stem(src)) :]
    candidates = ([own] if own else []) + [".nii.gz" if is_volume else ".png"]
    for suffix in candidates:
        try:
            find_writer(Path("mask" + suffix))
            return suffix
        except GenSegError:
            continue
    raise InputError(
        "no installed writer can store this volume's mask",
        path=src,
        fix="install a plugin that writes it (genseg-plugin-medical: NIfTI) or pass --output NAME.EXT",
    )


def plan_outputs(
    inputs: list[Path], output: Path, volumes: set[Path] | None = None
) -> dict[Path, dict[str, Path]]:
    """Where each input's masks go. A file OUT takes one input; a folder OUT takes many, each
    as ``NAME_mask.EXT`` (``NAME`` without a compound extension: ``x.nii.gz`` → ``x_mask``).
    ``volumes`` are the inputs whose mask falls back to NIfTI, not PNG, when no writer handles
    their own format (``x.mgz``, ``x.hdr`` → ``x_mask.nii.gz``)."""
    from genseg.data.io import stem

    single_file = output_is_file(output)
    if single_file and len(inputs) != 1:
        raise InputError(
            f"--output is a file but {len(inputs)} inputs were given",
            path=output,
            fix="pass a folder as --output to segment several images",
        )
    stems = [stem(src) for src in inputs]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash and not single_file:
        raise InputError(
            f"several inputs share the name {clash[0]!r}; their outputs would overwrite each other",
            path=output,
            fix="segment them in separate runs with different --output folders",
        )
    plan: dict[Path, dict[str, Path]] = {}
    for src, name in zip(inputs, stems, strict=True):
        base = output.parent / stem(output) if single_file else output / name
        plan[src] = {
            "mask": output
            if single_file
            else output / f"{name}_mask{mask_suffix(src, src in (volumes or ()))}",
            "overlay": beside(base, "_overlay.png"),
            "uncertainty": beside(base, "_uncertainty.png"),
        }
    refuse_overwriting_inputs(plan)
    return plan


def beside(base: Path, ending: str) -> Path:
    """``base`` + ``ending`` as a sibling file, the base cut so the name fits 255 bytes
    (an output named near the limit still gets its overlay)."""
    room = 255 - len(ending.encode())
    head = base.name.encode()[:room].decode(errors="ignore")
    return base.with_name(head + ending)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (hard links and symlinks included)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def refuse_overwriting_inputs(plan: dict[Path, dict[str, Path]], extra: list[Path] = ()) -> None:
    """No output may replace an input: ``-o x.png x.png``, or ``a_mask.png`` given beside
    ``a.png`` in folder mode, would otherwise destroy the user's file and exit 0."""
    inputs = list(plan)
    outputs = [(src, kind, dst) for src, files in plan.items() for kind, dst in files.items()]
    outputs += [(None, "vector", dst) for dst in extra]
    for src, kind, dst in outputs:
        for other in inputs:
            if _same_file(dst, Path(other)):
                whose = "its" if src == other else f"{Path(src).name}'s" if src else "the"
                raise InputError(
                    f"the input would be overwritten by {whose} {kind} output",
                    path=other,
                    fix="choose another --output (a new file name or a separate folder)",
                )


FLAT_MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def refuse_flat_output_for_volume(sample, mask_path: Path) -> None:
    """A volume's mask is D×H×W: a 2D image format cannot hold it (nor its affine)."""
    if sample.is_volume and mask_path.suffix.lower() in FLAT_MASK_SUFFIXES:
        raise InputError(
            f"the input is a volume ({'×'.join(map(str, sample.array.shape[:3]))}); its mask cannot be "
            f"written as {mask_path.suffix}",
            path=mask_path,
            fix="write it as NAME.nii.gz (NIfTI, keeps the affine) or NAME.dcm (DICOM-SEG), or pass a folder "
            "as --output",
        )


def check_overlap(tile: int, overlap: int | None) -> None:
    """``--overlap`` at most half the tile the run cuts (the domain's, when no --tile-size
    was given; :class:`~genseg.inference.InferenceOptions` checks the rest), as one error
    before any work."""
    if overlap is not None and tile and overlap > tile // 2:
        raise InputError(
            f"--overlap {overlap} is more than half the tile ({tile} pixels)",
            fix=f"pass at most {tile // 2}, or a larger --tile-size",
        )


LARGE_IMAGE_PIXELS = 50_000_000
"""Above this many pixels (50 megapixels), an image segmented whole (a domain that does not
tile, no ``--tile-size``) gets a warning: it is shrunk to the model's resolution, so its fine
detail is lost, and its full-size copies take gigabytes."""


def whole_image_memory(pixels: int, channels: int, prompts: int) -> int:
    """Rough peak bytes, beyond the model, of segmenting an image whole: its float32 pixels,
    plus the larger of what comes and goes beside them: the outputs (per prompt a float32
    probability map and a mask, and the label map), or the masks and the overlay's canvas. A
    100-megapixel RGB PNG: 1.8 GB with one prompt, 2.3 GB with two (measured: 1.76 and 2.31 GB
    above the peak of the same run on a 64-pixel image)."""
    image = 4 * channels * pixels  # the pipeline reduces it in place (no working copy)
    return image + max((5 * prompts + 1) * pixels, (prompts + 4) * pixels)


def warn_large_image(sample, resolution: int, prompts: int = 1, stacklevel: int = 2) -> None:
    """One warning when a 2D image over :data:`LARGE_IMAGE_PIXELS` is to be segmented whole:
    the user learns that its detail is lost and what it costs in memory, and that
    ``--tile-size`` keeps the detail."""
    if sample.is_volume:
        return
    height, width = sample.spatial_shape
    pixels = height * width
    if pixels <= LARGE_IMAGE_PIXELS:
        return
    import warnings

    need = whole_image_memory(pixels, sample.array.shape[-1], prompts)
    warnings.warn(
        f"{sample.path}: a {width}×{height} image ({pixels / 1e6:.1f} megapixels) is segmented whole, "
        f"shrunk to the model's resolution of {resolution} px, and needs about {need / 1e9:.1f} GB of "
        f"memory besides the model; pass --tile-size {resolution} to segment it tile by tile at full detail",
        UserWarning,
        stacklevel=stacklevel,
    )


LABEL_BAND_PIXELS = 1 << 22
"""Pixels a label map of several prompts is chosen for at a time (its temporaries are 8 bytes
per pixel and prompt)."""


def label_map(masks: np.ndarray, probs: np.ndarray | None, on_value: int = 255) -> np.ndarray:
    """P×… masks → … uint8: 0 nothing, i+1 where prompt i is on and most probable.

    A single prompt gives 0/``on_value`` (255 keeps a PNG viewable; volumes use 1) and needs
    no ``probs``. Built in place or in bands of rows, so a 100-megapixel mask needs no
    full-size temporaries besides the result.
    """
    if masks.shape[0] == 1:
        labels = masks[0].astype(np.uint8)
        labels *= np.uint8(on_value)
        return labels
    if probs is None:
        raise ValueError("several prompts need their probabilities to choose each pixel's label")
    labels = np.zeros(masks.shape[1:], np.uint8)
    row_pixels = int(np.prod(masks.shape[2:], dtype=np.int64))
    step = max(1, LABEL_BAND_PIXELS // max(1, row_pixels * masks.shape[0]))
    for top in range(0, labels.shape[0], step):
        on, p = masks[:, top : top + step], probs[:, top : top + step]
        best = np.where(on, p, -1.0).argmax(0)
        labels[top : top + step] = np.where(on.any(0), best + 1, 0)
    return labels


def segment_files(
    pipe,
    inputs: list[Path],
    prompts: list[str],
    output: Path,
    inference: InferenceOptions | None = None,
    *,
    progress: bool = True,
    existing: Existing = "overwrite",
    fail_fast: bool = False,
    on_done: Callable[[SegmentedFile | FailedFile | Path], None] | None = None,
    **legacy: Any,
) -> SegmentResults:
    """Segment ``inputs`` (read by whichever plugin claims them, preprocessed for
    ``inference.domain`` with its ``options``) as ``inference`` says; keyword arguments named
    as :class:`~genseg.inference.InferenceOptions` fields (``steps=2, domain="medical"``) are
    applied over it.

    Files and folders mix: a folder that no reader takes as a whole (a DICOM series does)
    stands for the image files in it. 2D images give a mask and an overlay; volumes
    (D×H×W×C) are segmented slice by slice, every slice, and give a mask volume on the
    input's grid plus an overlay of a few slices. Images larger than the tiling policy's
    threshold (:func:`genseg.segment_tiled.tiling_for`; ``tile_size`` forces it, 0 never
    tiles) are segmented tile by tile at full detail, streamed from disk when their reader
    allows (see :mod:`genseg.segment_tiled`); ``vector`` also writes polygons (one input
    only), sieved by ``min_area`` and simplified by ``simplify`` (map units);
    ``probabilities`` also writes each prompt's probability beside the mask
    (``NAME.probabilities.tif``, by a writer of format ``probabilities``).

    Inputs are read, segmented and written one at a time. ``existing`` says what to do when
    outputs are on disk already: ``"error"`` refuses before anything is written (in folder
    mode; a single output file the caller named is replaced), ``"resume"`` skips the inputs
    whose outputs are complete, ``"overwrite"`` replaces them. With several inputs, one that
    fails is recorded in ``failed`` and the others go on, unless ``fail_fast``; a single
    input's failure is raised. ``on_done`` hears of each input as it finishes (its
    :class:`SegmentedFile`, :class:`FailedFile`, or the path of one skipped).
    """
    from genseg.models.text_encoder import validate_prompts
    from genseg.plugins.registry import find_writer
    from genseg.segment_tiled import tiling_for

    inference = inference_options(inference, **legacy).for_model(pipe)
    domain, vector = inference.domain, inference.vector
    if existing not in ("error", "resume", "overwrite"):
        raise ValueError(f"existing must be 'error', 'resume' or 'overwrite', got {existing!r}")
    prompts = validate_prompts(prompts)
    for src in inputs:
        if not Path(src).exists():
            raise InputError("input not found", path=src, fix="check the path")
    inputs = expand_folders(inputs)
    if vector is not None:
        if len(inputs) != 1:
            raise InputError(
                f"--vector writes one file but {len(inputs)} inputs were given",
                path=vector,
                fix="segment one scene per run when writing polygons",
            )
        find_writer(vector, kind="vector")
    elif inference.simplify is not None or inference.min_area is not None:
        raise InputError(
            "--simplify and --min-area shape the --vector polygons, but no --vector output was given",
            fix="add --vector NAME.gpkg (or NAME.geojson), or leave them out",
        )
    policy = tiling_for(domain, inference.tile_size, pipe.config.resolution)
    check_overlap(policy.tile, inference.overlap)
    # a model that reads bands beyond the colour slots asks the domain to keep them
    inference = inference.model_copy(update={"options": band_options(layout_of(pipe), inference.options)})
    # Names are checked for every input before anything is written; pixels are read one input
    # at a time. An input's mask name is known before it is read unless its own format has no
    # writer: then it is PNG for an image, NIfTI for a volume (or a 2D image with an affine).
    plan = plan_outputs(inputs, output, {src for src in inputs if Path(src).is_dir()})
    as_volume = volume_masks(plan, output)
    if as_volume:
        refuse_overwriting_inputs({src: {"mask": mask} for src, mask in as_volume.items()})
    if inference.probabilities:
        for files in plan.values():
            files["probabilities"] = probabilities_path(files["mask"])
        refuse_overwriting_inputs(plan)
    if vector is not None:
        refuse_overwriting_inputs(plan, [vector])
    if existing == "error" and not output_is_file(output):
        refuse_existing_outputs(plan, as_volume, vector)
    # a read-only or misnamed output fails now, before any segmenting; folders are created
    # by the first write, so a failure leaves no empty output folder behind
    planned = [p for files in plan.values() for p in files.values()]
    for path in [*planned, *as_volume.values(), *([vector] if vector else [])]:
        check_writable(path)
    # what each label value means, for writers that can name their classes (hookspec 1.4)
    named = dict(classes=class_infos(prompts, domain), model=model_name(pipe))
    several = len(inputs) > 1
    results = SegmentResults()
    with files_progress(len(inputs), progress and several) as advance:
        for src in inputs:
            if existing == "resume" and is_complete(plan[src], as_volume.get(src), vector):
                results.skipped.append(Path(src))
                done: SegmentedFile | FailedFile | Path = Path(src)
            else:
                try:
                    done = _segment_input(
                        pipe,
                        Path(src),
                        prompts,
                        plan[src],
                        as_volume.get(src),
                        policy,
                        inference,
                        progress=progress and not several,
                        **named,
                    )
                    results.append(done)
                except Exception as exc:  # one input's failure; an interrupt still stops the run
                    if fail_fast or not several:
                        raise
                    done = FailedFile(Path(src), exc)
                    results.failed.append(done)
            if on_done is not None:
                on_done(done)
            advance(Path(src).name)
    return results


def volume_masks(plan: dict[Path, dict[str, Path]], output: Path) -> dict[Path, Path]:
    """In folder mode, where each input's mask goes instead if, once read, it is a volume
    (or a 2D image with an affine to keep) and its own format has no writer; only those whose
    name would differ, and none where no volume writer is installed (reading says so)."""
    if output_is_file(output):
        return {}
    from genseg.data.io import stem

    moved = {}
    for src, files in plan.items():
        try:
            path = output / f"{stem(src)}_mask{mask_suffix(src, True)}"
        except InputError:
            continue
        if path != files["mask"]:
            moved[src] = path
    return moved


def outputs_on_disk(files: dict[str, Path], as_volume: Path | None, vector: Path | None) -> list[Path]:
    """The outputs of one input (every name it may write) that exist already."""
    names = [*files.values(), *([as_volume] if as_volume else []), *([vector] if vector else [])]
    return [p for p in names if p.exists()]


def is_complete(files: dict[str, Path], as_volume: Path | None, vector: Path | None) -> bool:
    """Whether an input's outputs are all on disk under their final names. The overlay is
    written last (after the mask, probabilities, polygons and uncertainty), and every writer
    renames a finished temporary, so mask and overlay present means the input was done."""
    mask = files["mask"].exists() or (as_volume is not None and as_volume.exists())
    needed = [files["overlay"], *([files["probabilities"]] if "probabilities" in files else [])]
    return mask and all(p.exists() for p in [*needed, *([vector] if vector else [])])


def refuse_existing_outputs(
    plan: dict[Path, dict[str, Path]], as_volume: dict[Path, Path], vector: Path | None
) -> None:
    """One error, before anything is written, when outputs of this run exist already: a
    folder re-run could otherwise replace hours of results without a word."""
    found = {src: outputs_on_disk(files, as_volume.get(src), vector) for src, files in plan.items()}
    found = {src: paths for src, paths in found.items() if paths}
    if not found:
        return
    first = next(iter(found.values()))[0]
    raise OutputError(
        f"{len(found)} of {len(plan)} inputs have outputs here already (e.g. {first.name})",
        path=first.parent,
        fix="pass --resume to skip the inputs whose outputs are complete, --overwrite to replace "
        "them, or another --output folder",
    )


def files_progress(total: int, show: bool):
    """A context giving ``advance(name)``: one rich bar over the inputs of a run."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextmanager
    def bar():
        with Progress(
            TextColumn("segmenting {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=not show,
        ) as shown:
            task = shown.add_task("segmenting", total=total, name="")
            yield lambda name: shown.update(task, advance=1, name=name)

    return bar()


def _segment_input(
    pipe,
    src: Path,
    prompts,
    files: dict[str, Path],
    as_volume: Path | None,
    policy,
    inference: InferenceOptions,
    progress: bool,
    **named,
) -> SegmentedFile:
    """Read one input, segment it (whole, tile by tile, or slice by slice) and write it."""
    from genseg.data.io import load_image
    from genseg.segment_tiled import windowed_opener

    opener = windowed_opener(src) if policy.stream else None
    if opener is not None:
        source = opener(src, inference.domain, inference.options)
        try:
            return _segment_tiles(
                pipe, src, source, None, prompts, files, policy.tile, inference, progress, **named
            )
        finally:
            if hasattr(source, "close"):
                source.close()
    sample = load_image(src, inference.domain, inference.options)
    if sample.array.ndim not in (3, 4):
        raise InputError(
            f"input has shape {sample.array.shape}; expected H×W×C or D×H×W×C",
            path=src,
            fix="the reader of this format returned an unexpected layout; report it to its plugin",
        )
    if as_volume is not None and (sample.is_volume or sample.meta.get("affine") is not None):
        files = {**files, "mask": as_volume}  # volumes and affines fall back to NIfTI, not PNG
        if "probabilities" in files:
            files["probabilities"] = probabilities_path(as_volume)
    refuse_flat_output_for_volume(sample, files["mask"])
    tiled = not sample.is_volume and policy.tiles(*sample.spatial_shape)
    if not tiled and inference.tile_size is None:  # segmented whole, and the user did not choose that
        warn_large_image(sample, pipe.config.resolution, len(prompts), stacklevel=4)
    if tiled or (inference.vector is not None and not sample.is_volume):
        tile = policy.tile if tiled else 0  # 0: one tile holding the whole image (polygons only)
        return _segment_tiles(pipe, src, None, sample, prompts, files, tile, inference, progress, **named)
    return _segment_one(pipe, sample, prompts, files, inference, progress, **named)


def model_name(pipe) -> str | None:
    """The name of the model folder ``pipe`` was loaded from, when it knows it."""
    source = getattr(pipe, "name_or_path", None)  # diffusers records the folder it loaded
    if not isinstance(source, str):
        return None
    return Path(source.rstrip("/")).name or None


def probabilities_path(mask: Path) -> Path:
    """``NAME.probabilities.EXT`` beside the mask ``NAME.EXT``; an error, before anything is
    written, when no installed writer of probability rasters claims that name."""
    from genseg.data.atomic import format_suffix
    from genseg.errors import GenSegError
    from genseg.plugins.registry import find_writer

    suffix = format_suffix(mask)
    path = beside(mask.with_name(mask.name[: len(mask.name) - len(suffix)]), ".probabilities" + suffix)
    try:
        spec = find_writer(path)[1]
    except GenSegError:
        spec = None
    if spec is None or "probabilities" not in spec.formats:
        raise InputError(
            f"--probabilities: no installed writer stores probabilities as {suffix or 'this format'}",
            path=path,
            fix="write the mask as NAME.tif with the remote-sensing plugin (genseg plugins list shows "
            "writers of format 'probabilities'), or leave out --probabilities",
        )
    return path


def write_probabilities(path: Path, reference, prompts, labels, probabilities, classes=None, model=None):
    """A whole image's P×H×W probabilities through the streamed writer of ``path``."""
    from genseg.plugins.registry import open_stream

    numbered = label_values(classes, 1) if classes else None  # bands in prompt order
    sink = open_stream(path, reference, prompts, classes=numbered, model=model)
    try:
        sink.write_rows(0, labels, probabilities)
        return sink.close()
    except BaseException:
        sink.abort()
        raise


def _segment_tiles(pipe, src, source, sample, prompts, plan, tile, inference, progress, **named):
    from genseg.segment_tiled import segment_tiled

    if tile == 0:  # no tiling asked for: one tile holding the whole image (polygons only)
        tile = max(sample.spatial_shape)
    written, coverage, _ = segment_tiled(
        pipe,
        Path(src),
        prompts,
        plan,
        tile,
        inference,
        source=source,
        sample=sample,
        progress=progress,
        **named,
    )
    return SegmentedFile(Path(src), written, coverage)


def _segment_one(pipe, sample, prompts, plan, inference, progress, classes=None, model=None):
    from genseg.data.overlay import write_overlay_png, write_uncertainty_png
    from genseg.data.volume_view import volume_view
    from genseg.plugins.registry import write
    from genseg.volumes import segment_volume

    if sample.is_volume:
        seg = segment_volume(pipe, sample.array, prompts, inference, progress=progress)
        masks, probs, unc = seg.masks, seg.probabilities, seg.uncertainty
        named = {"classes": label_values(classes, 1) if classes else None, "model": model}
        write(plan["mask"], label_map(masks, probs, on_value=1), reference=sample, **named)
        # a few axial slices, radiological view (from the affine), enlarged to a readable size
        spread = None if unc is None else unc.max(0)
        view = volume_view(sample.array, masks, sample.meta.get("affine"), sample.meta.get("axes"), spread)
        overlay = dict(image=view.image, masks=view.masks, notes=view.notes, marks=view.marks)
        unc_map, marks = view.uncertainty, view.marks
    else:
        out = pipe(
            model_input(sample.array, sample.meta.get("bands"), layout_of(pipe), sample.path),
            prompts,
            **inference.pipeline_kwargs(),
        )
        masks = out.masks[0]
        unc_map, marks = out.uncertainty[0].max(0) if out.uncertainty is not None else None, []
        on_value = 255 if plan["mask"].suffix.lower() == ".png" else 1  # 255 keeps a PNG viewable
        labels = label_map(masks, out.probabilities[0] if len(prompts) > 1 else None, on_value)
        if "probabilities" in plan:
            probs = out.probabilities[0]
            write_probabilities(plan["probabilities"], sample, prompts, labels, probs, classes, model)
        del out  # the full-size probabilities (400 MB for 100 megapixels) are not needed any more
        named = {"classes": label_values(classes, on_value) if classes else None, "model": model}
        write(plan["mask"], labels, reference=sample, **named)
        del labels
        overlay = dict(image=sample.array, masks=list(masks))
    written = [plan["mask"], *([plan["probabilities"]] if "probabilities" in plan else []), plan["overlay"]]
    if unc_map is not None:
        write_uncertainty_png(plan["uncertainty"], unc_map, marks=marks)  # colour map and scale bar
        written.append(plan["uncertainty"])
    # the overlay last: an input whose mask and overlay exist is complete (--resume skips it)
    image, shown = overlay.pop("image"), overlay.pop("masks")
    write_overlay_png(plan["overlay"], image, shown, prompts, **overlay)
    coverage = {p: float(m.mean()) for p, m in zip(prompts, masks, strict=False)}
    return SegmentedFile(sample.path, written, coverage)
