"""Text-to-image generation with the segmentation DiT (GenMask's joint training).

`genseg.generation.joint` adds generation samples to training (`TrainConfig.joint_generation`);
`genseg.generation.sampling.generate_images` samples images from a jointly trained model.
Submodules are imported on use, so `import genseg.generation` stays light.
"""
