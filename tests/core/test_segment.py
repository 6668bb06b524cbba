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
