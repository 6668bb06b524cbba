"""One image processor for every path into and out of the model (training, inference, the
attention probe, tiles, volume slices, joint-generation images).

In the spirit of diffusers' ``VaeImageProcessor``: an input becomes a float32 3×H×W tensor in
[0, 1] (grey replicated, alpha dropped), is resized to the model's R×R with *one* method, and
the model's R×R outputs are resized back to the input's size. The methods are fixed here so
that training and inference see the same pixels:

- images: bilinear, antialiased (torch), half-pixel centres, clamped to [0, 1];
- masks (and any hard label, e.g. a validity map): nearest neighbour at pixel centres
  (``floor((i + 0.5) · in / out)``, torch's ``nearest-exact``; PIL's convention), any dtype,
  values never blended;
- probabilities back to the input's size: bilinear (no antialiasing, as the pipeline always
  did; upsampling is the usual case).

Both torch tensors (channels first) and numpy arrays (channels last, the albumentations layout
the training dataset uses) go through the same torch operations, so a training item with
augmentation off is the very tensor the pipeline gives the network for the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from genseg.errors import InputError

ImageLike = Any  # PIL.Image, H×W×C numpy in [0,1] or uint8/uint16, C×H×W tensor in [0,1]

IMAGE_RESIZE = "bilinear, antialiased"
MASK_RESIZE = "nearest (pixel centres)"


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {(h, w)}")
    return h, w


def to_image_tensor(image: ImageLike, channels: int = 3) -> torch.Tensor:
    """Any supported image → float32 channels×H×W in [0, 1] (grey is replicated, alpha dropped).

    A model that reads more than three bands (``channels``, :mod:`genseg.data.bands`) takes an
    image already laid out so (``channels`` channels), or a grey/RGB one whose further bands
    then read 0."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3:
            raise InputError(f"image array must be H×W or H×W×C, got shape {arr.shape}")
        scale = 255.0 if arr.dtype == np.uint8 else (65535.0 if arr.dtype == np.uint16 else 1.0)
        tensor = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)
        if scale != 1.0:
            tensor = tensor / scale  # a float32 array is used as it is: no copy of a large image
    elif isinstance(image, torch.Tensor):
        tensor = image.float()
        if tensor.ndim == 2:
            tensor = tensor[None]
    else:
        raise InputError(
            f"unsupported image type {type(image).__name__}", fix="pass a PIL image, array or tensor"
        )
    if channels > 3 and tensor.ndim == 3 and tensor.shape[0] == channels:
        return _in_unit_range(tensor)
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3, 4):
        wanted = "1, 3 or 4" if channels <= 3 else f"1, 3, 4 or {channels} (the model's bands)"
        raise InputError(f"image must have {wanted} channels first (C×H×W), got shape {tuple(tensor.shape)}")
    tensor = _in_unit_range(tensor[:3])
    # grey becomes three channels as a view: a 100-megapixel scan is not copied three times
    tensor = tensor.expand(3, -1, -1) if tensor.shape[0] == 1 else tensor
    if channels > 3:  # bands the image does not have read 0
        tensor = torch.cat([tensor, tensor.new_zeros(channels - 3, *tensor.shape[1:])])
    return tensor


