"""A per-pixel random forest (scikit-learn) as the peer a remote-sensing user would train:
every band of each pixel is a feature, as the reader returns them (raw file values: a
forest's splits do not need scaling), not the three-band composite genseg's model sees.

Training draws a seeded sample of valid, labelled pixels (``samples`` in all, the same
number from each training image); nodata and ignored pixels never enter it. The forest has
no steps: the budget's steps and batch size do not apply to it, its resolution neither
(it predicts every pixel at the image's own size).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genseg.evaluation.peers import Peer, TrainEntry

DEFAULTS = {"trees": 100, "max_depth": 20, "samples": 50_000, "n_jobs": 2}


def read_bands(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """H×W×B raw band values (float32), the valid-pixel mask and the band names, through the
    plugin reader (no domain preprocessing, so no band is dropped)."""
    from genseg.errors import InputError
    from genseg.plugins import registry

    sample = registry.read(path, "image")
    array = np.asarray(sample.array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise InputError(f"the random forest takes 2D rasters, got shape {array.shape}", path=path)
    valid = sample.meta.get("valid_mask")
    valid = np.ones(array.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    names = sample.meta.get("band_descriptions") or [None] * array.shape[-1]
    names = [n or f"band {i + 1}" for i, n in enumerate(names)]
    return np.nan_to_num(array.astype(np.float32)), valid, names


class RandomForestPeer(Peer):
    name = "random-forest"
    weights = "forest.joblib"

    def __init__(self, classes: list[str], budget, options: dict[str, Any]) -> None:
        super().__init__(classes, budget, {**DEFAULTS, **options})
        self.forest = None
        self.bands: list[str] = []

    def fit(self, entries: list[TrainEntry], progress: bool = False) -> dict[str, Any]:
        from rich.progress import track

        from genseg.data.io import load_label
        from genseg.errors import ConfigError, InputError

        try:
            from sklearn.ensemble import RandomForestClassifier
        except ImportError as exc:
            raise ConfigError(
                "the random-forest peer needs scikit-learn", fix="pip install 'scikit-learn>=1.3'"
            ) from exc
        rng = np.random.default_rng(self.budget.seed)
        per_image = max(1, int(self.options["samples"]) // len(entries))
        xs, ys = [], []
        for e in track(entries, description="random-forest pixels", disable=not progress):
            bands, valid, names = read_bands(e.image)
            if not self.bands:
                self.bands = names
            elif len(names) != len(self.bands):
                raise InputError(
                    f"{len(names)} bands here, {len(self.bands)} in the first training image", path=e.image
                )
            label = e.class_index(load_label(e.label).array)
            if label.shape != bands.shape[:2]:
                raise InputError(f"image is {bands.shape[:2]} but its label is {label.shape}", path=e.image)
            pool = np.flatnonzero(valid.ravel() & (label.ravel() >= 0))
            pick = rng.choice(pool, size=min(per_image, pool.size), replace=False) if pool.size else pool
            xs.append(bands.reshape(-1, bands.shape[-1])[pick])
            ys.append(label.ravel()[pick])
        x, y = np.concatenate(xs), np.concatenate(ys)
        self.forest = RandomForestClassifier(
            n_estimators=int(self.options["trees"]),
            max_depth=self.options["max_depth"],
            n_jobs=int(self.options["n_jobs"]),
            random_state=self.budget.seed,
        ).fit(x, y)
        return {"train_pixels": int(len(y)), "bands": self.bands, "steps": None}

    def predict_classes(self, item, image_sample) -> np.ndarray:
        bands, valid, _ = read_bands(Path(item.image))
        flat = bands.reshape(-1, bands.shape[-1])
        out = np.zeros(flat.shape[0], np.int64)
        for start in range(0, flat.shape[0], 1 << 18):
            out[start : start + (1 << 18)] = self.forest.predict(flat[start : start + (1 << 18)])
        out = out.reshape(bands.shape[:2])
        out[~valid] = 0
        return out

    def save_weights(self, path: Path) -> None:
        import joblib

        joblib.dump({"forest": self.forest, "bands": self.bands}, path)

    def load_weights(self, path: Path) -> None:
        import joblib

        saved = joblib.load(path)
        self.forest, self.bands = saved["forest"], saved["bands"]
