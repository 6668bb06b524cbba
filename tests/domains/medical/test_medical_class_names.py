"""Class meaning in medical outputs: DICOM-SEG segments named and coded from the vocabulary,
with display colours; NIfTI masks with Slicer and ITK-SNAP colour tables beside them."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest

from genseg.data.classes import class_infos
from genseg.plugins import registry
from genseg.plugins.schemas import ClassInfo
from genseg.version import __version__ as GENSEG_VERSION
from genseg_medical.readers import read_medical
from genseg_medical.synthetic import label_volume_like, write_ct_series
from genseg_medical.writers import segment_codes, write_dicom_seg, write_nifti

SHAPE = (5, 24, 20)


@pytest.fixture
def series(tmp_path):
    write_ct_series(tmp_path / "ct", shape=SHAPE)
    return read_medical(tmp_path / "ct", "image")


def _three_labels() -> np.ndarray:
    mask = label_volume_like(SHAPE, labels=2)
    mask[-1, :3, :4] = 3
    return mask


def test_dicom_seg_segments_carry_term_names_snomed_codes_colours_and_the_algorithm(tmp_path, series):
    import highdicom as hd

    classes = class_infos(["liver", "the spleen", "blob"], "medical")
    with pytest.warns(UserWarning, match=r"segment 3 \(class 'blob' has no SNOMED CT code.*placeholder"):
        out = write_dicom_seg(tmp_path / "seg.dcm", _three_labels(), series, classes=classes, model="k32")
    seg = hd.seg.segread(out)
    described = [seg.get_segment_description(n) for n in (1, 2, 3)]
    assert [d.segment_label for d in described] == ["liver", "spleen", "blob"]
    types = [
        (d.segmented_property_type.value, d.segmented_property_type.scheme_designator) for d in described
    ]
    assert types == [("10200004", "SCT"), ("78961009", "SCT"), ("85756007", "SCT")]
    assert [d.segmented_property_type.meaning for d in described[:2]] == ["Liver", "Spleen"]
    categories = [d.segmented_property_category.value for d in described]
    assert categories == ["91723000", "91723000", "85756007"]  # anatomical structure; placeholder tissue
    for d, info in zip(described, classes, strict=True):
        lab = hd.color.CIELabColor.from_dicom_value(tuple(d.RecommendedDisplayCIELabValue))
        assert lab.to_rgb() == info.colour
    algorithm = described[0].algorithm_identification[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("genseg", GENSEG_VERSION)
    assert algorithm.AlgorithmParameters == "model=k32"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series.meta["series_uid"]
    assert seg.SeriesDescription == "genseg: liver, spleen, blob"
    np.testing.assert_array_equal(read_medical(out, "label").array, _three_labels())


@pytest.mark.parametrize(
    ("name", "category", "placeholder"),
    [
        ("tumour", "49755003", False),  # PS3.16 CID 7194: morphologically abnormal structure
        ("skin", "85756007", False),  # CID 7191: tissue (a real category, not the placeholder)
        ("bone", "91723000", False),  # in no segmentation CID: the SNOMED tag "(body structure)"
        ("lung tumour", "49755003", False),  # "(disorder)"
        ("polyp", "85756007", True),  # a code whose category cannot be told
        ("naevus", "85756007", True),  # no code at all
    ],
)
def test_segment_category_follows_the_dicom_code_tables(name, category, placeholder):
    (info,) = class_infos([name], "medical")
    got_category, got_type, why = segment_codes(info)
    assert got_category.value == category and (why is not None) == placeholder
    if info.codes:
        assert got_type.value == info.codes["SNOMED CT"]


def test_a_single_prompt_0_255_dicom_seg_takes_the_255_record(tmp_path):
    import highdicom as hd
    from pydicom.data import get_testdata_file

    sample = read_medical(Path(get_testdata_file("CT_small.dcm")), "image")
    mask = np.zeros(sample.spatial_shape, np.uint8)
    mask[10:20, 10:30] = 255
    info = ClassInfo(
        value=255, prompt="liver", name="liver", codes={"SNOMED CT": "10200004"}, colour=(1, 2, 3)
    )
    seg = hd.seg.segread(write_dicom_seg(tmp_path / "one.dcm", mask, sample, classes=[info]))
    assert seg.get_segment_description(1).segment_label == "liver"


def _parse_ctbl(path: Path) -> dict[int, tuple[str, tuple[int, ...]]]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# Color table file")
    rows = [line.split() for line in lines if line and not line.startswith("#")]
    return {int(r[0]): (r[1], tuple(int(v) for v in r[2:6])) for r in rows}


def _parse_itksnap(path: Path) -> dict[int, tuple[str, tuple[int, ...], float]]:
    lines = path.read_text().splitlines()
    assert "ITK-SnAP Label Description File" in lines[1]
    rows = [shlex.split(line) for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(r) == 8 for r in rows)
    return {int(r[0]): (r[7], tuple(int(v) for v in r[1:4]), float(r[4])) for r in rows}


def test_nifti_written_through_the_registry_gets_colour_tables_renamed_with_it(tmp_path, series):
    classes = class_infos(["liver", "grey matter"], "medical")
    out = registry.write(tmp_path / "m.nii.gz", _three_labels().clip(0, 2), series, classes=classes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct", "m.ctbl", "m.itksnap.txt", "m.nii.gz"]
    assert _parse_ctbl(tmp_path / "m.ctbl") == {
        0: ("Background", (0, 0, 0, 0)),
        1: ("liver", (*classes[0].colour, 255)),
        2: ("grey_matter", (*classes[1].colour, 255)),
    }
    assert _parse_itksnap(tmp_path / "m.itksnap.txt") == {
        0: ("Clear Label", (0, 0, 0), 0.0),
        1: ("liver", classes[0].colour, 1.0),
        2: ("grey matter", classes[1].colour, 1.0),
    }
    assert read_medical(out, "label").array.max() == 2


def test_nifti_without_classes_writes_no_tables(tmp_path, series):
    write_nifti(tmp_path / "m.nii", _three_labels(), series)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct", "m.nii"]
