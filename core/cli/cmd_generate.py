"""`genseg generate`: text-to-image sampling with a model trained with joint generation."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.options import allow_pickle_option


def generate(
    model: str = typer.Option(..., "--model", "-m", help="Model folder trained with joint_generation."),
    prompt: str = typer.Option(..., "--prompt", "-p", help='What to draw; "" draws unconditionally.'),
    output: Path = typer.Option(..., "--output", "-o", help="PNG file to write."),
    steps: int = typer.Option(30, help="Euler steps of the rectified-flow ODE from noise to image."),
    guidance: float = typer.Option(
        4.0, help="Classifier-free guidance scale against the empty prompt (1 = none)."
    ),
    seed: int = typer.Option(0, help="Noise seed."),
    size: int | None = typer.Option(
        None, help="Side of the square output in pixels (default: the model's training resolution)."
    ),
    allow_pickle: bool = allow_pickle_option(),
) -> None:
    """Generate an image from text with a segmentation model trained jointly on text-to-image data.

    Only models trained with joint_generation (GenMask's joint training, see docs/methods.md) can
    generate; a segmentation-only model is refused. Guidance applies here, never to segmentation.

    Example: genseg generate --model runs/joint/joint --prompt "grass, red circle and blue square"
    --steps 30 --guidance 4 --seed 0 --output img.png
    """
    from genseg.generation.sampling import generate_images, require_joint_model, save_png
    from genseg.pipeline import load_pipeline

    if output.suffix.lower() != ".png":
        from genseg.errors import InputError

        raise InputError("the output must be a .png file", path=output, fix="name it *.png")
    require_joint_model(model)
    pipe = load_pipeline(model, allow_pickle=allow_pickle)
    image = generate_images(pipe, prompt, steps=steps, guidance=guidance, seed=seed, size=size)[0]
    save_png(image, output)
    typer.echo(f"wrote {output} ({image.shape[2]}×{image.shape[1]}, {steps} steps, guidance {guidance})")
