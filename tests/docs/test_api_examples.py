"""The Python examples of the docs run as printed: each is read out of its page and executed
in a folder holding what it names (a tiny model as ``runs/demo``, a generated NIfTI scan)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from genseg.plugins.testing import build_tiny_pipeline

ROOT = Path(__file__).resolve().parents[2]


def python_block(page: Path, heading: str) -> str:
    """The first ```python block after ``heading`` on ``page``."""
    text = page.read_text()
    start = text.index(heading)
    match = re.compile(r"```python\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, f"{page.name}: no python block after {heading!r}"
    return match.group(1)


def test_the_volume_example_segments_a_nifti_scan_and_numpy_and_torch_volumes(tmp_path, monkeypatch):
    pytest.importorskip("genseg_medical")
    nib = pytest.importorskip("nibabel")
    code = python_block(ROOT / "docs" / "how-it-works.md", "### Volumes from Python")
    monkeypatch.chdir(tmp_path)
    build_tiny_pipeline("dit").save_pretrained(tmp_path / "runs" / "demo")
    hu = np.random.default_rng(0).integers(-1000, 400, (40, 36, 5)).astype(np.int16)  # x, y, z in HU
    affine = np.diag([0.8, 0.7, 2.5, 1.0])
    nib.save(nib.Nifti1Image(hu, affine), tmp_path / "scan.nii.gz")

    names: dict = {}
    exec(compile(code, "how-it-works.md", "exec"), names)  # noqa: S102 - the page's own example

    written = nib.load(tmp_path / "masks" / "scan_mask.nii.gz")
    assert written.shape == hu.shape and np.allclose(written.affine, affine)  # on the scan's grid
    assert [p.name for p in names["done"][0].outputs] == ["scan_mask.nii.gz", "scan_overlay.png"]
    assert names["out"].masks.shape == (1, 2, 5, 36, 40)  # volume, prompt, then slices first
    assert names["seg"].probabilities.shape == (1, 1, 6, 48, 40)  # the numpy volume
    assert names["seg"].probabilities.dtype == np.float32