def _in_unit_range(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` clamped to [0, 1], NaN as 0; copied only when something is out of range.
    amin/amax reduce a channels-last view without copying it (min/max copy the whole image,
    1.2 GB at 100 megapixels), and NaN propagates through amax."""
    lo, hi = tensor.amin(), tensor.amax()
    if torch.isnan(hi) or lo < 0 or hi > 1:
        return tensor.nan_to_num().clamp(0, 1)
    return tensor


def resize_image(images: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """…×C×H×W images in [0, 1] → …×C×h×w: bilinear, antialiased, clamped to [0, 1]."""
    h, w = _size(size)
    lead = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])
    if not flat.is_floating_point():
        flat = flat.float()
    out = F.interpolate(flat, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0).reshape(*lead, images.shape[-3], h, w)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    return np.minimum(((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)


def resize_mask(mask, size: int | Sequence[int], channels_last: bool = False):
    """A mask (tensor or array, any dtype) → the same kind and dtype at ``size``, nearest.

    Spatial axes are the last two (…×H×W), or the first two with ``channels_last``
    (H×W×K arrays, e.g. a mask stacked with its validity map)."""
    h, w = _size(size)
    axes = (0, 1) if channels_last else (mask.ndim - 2, mask.ndim - 1)
    rows = _nearest_index(mask.shape[axes[0]], h)
    cols = _nearest_index(mask.shape[axes[1]], w)
    if isinstance(mask, torch.Tensor):
        rows_t = torch.from_numpy(rows).to(mask.device)
        cols_t = torch.from_numpy(cols).to(mask.device)
        return mask.index_select(axes[0], rows_t).index_select(axes[1], cols_t)
    return np.take(np.take(np.asarray(mask), rows, axis=axes[0]), cols, axis=axes[1])


def resize_probabilities(probs: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """…×h×w soft maps (probabilities, uncertainty, attention) → …×H×W, bilinear, float32."""
    h, w = _size(size)
    lead = probs.shape[:-2]
    flat = probs.reshape(-1, 1, *probs.shape[-2:]).float()
    out = F.interpolate(flat, size=(h, w), mode="bilinear", align_corners=False)
    return out.view(*lead, h, w)


class ImageProcessor:
    """The model's input/output resizing at ``resolution`` (see the module docstring).

    - ``preprocess(images)``: one image or a list (one size) → N×3×R×R float32;
    - ``preprocess_mask(mask)``: → R×R, nearest;
    - ``postprocess(probs, size)`` / ``postprocess_mask(mask, size)``: back to the input's size;
    - ``resize_arrays(image, mask)`` and ``__call__(image=, mask=)``: the same resize on numpy
      H×W×C / H×W[×K] arrays, as an albumentations-style step (the training transform).
    """

    def __init__(self, resolution: int) -> None:
        if int(resolution) < 1:
            raise ValueError(f"resolution must be positive, got {resolution}")
        self.resolution = int(resolution)

    @property
    def size(self) -> tuple[int, int]:
        return self.resolution, self.resolution

    to_tensor = staticmethod(to_image_tensor)

    def preprocess(self, images: ImageLike | list[ImageLike] | torch.Tensor) -> torch.Tensor:
        """Image(s) → N×3×R×R float32 in [0, 1]. A 4-D tensor is taken as an N×3×H×W batch
        already converted (it is resized on its device)."""
        if isinstance(images, torch.Tensor) and images.ndim == 4:
            return resize_image(images, self.size)
        tensors = [to_image_tensor(i) for i in (images if isinstance(images, list) else [images])]
        sizes = {tuple(t.shape[1:]) for t in tensors}
        if len(sizes) > 1:
            raise InputError(f"images of different sizes in one call: {sorted(sizes)}")
        return resize_image(torch.stack(tensors), self.size)

    def preprocess_mask(self, mask):
        return resize_mask(mask, self.size)

    def postprocess(self, probs: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
        return resize_probabilities(probs, size)

    def postprocess_mask(self, mask, size: int | Sequence[int]):
        return resize_mask(mask, size)

    def resize_arrays(
        self, image: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """H×W×C float image and H×W[×K] mask → R×R×C float32 and R×R[×K] (mask dtype kept)."""
        if image.ndim != 3:
            raise ValueError(f"expected an H×W×C image, got shape {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
        out = resize_image(tensor, self.size).permute(1, 2, 0).contiguous().numpy()
        if mask is None:
            return out, None
        return out, resize_mask(np.asarray(mask), self.size, channels_last=True)

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None, **_: Any) -> dict[str, Any]:
        out_image, out_mask = self.resize_arrays(image, mask)
        result: dict[str, Any] = {"image": out_image}
        if out_mask is not None:
            result["mask"] = out_mask
        return result
