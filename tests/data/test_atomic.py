"""Temporary names of atomic writes: the format ending kept, and short enough for any output name."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from genseg.data.atomic import TEMP_NAME_MAX, atomic_write, temp_path_for


@pytest.mark.parametrize(
    "name, ending",
    [
        ("a.png", ".png"),
        ("scan.nii.gz", ".nii.gz"),
        ("x" * 245 + ".tif", ".tif"),
        ("é" * 120 + ".png", ".png"),
    ],
)
def test_the_temporary_name_keeps_the_ending_and_fits(name, ending):
    tmp = temp_path_for(Path("/out") / name)
    assert tmp.parent == Path("/out") and tmp.name.startswith(".") and tmp.name.endswith(ending)
    assert len(tmp.name.encode()) <= TEMP_NAME_MAX
    assert temp_path_for(Path("/out") / name) != tmp  # unique per call


def test_an_output_name_of_249_characters_is_written(tmp_path):
    target = tmp_path / ("m" * 245 + ".png")
    atomic_write(target, lambda tmp: Image.new("L", (2, 2)).save(tmp))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
