"""Image and label I/O: one float/int convention out, a clear InputError for every bad file,
and writes that never leave a partial file behind."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from genseg.data.atomic import atomic_write
from genseg.data.readers import (
    read_image,
    read_image_size,
    read_label,
    write_image_png,
    write_mask_sample,
    write_png_mask,
)
from genseg.errors import InputError

RNG = np.random.default_rng(0)
GRAY8 = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
RGB8 = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)


def test_png_gray_rgb_rgba_palette(tmp_path):
    Image.fromarray(GRAY8).save(tmp_path / "g.png")
    Image.fromarray(RGB8).save(tmp_path / "c.png")
    Image.fromarray(np.dstack([RGB8, np.full((6, 7), 9, np.uint8)])).save(tmp_path / "a.png")
    Image.fromarray(RGB8).convert("P").save(tmp_path / "p.png")
    gray = read_image(tmp_path / "g.png")
    assert gray.shape == (6, 7, 1) and gray.dtype == np.float32
    np.testing.assert_allclose(gray[..., 0], GRAY8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "c.png"), RGB8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), RGB8 / 255.0, atol=1e-6)  # alpha dropped
    assert read_image(tmp_path / "p.png").shape == (6, 7, 3)
    assert read_image_size(tmp_path / "c.png") == (6, 7)


def test_sixteen_bit_png_jpeg_and_bmp(tmp_path):
    deep = (np.arange(42, dtype=np.uint16) * 1500).reshape(6, 7)
    Image.fromarray(deep).save(tmp_path / "d.png")
    np.testing.assert_allclose(read_image(tmp_path / "d.png")[..., 0], deep / 65535.0, atol=1e-6)
    Image.fromarray(RGB8).save(tmp_path / "j.jpg", quality=95)
    Image.fromarray(RGB8).save(tmp_path / "b.bmp")
    assert read_image(tmp_path / "j.jpg").shape == (6, 7, 3)
    np.testing.assert_allclose(read_image(tmp_path / "b.bmp"), RGB8 / 255.0, atol=1e-6)


def test_tiff_images(tmp_path):
    tifffile.imwrite(tmp_path / "u16.tif", (GRAY8.astype(np.uint16) * 257))
    tifffile.imwrite(tmp_path / "f.tiff", np.array([[-1.0, 0.25], [0.5, 3.0]], np.float32))
    tifffile.imwrite(
        tmp_path / "planar.tif", np.moveaxis(RGB8, -1, 0), photometric="rgb", planarconfig="separate"
    )
    tifffile.imwrite(
        tmp_path / "rgba.tif", np.dstack([RGB8, RGB8[..., :1]]), photometric="rgb", extrasamples=[2]
    )
    np.testing.assert_allclose(read_image(tmp_path / "u16.tif")[..., 0], GRAY8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "f.tiff")[..., 0], [[0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(read_image(tmp_path / "planar.tif"), RGB8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "rgba.tif"), RGB8 / 255.0, atol=1e-6)
    assert read_image_size(tmp_path / "planar.tif") == (6, 7)


def test_labels_keep_their_values(tmp_path):
    Image.fromarray(GRAY8 % 5).save(tmp_path / "l.png")
    pal = Image.fromarray(GRAY8 % 4).convert("P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    pal.save(tmp_path / "p.png")
    Image.fromarray(GRAY8.astype(np.uint16) * 200).save(tmp_path / "d.png")
    tifffile.imwrite(tmp_path / "i.tif", (GRAY8.astype(np.int32) - 100))
    tifffile.imwrite(tmp_path / "f.tif", (GRAY8 % 3).astype(np.float32))
    for name, expected in [
        ("l.png", GRAY8 % 5),
        ("p.png", GRAY8 % 4),
        ("d.png", GRAY8.astype(np.int64) * 200),
        ("i.tif", GRAY8.astype(np.int64) - 100),
        ("f.tif", GRAY8 % 3),
    ]:
        label = read_label(tmp_path / name)
        assert label.dtype == np.int64 and label.shape == (6, 7), name
        np.testing.assert_array_equal(label, expected)


def test_rgb_label_is_rejected(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="colour image") as err:
        read_label(tmp_path / "rgb.png")
    assert str(tmp_path / "rgb.png") in str(err.value) and err.value.fix
    tifffile.imwrite(tmp_path / "rgb.tif", RGB8, photometric="rgb")
    with pytest.raises(InputError, match="colour image"):
        read_label(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "prob.tif", np.full((3, 3), 0.5, np.float32))
    with pytest.raises(InputError, match="non-integer"):
        read_label(tmp_path / "prob.tif")


@pytest.mark.parametrize("reader", [read_image, read_label])
def test_corrupt_files_name_the_file(tmp_path, reader):
    Image.fromarray(RGB8[..., 0]).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes((tmp_path / "ok.png").read_bytes()[:40])  # truncated
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    for name in ("bad.png", "junk.tif"):
        with pytest.raises(InputError, match="cannot read") as err:
            reader(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)


@pytest.mark.parametrize("reader", [read_image, read_label])
def test_unknown_extension_and_missing_file(tmp_path, reader):
    (tmp_path / "scan.xyz").write_bytes(b"\0")
    with pytest.raises(InputError, match="unknown .* extension '.xyz'") as err:
        reader(tmp_path / "scan.xyz")
    assert str(tmp_path / "scan.xyz") in str(err.value)
    with pytest.raises(InputError, match="not found") as err:
        reader(tmp_path / "absent.png")
    assert str(tmp_path / "absent.png") in str(err.value)


def test_jpeg_label_is_refused_with_a_reason(tmp_path):
    Image.fromarray(GRAY8).save(tmp_path / "m.jpg")
    with pytest.raises(InputError, match="jpg") as err:
        read_label(tmp_path / "m.jpg")
    assert "lossless" in err.value.fix


def test_mask_and_image_writers_round_trip(tmp_path):
    write_png_mask(tmp_path / "m8.png", (GRAY8 % 7).astype(np.uint8))
    write_png_mask(tmp_path / "mb.png", GRAY8 > 100)
    write_png_mask(tmp_path / "m16.png", GRAY8.astype(np.int64) * 100)
    np.testing.assert_array_equal(read_label(tmp_path / "m8.png"), GRAY8 % 7)
    np.testing.assert_array_equal(read_label(tmp_path / "mb.png"), (GRAY8 > 100) * 255)
    np.testing.assert_array_equal(read_label(tmp_path / "m16.png"), GRAY8.astype(np.int64) * 100)
    with pytest.raises(ValueError):
        write_png_mask(tmp_path / "x.png", np.zeros((2, 2), np.float32))
    write_image_png(tmp_path / "i.png", RGB8 / 255.0)
    np.testing.assert_allclose(read_image(tmp_path / "i.png"), RGB8 / 255.0, atol=1e-6)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "ckpt.bin"
    atomic_write(target, lambda p: p.write_bytes(b"old"))

    def broken(p):
        p.write_bytes(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["ckpt.bin"]


def test_atomic_write_replaces_a_folder(tmp_path):
    target = tmp_path / "state"

    def folder(content):
        def write(p):
            p.mkdir()
            (p / "weights").write_text(content)

        return write

    atomic_write(target, folder("v1"))
    atomic_write(target, folder("v2"))
    assert (target / "weights").read_text() == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def _record_calls(monkeypatch, owner, name: str) -> list:
    """The objects ``owner.name`` is called on from now on (the method still runs): a test can
    then tell that a file was refused before its pixels were decoded."""
    real, calls = getattr(owner, name), []

    def recording(self, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return calls


def test_a_tiff_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    from genseg.errors import ConfigError

    flat, stack = tmp_path / "big.tif", tmp_path / "pages.tif"
    tifffile.imwrite(flat, np.zeros((60, 100), np.uint8), compression="zlib")
    stack_pages = np.zeros((3, 40, 50), np.uint8)  # 3 pages of 40×50: 6,000 pixels
    tifffile.imwrite(stack, stack_pages, photometric="minisblack", compression="zlib")
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "5000")
    decoded = _record_calls(monkeypatch, tifffile.TiffPageSeries, "asarray")
    for path, dims in ((flat, "60×100"), (stack, "3×40×50")):
        for reader in (read_image, read_label):
            with pytest.raises(InputError) as err:
                reader(path)
            text = err.value.one_line()
            assert path.name in text and f"{dims} = 6,000 pixels, over the 5,000-pixel limit" in text
            assert "GENSEG_MAX_RASTER_PIXELS=6000" in text
    assert decoded == []  # refused from the header: nothing was decoded
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "6000")
    assert read_image(flat).shape == (60, 100, 1)
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "0")  # no limit
    assert read_label(flat).shape == (60, 100)
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "lots")
    with pytest.raises(ConfigError, match="not a whole number"):
        read_image(flat)


def test_a_float_tiff_mostly_outside_0_1_warns_that_it_is_clipped_and_one_inside_does_not(tmp_path):
    import warnings

    import tifffile

    from genseg.data.readers import read_image

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "hdr.tif", (rng.random((16, 16, 3)) * 255).astype(np.float32))
    tifffile.imwrite(tmp_path / "unit.tif", rng.random((16, 16, 3)).astype(np.float32))
    with pytest.warns(UserWarning, match=r"hdr.tif: 9\d\.\d% of the float values lie outside \[0, 1\]"):
        assert read_image(tmp_path / "hdr.tif").max() == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(tmp_path / "unit.tif")


def test_a_png_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(path)
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "1000")
    decoded = _record_calls(monkeypatch, Image.Image, "load")
    for reader in (read_image, read_label):
        with pytest.raises(InputError) as err:
            reader(path)
        text = err.value.one_line()
        assert path.name in text and "the PNG is 40×50 = 2,000 pixels, over the 1,000-pixel limit" in text
        assert "GENSEG_MAX_RASTER_PIXELS=2000" in text
    assert decoded == []  # refused from the header: nothing was decoded
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "2000")
    assert read_image(path).shape == (40, 50, 1)


def test_pillows_own_bomb_limit_gives_way_to_gensegs_without_a_warning(tmp_path, monkeypatch):
    """genseg's limit replaces Pillow's: over Pillow's it reads (no DecompressionBombWarning, no
    error), and Pillow's setting is as it was afterwards."""
    import warnings

    path = tmp_path / "c.png"
    Image.fromarray(np.repeat(np.repeat(RGB8, 6, axis=0), 6, axis=1)).save(path)  # 36×42 = 1,512 pixels
    for pillow_limit in (1000, 500):  # Pillow would warn (> 1000), then refuse (> 2 × 500)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any warning, Pillow's included, fails the test
            assert read_image(path).shape == (36, 42, 3)
            assert read_image_size(path) == (36, 42)
        assert Image.MAX_IMAGE_PIXELS == pillow_limit


