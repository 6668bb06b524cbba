"""Class meaning (hookspec 1.4): prompts, vocabulary terms, codes and colours reach the writers
that accept ``classes``; older writers keep working, with one warning."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from genseg.data.classes import class_infos, label_values
from genseg.data.readers import OVERLAY_COLOURS
from genseg.data.sample import Sample
from genseg.plugins import hookimpl, registry
from genseg.plugins.schemas import ClassInfo

GIVEN: list[dict] = []


def write_named(path: Path, mask, reference=None, classes=None, model=None) -> Path:
    GIVEN.append({"classes": classes, "model": model})
    np.save(path, mask, allow_pickle=False)
    return path


def write_old(path: Path, mask, reference=None) -> Path:
    GIVEN.append({})
    np.save(path, mask, allow_pickle=False)
    return path


def write_with_table(path: Path, mask, reference=None) -> Path:
    np.save(path, mask, allow_pickle=False)
    registry.sidecar_path(path, ".table.txt").write_text("1 disc")
    if mask.sum() < 0:
        raise ValueError("refused after the sidecar")
    return path


class Sink:
    def __init__(self, path, reference, prompts, classes=None):
        GIVEN.append({"prompts": prompts, "classes": classes})

    def write_rows(self, row, labels, probabilities):
        pass

    def close(self):
        return None

    def abort(self):
        pass


@hookimpl
def genseg_register_writers():
    return [
        {
            "name": "named",
            "patterns": ["*.named.npy"],
            "formats": ["named"],
            "write": f"{__name__}:write_named",
        },
        {"name": "old", "patterns": ["*.old.npy"], "formats": ["old"], "write": f"{__name__}:write_old"},
        {"name": "rows", "patterns": ["*.rows"], "formats": ["rows"], "stream": f"{__name__}:Sink"},
        {
            "name": "side",
            "patterns": ["*.side.npy"],
            "formats": ["side"],
            "write": f"{__name__}:write_with_table",
        },
    ]


@hookimpl
def genseg_register_vocabularies():
    return [
        {
            "domain": "generic",
            "name": "toy shapes",
            "templates": ["{}", "a {} shape"],
            "terms": [{"name": "disc", "synonyms": ["circle"], "codes": {"TOY": "7"}}],
        }
    ]


PLUGIN = types.SimpleNamespace(
    __name__="classy",
    GENSEG_HOOKSPEC=">=1.4,<2",
    genseg_register_writers=genseg_register_writers,
    genseg_register_vocabularies=genseg_register_vocabularies,
)


@pytest.fixture
def plugins(genseg_plugins):
    GIVEN.clear()
    registry._WARNED_NO_CLASSES.clear()
    return genseg_plugins(PLUGIN)


def test_class_infos_resolve_prompts_to_terms_with_codes_and_the_overlay_colours(plugins):
    got = class_infos(["a circle shape", "the disc", "blob"], "generic")
    assert [c.value for c in got] == [1, 2, 3]
    assert [c.name for c in got] == ["disc", "disc", "blob"]
    assert (
        got[0].codes == {"TOY": "7"} and got[0].synonyms == ["circle"] and got[0].vocabulary == "toy shapes"
    )
    assert got[2].codes == {} and got[2].vocabulary == "" and got[2].prompt == "blob"
    assert [c.colour for c in got] == [tuple(OVERLAY_COLOURS[i]) for i in range(3)]
    single = label_values(got[:1], 255)
    assert single[0].value == 255 and got[0].value == 1  # a copy; the original keeps its value
    assert label_values(got, 255) == got


def test_class_infos_take_the_medical_vocabulary_codes():
    pytest.importorskip("genseg_medical")
    liver, spleen = class_infos(["liver", "splenic"], "medical")
    assert (liver.name, liver.codes) == ("liver", {"SNOMED CT": "10200004"})
    assert (spleen.name, spleen.prompt, spleen.codes) == ("spleen", "splenic", {"SNOMED CT": "78961009"})


def test_class_info_refuses_a_colour_out_of_range():
    with pytest.raises(ValidationError, match="0..255"):
        ClassInfo(value=1, prompt="x", name="x", colour=(0, 300, 0))


def test_write_passes_classes_and_model_to_a_writer_that_accepts_them(plugins, tmp_path):
    classes = class_infos(["disc", "blob"], "generic")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.write(tmp_path / "m.named.npy", np.zeros((2, 2), np.uint8), classes=classes, model="k32")
    ((given,),) = [GIVEN]
    assert given == {"classes": classes, "model": "k32"}


def test_dicts_are_validated_as_class_records(plugins, tmp_path):
    record = {"value": 1, "prompt": "disc", "name": "disc", "colour": [1, 2, 3]}
    registry.write(tmp_path / "m.named.npy", np.zeros((2, 2), np.uint8), classes=[record])
    assert GIVEN[0]["classes"] == [ClassInfo(**record)]


def test_an_older_writer_keeps_working_and_genseg_warns_once(plugins, tmp_path):
    classes = class_infos(["disc"], "generic")
    with pytest.warns(UserWarning, match=r"writer old \(plugin classy\) does not accept `classes`"):
        registry.write(tmp_path / "a.old.npy", np.ones((2, 2), np.uint8), classes=classes, model="k32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second file: no second warning
        registry.write(tmp_path / "b.old.npy", np.ones((2, 2), np.uint8), classes=classes)
        registry.write(tmp_path / "c.old.npy", np.ones((2, 2), np.uint8))  # no classes: nothing to say
    assert GIVEN == [{}, {}, {}] and np.load(tmp_path / "b.old.npy").sum() == 4


def test_a_streamed_writer_gets_classes_when_its_open_accepts_them(plugins, tmp_path):
    reference = Sample(np.zeros((2, 2, 3), np.float32), tmp_path / "x.png", "image", reader="test")
    classes = class_infos(["disc"], "generic")
    sink = registry.open_stream(tmp_path / "o.rows", reference, ["disc"], classes=classes, model="k32")
    assert isinstance(sink, Sink) and GIVEN == [{"prompts": ["disc"], "classes": classes}]


def test_segment_hands_the_writer_the_classes_of_its_label_values(plugins, genseg_tiny_pipeline, tmp_path):
    from genseg.data.readers import write_image_png
    from genseg.segment import segment_files

    src = write_image_png(tmp_path / "in.png", np.random.default_rng(0).random((16, 16, 3)))
    segment_files(genseg_tiny_pipeline, [src], ["circle", "blob"], tmp_path / "m.named.npy", progress=False)
    segment_files(genseg_tiny_pipeline, [src], ["circle"], tmp_path / "one.named.npy", progress=False)
    two, one = GIVEN
    assert [(c.value, c.name, c.prompt) for c in two["classes"]] == [
        (1, "disc", "circle"),
        (2, "blob", "blob"),
    ]
    assert [(c.value, c.name) for c in one["classes"]] == [(1, "disc")]  # a single prompt writes 0/1 here
    assert int(np.load(tmp_path / "one.named.npy").max()) <= 1


def test_sidecars_of_the_temporary_path_are_renamed_with_the_output_or_removed(plugins, tmp_path):
    assert registry.sidecar_path(Path("a/m.nii.gz"), ".ctbl") == Path("a/m.ctbl")
    registry.write(tmp_path / "m.side.npy", np.ones((2, 2), np.int8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.side.npy", "m.side.table.txt"]
    assert (tmp_path / "m.side.table.txt").read_text() == "1 disc"
    with pytest.raises(ValueError, match="refused after the sidecar"):
        registry.write(tmp_path / "n.side.npy", -np.ones((2, 2), np.int8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.side.npy", "m.side.table.txt"]
