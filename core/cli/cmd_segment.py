"""`genseg segment`: masks and overlays for image files from text prompts."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from genseg.cli.options import allow_pickle_option
from genseg.cli.output import info


class Method(str, Enum):
    generator = "generator"
    attention_probe = "attention-probe"


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["window=lung", "modality=CT"]`` → ``{"window": "lung", "modality": "CT"}``."""
    from genseg.errors import ConfigError

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE", fix="write e.g. --option window=lung")
        options[key.strip()] = value.strip()
    return options


def refine_prompts(prompts: list[str], domain: str) -> list[str]:
    """Each prompt through ``genseg_refine_query``; prints what it became, and raises if refused."""
    from genseg.refine import refine

    chosen = []
    for text in prompts:
        plugin, result = refine(text, domain)
        chosen.append(result.phrases[0])
        score, how = result.scores[0], f"{result.method}, {plugin}"
        info(f"refined {text!r} → {result.phrases[0]!r} (score {score:.3f}, {how})")
    return chosen


def segment(
    inputs: list[Path] = typer.Argument(
        ...,
        help="Image files (PNG, JPEG, TIFF, or any format an installed plugin reads), folders of them, "
        "and DICOM series folders (one volume each); files and folders mix.",
    ),
    model: str = typer.Option(..., "--model", "-m", help="Model folder written by `genseg train`."),
    prompt: list[str] = typer.Option(..., "--prompt", "-p", help="What to segment; repeat for several."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="A mask file (one input; .png or a plugin's format) or a folder."
    ),
    domain: str = typer.Option(
        "generic", "--domain", help="Domain whose reading and preprocessing apply (genseg plugins list)."
    ),
    steps: int | None = typer.Option(
        None,
        help="Euler steps; 1 is the one-step generator. Default: the model's (default_inference_steps "
        "in its model_index.json; 1).",
    ),
    ensemble: int = typer.Option(1, help="Noise draws averaged; >1 also writes an uncertainty map."),
    threshold: float | None = typer.Option(
        None,
        help="Probability above which a pixel is in the mask. Default: the model's (default_threshold "
        "in its model_index.json; 0.5).",
    ),
    seed: int = typer.Option(0, help="Noise seed."),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-O",
        help="Preprocessing choice KEY=VALUE for the domain, e.g. window=lung; repeatable.",
    ),
    batch_size: int = typer.Option(8, "--batch-size", help="Slices or tiles per forward pass."),
    tile_size: int = typer.Option(
        None,
        "--tile-size",
        help="Cut every image larger than this many pixels into tiles of this size (0: never tile; "
        "each image is shrunk whole to the model's resolution). Default: tiles at the model's "
        "resolution, for any image larger than one in domains that tile (remote-sensing), and for "
        "images more than 4× larger in the others (a 4000×3000 photo is tiled, a 512-px one shrunk).",
    ),
    overlap: int = typer.Option(
        None, "--overlap", help="Pixels shared by neighbouring tiles (default: tile/4)."
    ),
    vector: Path = typer.Option(
        None, "--vector", help="Also write polygons (class, prompt, score): NAME.gpkg or NAME.geojson."
    ),
    simplify: float | None = typer.Option(
        None,
        "--simplify",
        help="Polygon simplification tolerance in map units (neighbours keep shared edges; 0: the "
        "pixel staircase). Default: one pixel.",
    ),
    min_area: float | None = typer.Option(
        None,
        "--min-area",
        help="Polygons (and holes) smaller than this, in map units², join their neighbour or go "
        "(0: keep all). Default: four pixels.",
    ),
    probabilities: bool = typer.Option(
        False,
        "--probabilities",
        help="Also write each prompt's probability beside the mask, as OUTPUT.probabilities.tif "
        "(one band per prompt, percent 0-100 with scale 0.01; GeoTIFF masks).",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse inputs a domain would only warn about (e.g. a GeoTIFF without CRS)."
    ),
    adapter: list[str] = typer.Option(
        [], "--adapter", help="LoRA adapter NAME or folder, optionally :WEIGHT; repeat to mix them."
    ),
    force: bool = typer.Option(False, "--force", help="Apply adapters trained on other base weights."),
    method: Method = typer.Option(
        Method.generator,
        "--method",
        help="generator: the one-step mask generator; attention-probe: zero-shot masks from an MM-DiT "
        "block's image-to-text attention (Seg4Diff; mmdit models only).",
    ),
    layer: int | None = typer.Option(
        None, "--layer", help="Block read by --method attention-probe (default: middle; see probe-layers)."
    ),
    probe_lora: Path | None = typer.Option(
        None,
        "--probe-lora",
        help="Probe adapter folder from `genseg probe-finetune` (attention-probe only; its block is the "
        "default --layer; refused on another base model).",
    ),
    refine: bool = typer.Option(
        False, "--refine", help="Turn each free-form --prompt into the domain's closest term (genseg refine)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Skip the inputs whose outputs are complete (mask and overlay under their final names), "
        "e.g. after an interrupted run; the others are segmented.",
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace outputs already in the --output folder. Without --resume or --overwrite, "
        "existing outputs there are an error before anything is written (a named --output file is "
        "replaced).",
    ),
    fail_fast: bool = typer.Option(
        False,
        "--fail-fast",
        help="Stop at the first input that fails. Default: record it, go on with the others, list the "
        "failures at the end and exit non-zero.",
    ),
    allow_pickle: bool = allow_pickle_option(),
) -> None:
    """Segment each prompt in each image; writes the mask (a label map with several prompts) and an overlay.

    Example: genseg segment -m runs/demo -p "red circle" -p grass --output out/ img1.png img2.png

    Example: genseg segment -m runs/demo -p weeds -o masks/ --resume photos/ extra.jpg

    Example: genseg segment -m runs/demo --domain medical -O window=abdomen -p liver -o liver.nii.gz scan/

    Example: genseg segment -m runs/demo --domain remote-sensing -p buildings -o buildings.tif
    --vector buildings.gpkg scene.tif

    Example: genseg segment -m runs/demo --domain remote-sensing -p forest -p water -o land.tif
    --probabilities --vector land.gpkg --simplify 30 --min-area 3600 scene.tif

    Example: genseg segment -m runs/demo --domain medical --refine -p "the organ that stores bile"
    -o out/ scan/

    Example: genseg segment -m runs/probe/mmdit --method attention-probe --layer 3 -p "red circle"
    -o out/ a.png
    """
    from genseg.inference import build_inference_options
    from genseg.pipeline import load_pipeline
    from genseg.plugins.registry import check_domain
    from genseg.segment import segment_files

    check_domain(domain)
    if resume and overwrite:
        raise typer.BadParameter("pass one of them", param_hint="--resume / --overwrite")
    if refine:
        prompt = refine_prompts(list(prompt), domain)
    options = parse_options(option)
    if strict:
        from genseg.plugins.options import STRICT

        options[STRICT] = "true"  # each domain decides what it refuses under --strict
    # checked before the model loads: a bad value fails at once
    inference = build_inference_options(
        steps=steps,
        ensemble=ensemble,
        threshold=threshold,
        seed=seed,
        domain=domain,
        options=options,
        batch_size=batch_size,
        tile_size=tile_size,
        overlap=overlap,
        vector=vector,
        probabilities=probabilities,
        simplify=simplify,
        min_area=min_area,
    )
    pipe = load_pipeline(model, adapters=adapter, force=force, fuse=True, allow_pickle=allow_pickle)
    from genseg.data.recorded_preprocessing import apply_recorded, read_preprocessing

    options = apply_recorded(read_preprocessing(model), domain, options)  # what the model trained with
    if adapter:
        from genseg.adapters.contract import apply_input_contract

        domain, options = apply_input_contract(pipe, domain, options)
    if method == Method.attention_probe or layer is not None or probe_lora is not None:
        from genseg.probe.probe import as_probe

        pipe = as_probe(pipe, method.value, layer, probe_lora, path=model)
    # the recorded preprocessing and an adapter's input contract may change domain and options
    inference = inference.model_copy(update={"domain": domain, "options": options})
    results = segment_files(
        pipe,
        list(inputs),
        list(prompt),
        output,
        inference,
        existing="resume" if resume else "overwrite" if overwrite else "error",
        fail_fast=fail_fast,
        on_done=report_input,
    )
    summarise(results)


