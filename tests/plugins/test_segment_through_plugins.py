"""`genseg segment` reads, preprocesses and writes through whichever plugin claims the files."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from genseg.data.sample import Sample
from genseg.errors import ConfigError, InputError
from genseg.plugins import hookimpl

WRITTEN: list[tuple[Path, tuple, dict]] = []


def read_raw(path: Path, kind: str) -> Sample:
    """Raw 12-bit counts with a spacing, as a scanner would give them."""
    array = np.load(path, allow_pickle=False)
    return Sample(array, path, kind, reader="raw-npy", meta={"spacing": (0.5, 0.5)})


def write_raw(path: Path, mask: np.ndarray, reference: Sample | None) -> Path:
    np.save(path, mask, allow_pickle=False)
    WRITTEN.append((path, mask.shape, dict(reference.meta)))
    return path


@hookimpl
def genseg_register_domains():
    return [{"name": "scanner", "description": "a toy modality"}]


@hookimpl
def genseg_register_readers():
    return [{"name": "raw-npy", "patterns": ["*.npy"], "read": f"{__name__}:read_raw"}]


@hookimpl
def genseg_register_writers():
    return [{"name": "raw-npy", "patterns": ["*.npy"], "formats": ["npy"], "write": f"{__name__}:write_raw"}]


@hookimpl
def genseg_preprocess(sample, domain, options):
    if domain != "scanner":
        return None
    scaled = np.repeat(sample.array[..., None] / 4095.0, 3, axis=-1).astype(np.float32)
    return sample.with_array(scaled, normalised=True)


PLUGIN = types.SimpleNamespace(
    __name__="scanner",
    GENSEG_HOOKSPEC=">=1.0,<2",
    genseg_register_domains=genseg_register_domains,
    genseg_register_readers=genseg_register_readers,
    genseg_register_writers=genseg_register_writers,
    genseg_preprocess=genseg_preprocess,
)


def test_segment_uses_the_plugin_reader_preprocessing_and_writer(
    genseg_plugins, genseg_tiny_pipeline, tmp_path
):
    from genseg.segment import segment_files

    genseg_plugins(PLUGIN)
    src = tmp_path / "scan.npy"
    np.save(src, np.random.default_rng(0).integers(0, 4096, (24, 20)).astype(np.uint16))
    WRITTEN.clear()
    results = segment_files(
        genseg_tiny_pipeline, [src], ["lesion"], tmp_path / "mask.npy", domain="scanner", progress=False
    )
    assert [o.name for o in results[0].outputs] == ["mask.npy", "mask_overlay.png"]
    # the writer wrote a temporary sibling (same ending), renamed to the final name when it returned
    ((given, shape, meta),) = WRITTEN
    assert given.parent == tmp_path and given.suffix == ".npy" and given.name != "mask.npy"
    assert (shape, meta) == ((24, 20), {"spacing": (0.5, 0.5)}) and (tmp_path / "mask.npy").is_file()
    assert np.load(tmp_path / "mask.npy").shape == (24, 20)


def test_segment_refuses_unknown_domains_and_unwritable_outputs(
    genseg_plugins, genseg_tiny_pipeline, tmp_path
):
    from genseg.plugins.registry import check_domain
    from genseg.segment import segment_files

    genseg_plugins(PLUGIN)
    with pytest.raises(ConfigError, match="unknown domain 'medicine'.*choose one of: generic, scanner"):
        check_domain("medicine")
    src = tmp_path / "scan.npy"
    np.save(src, np.zeros((8, 8), np.uint16))
    with pytest.raises(InputError, match="no installed writer handles this output name"):
        segment_files(
            genseg_tiny_pipeline, [src], ["x"], tmp_path / "mask.jpg", domain="scanner", progress=False
        )
    assert not (tmp_path / "mask.jpg").exists() and not (tmp_path / "mask_overlay.png").exists()