def test_writing_a_mask_leaves_the_callers_array_as_it_was(tmp_path):
    labels = (GRAY8 % 5).astype(np.uint8)
    before = labels.copy()
    write_png_mask(tmp_path / "m.png", labels)
    np.testing.assert_array_equal(labels, before)
    np.testing.assert_array_equal(read_label(tmp_path / "m.png"), before)
    flags = GRAY8 > 100
    write_png_mask(tmp_path / "b.png", flags)
    assert flags.dtype == bool
    np.testing.assert_array_equal(read_label(tmp_path / "b.png"), flags * 255)


def test_a_label_map_of_several_prompts_is_a_palette_png_in_the_overlay_colours(tmp_path):
    """Viewers show the classes in their legend colours; programs read the class indices."""
    from genseg.data.palette import class_colour
    from genseg.plugins.schemas import ClassInfo

    labels = (GRAY8 % 4).astype(np.uint8)  # 0 background, 1..3 the prompts
    classes = [ClassInfo(value=i + 1, prompt=p, name=p, colour=class_colour(i)) for i, p in enumerate("abc")]
    write_mask_sample(tmp_path / "named.png", labels, classes=classes)
    write_mask_sample(tmp_path / "plain.png", labels)  # no class records: the same colours
    for name in ("named.png", "plain.png"):
        with Image.open(tmp_path / name) as im:
            assert im.mode == "P"
            np.testing.assert_array_equal(np.asarray(im), labels)
            rgb = np.asarray(im.convert("RGB"))
        for value in range(1, 4):
            assert (rgb[labels == value] == class_colour(value - 1)).all()
        assert (rgb[labels == 0] == 0).all()
        np.testing.assert_array_equal(read_label(tmp_path / name), labels)


