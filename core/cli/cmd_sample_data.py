"""`genseg sample-data`: write the generated sample datasets (no download)."""

from __future__ import annotations

from pathlib import Path

import typer


def sample_data(
    output: Path = typer.Option(Path("data/samples"), "--output", "-o", help="Folder to write into."),
    seed: int = typer.Option(0, help="Generator seed; the same seed gives the same files."),
) -> None:
    """Generate the MNI152 brain-slice and shapes-on-textures datasets in dataset.json format.

    Example: genseg sample-data --output data/samples
    """
    from genseg.data.sample_data import make_mni152_dataset, make_shapes_dataset

    mni = make_mni152_dataset(output / "mni152", seed=seed)
    shapes = make_shapes_dataset(output / "shapes", seed=seed)
    typer.echo(f"wrote {mni} and {shapes}")
