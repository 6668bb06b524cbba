"""Hook implementations of the remote-sensing plugin (registered through the ``genseg`` entry point).

Light at import: package data is read and rasterio, geopandas and shapely are imported only
when a hook needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genseg.plugins.api import hookimpl

GENSEG_HOOKSPEC = ">=1.6,<2"  # genseg_register_sample_data
DOMAIN = "remote-sensing"
OPTION_KEYS = (
    "sensor",
    "bands",
    "composite",
    "normalise",
    "percentiles",
    "offset",
    "reflectance_max",
    "strict",
)  # = preprocessing.OPTION_KEYS


@hookimpl
def genseg_register_domains():
    return [
        {
            "name": DOMAIN,
            "description": "remote sensing (GeoTIFF scenes, multispectral bands)",
            "tiling": True,
            "option_keys": list(OPTION_KEYS),
            "flips": ["horizontal", "vertical"],  # a scene seen from above has no handedness
        }
    ]


@hookimpl
def genseg_register_vocabularies():
    from genseg.plugins.api import Vocabulary, load_package_json

    return [load_package_json("genseg_remote_sensing", "data/vocabulary.json", Vocabulary)]


@hookimpl
def genseg_register_datasets():
    from genseg.plugins.api import DatasetCatalog, load_package_json

    return list(load_package_json("genseg_remote_sensing", "data/datasets.json", DatasetCatalog).datasets)


@hookimpl
def genseg_register_sample_data():
    return [{"name": "landsat-nc", "fetches": True}]


@hookimpl
def genseg_register_readers():
    return [
        {
            "name": "geotiff",
            "patterns": ["*.tif", "*.tiff", "*.vrt", "*.jp2"],
            "description": "GeoTIFF / COG (also VRT, JPEG 2000) via rasterio, any number of bands; "
            "CRS, transform, nodata kept (plain TIFFs without georeferencing are left to the generic reader)",
            "read": "genseg_remote_sensing.readers:read_geotiff",
            "claims": "genseg_remote_sensing.readers:is_georeferenced",
            "open_windowed": "genseg_remote_sensing.raster:open_geotiff",
        }
    ]


@hookimpl
def genseg_register_writers():
    return [
        {  # before "geotiff", whose patterns also match these names
            "name": "geotiff-probabilities",
            "patterns": ["*.probabilities.tif", "*.probabilities.tiff"],
            "formats": ["probabilities"],
            "description": "probability COG, one band per prompt (named), percent 0-100 with scale 0.01, "
            "on the input's grid (segment --probabilities)",
            "stream": "genseg_remote_sensing.raster:open_probability_sink",
        },
        {
            "name": "geotiff",
            "patterns": ["*.tif", "*.tiff"],
            "formats": ["geotiff", "gtiff", "tif"],
            "description": "uint8 label cloud-optimised GeoTIFF on the input's grid (CRS, transform, "
            "nodata), overviews, colour table; attribute table (.aux.xml) and QGIS style (.qml) beside it",
            "write": "genseg_remote_sensing.raster:write_geotiff",
            "stream": "genseg_remote_sensing.raster:open_geotiff_sink",
        },
        {
            "name": "geopackage",
            "patterns": ["*.gpkg"],
            "formats": ["gpkg", "geopackage"],
            "kind": "vector",
            "description": "polygons with class, name, prompt and score in the raster's CRS, one layer per "
            "class; sieved and simplified, neighbours sharing edges",
            "stream": "genseg_remote_sensing.vector:open_vector_sink",
        },
        {
            "name": "geojson",
            "patterns": ["*.geojson"],
            "formats": ["geojson"],
            "kind": "vector",
            "description": "polygons with class, name, prompt and score in the raster's CRS (one "
            "collection); sieved and simplified, neighbours sharing edges",
            "stream": "genseg_remote_sensing.vector:open_vector_sink",
        },
    ]


@hookimpl
def genseg_preprocess(sample, domain: str, options: Mapping[str, Any]):
    if domain != DOMAIN:
        return None
    from genseg_remote_sensing.preprocessing import preprocess_remote_sensing

    return preprocess_remote_sensing(sample, options)
