"""landsat-nc tiling and split, and how image/label CRSs that are equivalent but not equal are treated."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from genseg.data.schema import load_dataset_spec
from genseg.errors import DatasetError
from genseg_remote_sensing import crs as crs_mod
from genseg_remote_sensing import datasets as rd
from genseg_remote_sensing import landsat_nc as ln

TF = Affine(28.5, 0, 630534.0, 0, -28.5, 228114.0)


def _raster(path, data, crs, transform=TF, nodata=None):
    data = np.asarray(data)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
    return path


def test_crs_relation_same_equivalent_different():
    nc83, harn = CRS.from_epsg(32119), CRS.from_epsg(3358)
    assert crs_mod.crs_relation(nc83, CRS.from_epsg(32119)) == "same"
    assert crs_mod.crs_relation(nc83, harn) == "equivalent"
    assert (
        crs_mod.crs_relation(nc83, CRS.from_epsg(32019)) == "different"
    )  # NAD27 / NC: other ellipsoid, feet
    assert crs_mod.crs_relation(CRS.from_epsg(32633), CRS.from_epsg(32634)) == "different"  # other zone
    assert crs_mod.crs_relation(None, None) == "same" and crs_mod.crs_relation(nc83, None) == "different"


def test_equivalent_label_crs_is_accepted_with_one_warning(tmp_path):
    crs_mod._warned.clear()
    image = _raster(tmp_path / "img.tif", np.ones((4, 5), np.uint8), "EPSG:32119")
    label = _raster(tmp_path / "lab.tif", np.ones((4, 5), np.uint8), "EPSG:3358")
    with pytest.warns(crs_mod.CRSEquivalenceWarning, match="EPSG:3358"):
        rd.check_raster_pair(image, label)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rd.check_raster_pair(image, label)  # once per CRS pair


@pytest.mark.parametrize("label_crs", ["EPSG:32019", "EPSG:32617"])
def test_truly_different_label_crs_is_refused(tmp_path, label_crs):
    image = _raster(tmp_path / "img.tif", np.ones((4, 5), np.uint8), "EPSG:32119")
    label = _raster(tmp_path / "lab.tif", np.ones((4, 5), np.uint8), label_crs)
    with pytest.raises(DatasetError, match="CRS") as err:
        rd.check_raster_pair(image, label)
    assert str(image) in str(err.value)


def test_equivalent_crs_with_another_transform_is_still_refused(tmp_path):
    image = _raster(tmp_path / "img.tif", np.ones((4, 5), np.uint8), "EPSG:32119")
    label = _raster(
        tmp_path / "lab.tif", np.ones((4, 5), np.uint8), "EPSG:3358", TF @ Affine.translation(1, 0)
    )
    with pytest.raises(DatasetError, match="transform"):
        rd.check_raster_pair(image, label)


def test_layout_keeps_a_gap_between_splits():
    assert ln.gap_ok() and ln.gap_ok(("TgE",)) and not ln.gap_ok(("TV",)) and not ln.gap_ok(("Tg", "gE"))
    splits = ln.split_of_tiles()
    assert sorted(set(splits.values())) == ["test", "training", "validation"]


def test_build_tiles_six_bands_and_labels_on_one_grid(tmp_path):
    rng = np.random.default_rng(0)
    h, w, t = 26, 30, 4
    bands = []
    for name, _, _ in ln.BANDS:
        data = rng.integers(1, 255, (h, w)).astype(np.float32)
        data[0, :] = -99999.0
        bands.append(_raster(tmp_path / f"{name}.tif", data, "EPSG:32119", nodata=-99999.0))
    strata = rng.integers(1, 8, (h, w)).astype(np.float32)
    label = _raster(tmp_path / "strata.tif", strata, "EPSG:3358", nodata=-99999.0)
    crs_mod._warned.clear()
    with pytest.warns(crs_mod.CRSEquivalenceWarning):
        root = ln.build_landsat_nc(tmp_path / "out", bands, label, tile=t)
    spec = load_dataset_spec(root)
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (15, 4, 4)
    assert (
        spec.ignore == [0]
        and spec.classes["5"].name == "forest"
        and spec.classes["1"].name == "built-up area"
    )
    assert "herbaceous" in spec.classes["3"].synonyms
    with rasterio.open(root / spec.test[0].image) as img, rasterio.open(root / spec.test[0].label) as lab:
        assert img.count == 6 and img.descriptions == ("blue", "green", "red", "nir", "swir16", "swir22")
        assert img.crs == lab.crs == CRS.from_epsg(32119) and img.transform == lab.transform
        assert img.nodata == lab.nodata == 0 and lab.dtypes == ("uint8",)
        r, c = 3, 4  # test_r3c4: grid origin is centred in the valid rows 1..25 and columns 0..29
        top, left = 1 + (25 - 5 * t) // 2, (30 - 6 * t) // 2
        assert img.transform == TF @ Affine.translation(left + c * t, top + r * t)
        assert np.array_equal(lab.read(1), strata[top + r * t : top + (r + 1) * t, left + c * t :][:, :t])
    rd.check_raster_pair(root / spec.training[0].image, root / spec.training[0].label)
