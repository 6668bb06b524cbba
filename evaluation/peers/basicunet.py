"""MONAI's BasicUNet as the closed-set peer a medical user would train: one output channel
per class plus background, softmax, Dice + cross-entropy (``DiceCELoss``), AdamW.

Training reads every slice of the training images (volumes are D×H×W×C, cut along the first
axis) through genseg's readers and the domain's preprocessing, resizes them to the budget's
resolution (bilinear for images, nearest for labels) and draws seeded batches of the
budget's size for the budget's steps. Prediction runs at that resolution and resizes the
logits back to the image's own grid before the arg-max, so masks lie on the label's pixels.
Ignored label values count as background in the loss (MONAI's DiceCELoss has no ignore
index); they stay out of the scores as for every method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genseg.evaluation.peers import Peer, TrainEntry

DEFAULT_FEATURES = (16, 16, 32, 64, 128, 16)


def _slices(array: np.ndarray) -> list[np.ndarray]:
    """H×W×C → [it]; D×H×W×C → its D slices."""
    return [array] if array.ndim == 3 else [array[z] for z in range(array.shape[0])]


class BasicUNetPeer(Peer):
    name = "basicunet"
    weights = "basicunet.pt"

    def __init__(self, classes: list[str], budget, options: dict[str, Any]) -> None:
        super().__init__(classes, budget, options)
        self.net = None
        self.in_channels: int | None = None

    def _build(self, in_channels: int):
        import torch
        from monai.networks.nets import BasicUNet

        torch.manual_seed(self.budget.seed)
        self.in_channels = in_channels
        self.net = BasicUNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=len(self.classes) + 1,
            features=tuple(self.options.get("features", DEFAULT_FEATURES)),
        )
        return self.net

    def _resize(self, images, size: int, mode: str):
        import torch.nn.functional as F

        if mode == "nearest":
            return F.interpolate(images, size=(size, size), mode="nearest")
        return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    def _load_training(self, entries: list[TrainEntry]):
        import torch

        from genseg.data.io import load_image, load_label
        from genseg.errors import InputError

        r = self.budget.resolution
        images, labels = [], []
        for e in entries:
            image = load_image(e.image, e.domain, e.options).array
            label = e.class_index(load_label(e.label).array)
            label[label < 0] = 0  # ignored → background (see the module docstring)
            if image.shape[:-1] != label.shape:
                raise InputError(f"image is {image.shape[:-1]} but its label is {label.shape}", path=e.image)
            for img, lab in zip(_slices(image), [label] if label.ndim == 2 else list(label), strict=True):
                x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
                y = torch.from_numpy(lab)[None, None].float()
                images.append(self._resize(x, r, "bilinear")[0])
                labels.append(self._resize(y, r, "nearest")[0].long())
        channels = {int(x.shape[0]) for x in images}
        if len(channels) != 1:
            raise InputError(f"training images have different channel counts {sorted(channels)}")
        return torch.stack(images), torch.stack(labels)

    def fit(self, entries: list[TrainEntry], progress: bool = False) -> dict[str, Any]:
        import torch
        from monai.losses import DiceCELoss
        from rich.progress import track

        x, y = self._load_training(entries)
        net = self._build(int(x.shape[1]))
        net.train()
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        opt = torch.optim.AdamW(net.parameters(), lr=self.budget.learning_rate)
        gen = torch.Generator().manual_seed(self.budget.seed)
        b = min(self.budget.batch_size, len(x))
        losses = []
        for _ in track(range(self.budget.steps), description="basicunet", disable=not progress):
            idx = torch.randint(len(x), (b,), generator=gen)
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return {
            "train_slices": len(x),
            "steps": self.budget.steps,
            "final_loss": losses[-1] if losses else None,
        }

    def predict_classes(self, item, image_sample) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        array = image_sample.array
        net = self.net
        net.eval()
        out = []
        planes = _slices(array)
        with torch.no_grad():
            for start in range(0, len(planes), 8):
                batch = np.stack(planes[start : start + 8]).astype(np.float32)
                h, w = batch.shape[1:3]
                x = torch.from_numpy(batch).permute(0, 3, 1, 2)
                logits = net(self._resize(x, self.budget.resolution, "bilinear"))
                logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
                out.append(logits.argmax(1).numpy())
        labels = np.concatenate(out)
        return labels[0] if array.ndim == 3 else labels

    def save_weights(self, path: Path) -> None:
        import torch

        torch.save({"state": self.net.state_dict(), "in_channels": self.in_channels}, path)

    def load_weights(self, path: Path) -> None:
        import torch

        saved = torch.load(path, map_location="cpu", weights_only=True)
        self._build(int(saved["in_channels"])).load_state_dict(saved["state"])
