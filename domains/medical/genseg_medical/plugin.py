"""Hook implementations of the medical plugin (registered through the ``genseg`` entry point).

Light at import: package data is read and MONAI, nibabel, pydicom and highdicom are
imported only when a hook needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genseg.plugins.api import hookimpl
from genseg_medical.preprocessing import OPTION_KEYS

GENSEG_HOOKSPEC = ">=1.6,<2"  # genseg_register_sample_data
DOMAIN = "medical"
_READ = "genseg_medical.readers:read_medical"
_DICOM_READER = {
    "name": "dicom",
    "patterns": ["*.dcm", "*.dicom"],
    "description": "DICOM file via MONAI PydicomReader: one slice, multi-frame volume, or DICOM-SEG label",
    "read": _READ,
}


@hookimpl
def genseg_register_domains():
    return [
        {
            "name": DOMAIN,
            "description": "medical imaging (CT, MR, endoscopy, dermoscopy)",
            "option_keys": list(OPTION_KEYS),
            # none: a mirror swaps left and right organs, and anatomy has an up and a down
            "flips": [],
        }
    ]


@hookimpl
def genseg_register_vocabularies():
    from genseg.plugins.api import Vocabulary, load_package_json

    return [load_package_json("genseg_medical", "data/vocabulary.json", Vocabulary)]


@hookimpl
def genseg_register_datasets():
    from genseg.plugins.api import DatasetCatalog, load_package_json

    return list(load_package_json("genseg_medical", "data/datasets.json", DatasetCatalog).datasets)


@hookimpl
def genseg_register_sample_data():
    return [
        {"name": "mni152", "make": "genseg_medical.mni152:make_mni152_dataset"},
        {"name": "ct-organs", "fetches": True},
    ]


@hookimpl
def genseg_index_dataset_folder(folder: Path):
    """nnU-Net v2 and Decathlon folders, recognised by their dataset.json, indexed where they lie."""
    from genseg_medical.nnunet import index_foreign_folder

    return index_foreign_folder(Path(folder))


@hookimpl
def genseg_register_readers():
    return [
        {
            "name": "nifti",
            "patterns": ["*.nii", "*.nii.gz", "*.hdr", "*.img", "*.mgz", "*.mgh"],
            "description": "NIfTI volume, NIfTI/Analyze pair (.hdr + .img) or FreeSurfer MGH via MONAI "
            "NibabelReader (affine, spacing, orientation kept)",
            "read": _READ,
        },
        _DICOM_READER,
        {
            "name": "dicom-series",
            "patterns": ["*"],
            "directories": True,
            "description": "a folder holding one DICOM series, sorted by slice position",
            "read": _READ,
            "claims": "genseg_medical.readers:claims_dicom_folder",
        },
    ]


@hookimpl
def genseg_get_reader(path: Path, kind: str):
    """DICOM files often have no extension (IM0001): recognise them by their content (the
    preamble, or the first element of a data set written without one)."""
    path = Path(path)
    if path.suffix or not path.is_file():
        return None
    from genseg_medical.readers import looks_like_dicom

    return _DICOM_READER if looks_like_dicom(path) else None


@hookimpl
def genseg_register_writers():
    return [
        {
            "name": "nifti",
            "patterns": ["*.nii", "*.nii.gz"],
            "formats": ["nifti", "nii", "nii.gz"],
            "description": "label volume as NIfTI with the source affine",
            "write": "genseg_medical.writers:write_nifti",
        },
        {
            "name": "dicom-seg",
            "patterns": ["*.dcm"],
            "formats": ["dicom-seg", "seg"],
            "description": "DICOM Segmentation (highdicom) referencing the source series",
            "write": "genseg_medical.writers:write_dicom_seg",
        },
    ]


@hookimpl
def genseg_preprocess(sample, domain: str, options: Mapping[str, Any]):
    if domain != DOMAIN:
        return None
    from genseg_medical.preprocessing import preprocess_medical

    return preprocess_medical(sample, options)
