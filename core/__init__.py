"""genseg: text-prompted segmentation by generating the mask with a diffusion model.

The mask is produced by rectified flow over its latent, conditioned on the image latent
and on text, and read out in one step. Heavy modules (torch, diffusers, transformers)
are imported lazily so `import genseg` and the CLI start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genseg.errors import GenSegError
from genseg.lazy import lazy_exports
from genseg.version import __version__

# public name -> module that defines it; resolved on first access
_LAZY = {
    "GenSegPipeline": "genseg.pipeline",
    "GenSegOutput": "genseg.pipeline",
    "ModelConfig": "genseg.config",
    "TrainConfig": "genseg.config",
    "InferenceOptions": "genseg.inference",
    "SpaceToDepthCodec": "genseg.models.codec",
    "AutoencoderKLCodec": "genseg.models.codec",
    "SemanticImageEncoder": "genseg.models.image_encoder",
    "LinearMaskHead": "genseg.models.heads",
    "hookimpl": "genseg.plugins.hookspecs",
}

__all__ = ["GenSegError", "__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from genseg.config import ModelConfig, TrainConfig  # noqa: F401
    from genseg.inference import InferenceOptions  # noqa: F401
    from genseg.models.codec import AutoencoderKLCodec, SpaceToDepthCodec  # noqa: F401
    from genseg.models.heads import LinearMaskHead  # noqa: F401
    from genseg.models.image_encoder import SemanticImageEncoder  # noqa: F401
    from genseg.pipeline import GenSegOutput, GenSegPipeline  # noqa: F401
    from genseg.plugins.hookspecs import hookimpl  # noqa: F401


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
