"""`segment_files`: where outputs go, and what it refuses to write over."""

from __future__ import annotations

import pytest

from genseg.errors import InputError
from genseg.plugins.testing import build_tiny_pipeline, make_fake_image
from genseg.segment import segment_files


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_pipeline("dit")


def test_a_mask_file_named_like_its_input_is_refused(pipe, tmp_path):
    image = make_fake_image(tmp_path / "x.png")
    before = image.read_bytes()
    with pytest.raises(InputError, match="overwritten by its mask output"):
        segment_files(pipe, [image], ["thing"], image, progress=False)
    assert image.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_folder_mode_refuses_to_replace_an_input_named_like_an_output(pipe, tmp_path):
    a = make_fake_image(tmp_path / "a.png", seed=1)
    a_mask = make_fake_image(tmp_path / "a_mask.png", seed=2)
    before = a_mask.read_bytes()
    with pytest.raises(InputError, match="a.png's mask output") as err:
        segment_files(pipe, [a, a_mask], ["thing"], tmp_path, progress=False)
    assert err.value.path == str(a_mask)
    assert a_mask.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_mask.png"]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_mask_file_in_a_folder_that_does_not_exist_is_written(pipe, tmp_path, suffix):
    image = make_fake_image(tmp_path / "a.png")
    out = tmp_path / "new" / "deeper" / f"m{suffix}"
    (result,) = segment_files(pipe, [image], ["thing"], out, progress=False)
    assert result.outputs == [out, out.with_name("m_overlay.png")] and out.is_file()


def test_an_output_name_near_the_length_limit_gets_its_mask_and_overlay(pipe, tmp_path):
    image = make_fake_image(tmp_path / "a.png")
    out = tmp_path / "out" / ("n" * 245 + ".png")  # 249 characters
    (result,) = segment_files(pipe, [image], ["thing"], out, progress=False)
    assert all(p.is_file() and len(p.name) <= 255 for p in result.outputs)
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(p.name for p in result.outputs)


