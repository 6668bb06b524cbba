"""genseg plugin: remote sensing (GeoTIFF scenes, multispectral bands)."""

__version__ = "0.1.0"