def test_a_class_colour_given_to_the_writer_is_the_one_shown(tmp_path):
    labels = np.array([[0, 1], [2, 2]], np.uint8)
    classes = [{"value": 1, "colour": (1, 2, 3)}, {"value": 2, "colour": (250, 251, 252)}]
    write_mask_sample(tmp_path / "m.png", labels, classes=classes)
    with Image.open(tmp_path / "m.png") as im:
        rgb = np.asarray(im.convert("RGB"))
    assert tuple(rgb[0, 1]) == (1, 2, 3) and tuple(rgb[1, 0]) == (250, 251, 252)


def test_a_single_prompt_mask_stays_grey_0_255(tmp_path):
    """Backward compatible: every reader (OpenCV, GDAL, grey conversions) still sees 0/255."""
    from genseg.plugins.schemas import ClassInfo

    mask = (GRAY8 > 100).astype(np.uint8) * 255
    one = [ClassInfo(value=255, prompt="a", name="a", colour=(230, 25, 75))]
    write_mask_sample(tmp_path / "one.png", mask, classes=one)
    write_mask_sample(tmp_path / "flags.png", GRAY8 > 100)
    write_mask_sample(tmp_path / "plain.png", mask)
    for name in ("one.png", "flags.png", "plain.png"):
        with Image.open(tmp_path / name) as im:
            assert im.mode == "L"
        np.testing.assert_array_equal(read_label(tmp_path / name), mask)


def test_a_label_map_beyond_8_bits_stays_a_grey_16_bit_png(tmp_path):
    labels = GRAY8.astype(np.int64) * 100
    write_mask_sample(tmp_path / "m.png", labels)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode.startswith("I")
    np.testing.assert_array_equal(read_label(tmp_path / "m.png"), labels)