def test_a_read_only_output_folder_fails_before_segmenting_and_creates_nothing(pipe, tmp_path, monkeypatch):
    import genseg.data.atomic as atomic
    from genseg.errors import OutputError

    image = make_fake_image(tmp_path / "a.png")
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)  # what a read-only folder answers
    monkeypatch.setattr(type(pipe), "__call__", lambda *a, **k: pytest.fail("segmented anyway"))
    with pytest.raises(OutputError, match="read-only"):
        segment_files(pipe, [image], ["thing"], tmp_path / "ro" / "out", progress=False)
    assert list((tmp_path / "ro").iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"overlap": -5}, "--overlap cannot be negative"),
        ({"overlap": 16}, "more than half the tile"),
        ({"batch_size": 0}, "--batch-size must be at least 1"),
    ],
)
def test_tiling_and_batch_options_out_of_range_are_one_input_error(pipe, tmp_path, kwargs, words):
    image = make_fake_image(tmp_path / "a.png", size=(48, 48))
    with pytest.raises(InputError, match=words):
        segment_files(pipe, [image], ["thing"], tmp_path / "out", progress=False, tile_size=16, **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bands", [4, 5])
def test_a_multiband_tiff_in_the_generic_domain_warns_which_bands_are_unused_and_segments(
    pipe, tmp_path, bands
):
    import numpy as np
    import tifffile

    rng = np.random.default_rng(bands)
    image = tmp_path / "scene.tif"
    pixels = rng.integers(0, 255, (bands, 24, 20), dtype=np.uint8)
    tifffile.imwrite(image, pixels, photometric="minisblack", planarconfig="separate")  # one page, N samples
    with pytest.warns(UserWarning, match=f"has {bands} bands; the generic domain uses bands 1-3") as caught:
        (result,) = segment_files(pipe, [image], ["thing"], tmp_path / "out", progress=False)
    unused = "band 4 is not used" if bands == 4 else "bands 4-5 are not used"
    (message,) = [str(w.message) for w in caught if "bands" in str(w.message)]
    assert unused in message and "--domain remote-sensing or --domain agriculture" in message
    assert [p.name for p in result.outputs] == ["scene_mask.tif", "scene_overlay.png"]
    assert all(p.is_file() for p in result.outputs)


def test_tiled_png_coverage_is_the_share_of_mask_pixels_written(pipe, tmp_path):
    import numpy as np
    from PIL import Image

    image = make_fake_image(tmp_path / "a.png", size=(48, 48))
    # threshold 0: every pixel the (untrained) model scores above 0 is mask, so the mask is neither
    # empty nor everything only by chance; coverage must match what the PNG holds either way
    for i, threshold in enumerate((0.0, 0.5, 1.0)):
        out = tmp_path / f"out{i}"
        (result,) = segment_files(
            pipe, [image], ["thing"], out, progress=False, tile_size=16, threshold=threshold
        )
        written = np.asarray(Image.open(result.outputs[0])) > 0
        assert result.coverage["thing"] == pytest.approx(written.mean(), abs=1e-9)
    assert result.coverage["thing"] == 0.0  # threshold 1: nothing is above it, not "100 %"


def test_a_folder_of_images_is_segmented_file_by_file_and_notes_are_passed_over(pipe, tmp_path):
    folder = tmp_path / "photos"
    for name in ("b.png", "a.jpg"):
        make_fake_image(folder / name)
    (folder / "README.txt").write_text("field notes")
    (folder / ".hidden.png").write_bytes(b"not an image")
    results = segment_files(pipe, [folder], ["thing"], tmp_path / "out", progress=False)
    assert [r.input.name for r in results] == ["a.jpg", "b.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a_mask.png",
        "a_overlay.png",
        "b_mask.png",
        "b_overlay.png",
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing to read")
    with pytest.raises(InputError, match="holds no image file") as err:
        segment_files(pipe, [tmp_path / "empty"], ["thing"], tmp_path / "out2", progress=False)
    assert err.value.path == str(tmp_path / "empty") and not (tmp_path / "out2").exists()


def _image_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "segmented whole" in str(w.message)]


def test_a_very_large_image_segmented_whole_gets_one_warning_naming_the_tile_size_fix(
    pipe, tmp_path, monkeypatch
):
    import warnings

    from PIL import Image

    import genseg.segment as segment

    image = make_fake_image(tmp_path / "wide.png", size=(40, 60))  # 2,400 pixels
    monkeypatch.setattr(segment, "LARGE_IMAGE_PIXELS", 2000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow would call it a bomb (> 2 × 1000)
    res = pipe.config.resolution
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (result,) = segment_files(pipe, [image], ["thing"], tmp_path / "out", progress=False)
    assert all(p.is_file() for p in result.outputs)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    (message,) = _image_warnings(caught)
    assert message.startswith(f"{image}: a 60×40 image (0.0 megapixels) is segmented whole")
    assert f"the model's resolution of {res} px" in message and "GB of memory" in message
    assert message.endswith(f"pass --tile-size {res} to segment it tile by tile at full detail")
    # tiles asked for (or tiling refused outright with 0), or an image under the threshold: no warning
    for kwargs, limit in (({"tile_size": 16}, 2000), ({"tile_size": 0}, 2000), ({}, 2400)):
        monkeypatch.setattr(segment, "LARGE_IMAGE_PIXELS", limit)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            segment_files(pipe, [image], ["thing"], tmp_path / "out2", progress=False, **kwargs)
        assert _image_warnings(caught) == []


def test_the_memory_a_whole_image_needs_is_what_was_measured():
    from genseg.segment import whole_image_memory

    # 100-MP RGB PNG, measured above a 64-px run of the same model: 1.76 GB (one prompt), 2.31 GB (two)
    assert whole_image_memory(100_000_000, 3, 1) == 1_800_000_000
    assert whole_image_memory(100_000_000, 3, 2) == 2_300_000_000
    assert whole_image_memory(100, 1, 1) == 4 * 100 + 6 * 100  # grey
    assert whole_image_memory(100, 3, 4) == 12 * 100 + 21 * 100  # four prompts' maps


def test_label_maps_are_the_same_whatever_the_band_of_rows(monkeypatch):
    import numpy as np

    import genseg.segment as segment

    rng = np.random.default_rng(5)
    for shape in ((3, 11, 7), (2, 4, 5, 6)):  # an image, a volume
        probs = rng.random(shape, dtype=np.float32)
        masks = probs > 0.3
        best = np.where(masks, probs, -1.0).argmax(0)
        expected = np.where(masks.any(0), best + 1, 0).astype(np.uint8)
        for band in (1 << 22, 15, 1):
            monkeypatch.setattr(segment, "LABEL_BAND_PIXELS", band)
            labels = segment.label_map(masks, probs)
            assert labels.dtype == np.uint8 and np.array_equal(labels, expected)
    one = rng.random((1, 5, 4)) > 0.5
    assert np.array_equal(segment.label_map(one, None), one[0] * np.uint8(255))
    assert np.array_equal(segment.label_map(one, None, on_value=1), one[0].astype(np.uint8))
    with pytest.raises(ValueError, match="probabilities"):
        segment.label_map(np.zeros((2, 3, 3), bool), None)