def report_input(done) -> None:
    """One line per input as it finishes (written or failed; skipped ones are only counted)."""
    from genseg.segment import FailedFile, SegmentedFile

    if isinstance(done, SegmentedFile):
        cover = ", ".join(f"{p}: {c:.1%}" for p, c in done.coverage.items())
        typer.echo(f"{done.input} → {', '.join(str(o) for o in done.outputs)}  ({cover})")
    elif isinstance(done, FailedFile):
        typer.echo(f"{done.input}: failed: {done.reason}", err=True)


def summarise(results) -> None:
    """Counts of written, skipped and failed inputs; exits non-zero if any failed."""
    from genseg.errors import GenSegError

    total = len(results) + len(results.skipped) + len(results.failed)
    if total > 1:
        parts = [f"{len(results)} written"]
        if results.skipped:
            parts.append(f"{len(results.skipped)} skipped (outputs complete)")
        if results.failed:
            parts.append(f"{len(results.failed)} failed")
        typer.echo(f"{total} inputs: " + ", ".join(parts), err=bool(results.failed))
    if results.failed:
        for failure in results.failed:
            typer.echo(f"  {failure.input}: {failure.reason}", err=True)
        first = results.failed[0].error
        raise typer.Exit(first.exit_code if isinstance(first, GenSegError) else 1)
