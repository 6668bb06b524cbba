"""Peers: the models a user would train instead of genseg, in the benchmark beside it.

A peer is a closed-set segmenter (one output per class of its training data, plus
background) trained on the same training split, for the same number of steps with the
budget's batch size and resolution, and read through the same readers and domain
preprocessing. It writes its predictions in the layout genseg's do (one mask per (image,
prompt), :func:`genseg.evaluation.predictions.write_predictions`), so one scorer reads both
and the numbers are comparable. A prompt maps to a class channel by the dataset's class
name; a class the peer never trained on is predicted empty.

- ``basicunet``: MONAI's BasicUNet, softmax over classes + background, Dice + CE loss, AdamW
  (:mod:`.basicunet`); volumes are trained and predicted slice by slice.
- ``random-forest``: scikit-learn's random forest on every band of each pixel, as the
  remote-sensing reader returns them (raw file values, not the 3-band composite the model
  sees) (:mod:`.random_forest`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from genseg.names import normalise

PEERS: dict[str, str] = {
    "basicunet": "genseg.evaluation.peers.basicunet:BasicUNetPeer",
    "random-forest": "genseg.evaluation.peers.random_forest:RandomForestPeer",
}
RECORD = "peer.json"


@dataclass
class TrainEntry:
    """A labelled training image and how to read it."""

    image: Path
    label: Path
    domain: str
    options: dict[str, str]
    values: dict[int, int]  # label value -> class index (1-based; 0 is background)
    ignore: list[int] = field(default_factory=list)

    def class_index(self, label: np.ndarray) -> np.ndarray:
        """The label map as class indices; ignored values become -1."""
        out = np.zeros(label.shape, np.int64)
        for value, k in self.values.items():
            out[label == value] = k
        if self.ignore:
            out[np.isin(label, self.ignore)] = -1
        return out


def peer_class(name: str):
    module, attr = PEERS[name].split(":")
    return getattr(import_module(module), attr)


def training_set(
    folders: dict[str, Path], specs: dict[str, Any], exclude: list[str] = ()
) -> tuple[list[str], list[TrainEntry]]:
    """The class names (channel order) and labelled training entries of ``folders`` (name →
    dataset folder). Classes are joined by name across datasets; ``exclude``d classes are
    background, as they are for genseg (never prompted in training)."""
    from genseg.data.schema import preprocessing_options, resolve_path

    excluded = {normalise(c) for c in exclude}
    names: list[str] = []
    entries: list[TrainEntry] = []
    for ds, folder in folders.items():
        spec = specs[ds]
        lut: dict[int, int] = {}
        for key, cls in spec.classes.items():
            if normalise(cls.name) in excluded:
                continue
            if cls.name not in names:
                names.append(cls.name)
            for v in spec.class_values(key):
                lut[v] = names.index(cls.name) + 1
        for e in spec.training:
            if e.label is None:
                continue
            entries.append(
                TrainEntry(
                    resolve_path(folder, e.image),
                    resolve_path(folder, e.label),
                    spec.domain,
                    preprocessing_options(spec),
                    lut,
                    list(spec.ignore),
                )
            )
    return names, entries


class Peer:
    """The interface of a peer: fit on entries, predict a class-index map, save and load."""

    name = "peer"
    weights = "model.bin"

    def __init__(self, classes: list[str], budget, options: dict[str, Any]) -> None:
        self.classes = list(classes)
        self.budget = budget
        self.options = dict(options)

    def fit(self, entries: list[TrainEntry], progress: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def predict_classes(self, item, image_sample) -> np.ndarray:
        """Class indices (0 = background) on the image's own grid: H×W, or D×H×W for a volume."""
        raise NotImplementedError

    def save_weights(self, path: Path) -> None:
        raise NotImplementedError

    def load_weights(self, path: Path) -> None:
        raise NotImplementedError

    def segment(self, item, image_sample) -> np.ndarray:
        """Masks for ``item``'s queries (``write_predictions``' callback): the channel of the
        query's class, by name; a class the peer never trained on is empty."""
        labels = self.predict_classes(item, image_sample)
        masks = np.zeros((len(item.queries), *labels.shape), bool)
        for q, (class_name, _values, _prompt, _tag) in enumerate(item.queries):
            if class_name in self.classes:
                masks[q] = labels == self.classes.index(class_name) + 1
        return masks


def train_or_load(
    method: str,
    spec,
    folders: dict[str, Path],
    specs: dict[str, Any],
    budget,
    exclude: list[str],
    out: Path,
    progress: bool = False,
) -> tuple[Peer, dict[str, Any], bool]:
    """The peer of (method, training set), trained into ``out`` unless an identical finished
    run is there. Returns the peer, its record (timings included) and whether it trained now."""
    import shutil

    config = {
        "method": method,
        "peer": spec.peer,
        "options": spec.options,
        "datasets": sorted(folders),
        "exclude": list(exclude),
        "budget": {
            k: getattr(budget, k) for k in ("steps", "batch_size", "learning_rate", "resolution", "seed")
        },
    }
    classes, entries = training_set(folders, specs, exclude)
    cls = peer_class(spec.peer)
    peer = cls(classes, budget, spec.options)
    record_path = out / RECORD
    if record_path.is_file() and (out / cls.weights).is_file():
        record = json.loads(record_path.read_text())
        if record.get("config") == config:
            peer.load_weights(out / cls.weights)
            return peer, record, False
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if not entries:
        from genseg.errors import DatasetError

        raise DatasetError(f"{method}: no labelled training images in {sorted(folders)}")
    cpu, wall = time.process_time(), time.perf_counter()
    info = peer.fit(entries, progress=progress)
    record = {
        "config": config,
        "classes": classes,
        "train_cpu_s": time.process_time() - cpu,
        "train_wall_s": time.perf_counter() - wall,
        "train_images": len(entries),
        **info,
    }
    peer.save_weights(out / cls.weights)
    from genseg.data.atomic import atomic_write

    atomic_write(record_path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, default=str)))
    return peer, record, True
