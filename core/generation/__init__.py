"""Text-to-image generation with the segmentation DiT (GenMask's joint training)."""
