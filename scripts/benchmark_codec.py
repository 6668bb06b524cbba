"""Which latent codec is the CPU default? Measures cost and fidelity of each candidate.

For a batch of 8 images and masks at 128 px: encode image + mask and decode the mask
(median of several runs), the mask round-trip IoU on real shapes masks, the latent
geometry the denoiser then works on, and one tiny U-Net training step at that geometry.
The SD VAE is not available offline here; a tiny AutoencoderKL stands in for its cost
(its weights are random, so its fidelity shows what an *untrained* VAE gives).

    python scripts/benchmark_codec.py --output docs/results-codec.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def median_time(fn, runs: int = 7, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--output", type=Path, default=Path("docs/results-codec.md"))
    args = ap.parse_args()

    import torch

    from genseg.config import DenoiserConfig
    from genseg.models.codec import AutoencoderKLCodec, SpaceToDepthCodec
    from genseg.models.denoisers import build_tiny_unet

    torch.manual_seed(0)
    r = args.resolution
    image = torch.rand(8, 3, r, r)
    yy, xx = torch.meshgrid(torch.arange(r), torch.arange(r), indexing="ij")
    centres = torch.randint(r // 4, 3 * r // 4, (8, 2))
    radii = torch.randint(r // 8, r // 4, (8,))
    mask = torch.stack(
        [
            ((yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= rad**2).float()
            for c, rad in zip(centres, radii, strict=False)
        ]
    )[:, None]

    rows = []
    for name, codec in [
        ("space_to_depth (factor 8)", SpaceToDepthCodec(8)),
        ("space_to_depth (factor 4)", SpaceToDepthCodec(4)),
        ("tiny AutoencoderKL (random weights)", AutoencoderKLCodec()),
    ]:
        codec.eval()
        with torch.no_grad():
            t_codec = median_time(lambda c=codec: (c.encode_image(image), c.decode_mask(c.encode_mask(mask))))
            z_img, z_mask = codec.encode_image(image), codec.encode_mask(mask)
            back = codec.decode_mask(z_mask) > 0.5
        inter = (back & mask.bool()).sum().item()
        union = (back | mask.bool()).sum().item()
        unet = build_tiny_unet(DenoiserConfig(), z_mask.shape[1], z_img.shape[1], 384, z_mask.shape[-1])
        opt = torch.optim.AdamW(unet.parameters(), 1e-4)
        ctx, pooled = torch.randn(8, 16, 384), torch.randn(8, 384)

        def step(u=unet, o=opt, zi=z_img, zm=z_mask, ctx=ctx, pooled=pooled):
            out = u(
                torch.cat([torch.randn_like(zm), zi], 1),
                torch.rand(8) * 1000,
                encoder_hidden_states=ctx,
                class_labels=pooled,
            ).sample
            ((out - zm) ** 2).mean().backward()
            o.step()
            o.zero_grad()

        t_step = median_time(step, runs=5)
        rows.append(
            (name, t_codec * 1000, inter / union, tuple(z_img.shape[1:]), tuple(z_mask.shape[1:]), t_step)
        )
        print(
            f"{name}: codec {t_codec * 1000:.1f} ms/batch, mask round-trip IoU {inter / union:.4f}, "
            f"image latent {tuple(z_img.shape[1:])}, mask latent {tuple(z_mask.shape[1:])}, "
            f"U-Net train step {t_step:.3f} s",
            flush=True,
        )

    text = [
        "# Latent codec: measured",
        "",
        f"Batch 8 at {r} px on this machine ({torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}); "
        "`python scripts/benchmark_codec.py`. Codec time = encode image + encode mask + decode mask.",
        "",
        "| codec | codec ms / batch | mask round-trip IoU | image latent | mask latent | tiny U-Net step s |",
        "|---|---:|---:|---|---|---:|",
    ]
    text += [f"| {n} | {c:.1f} | {iou:.4f} | {zi} | {zm} | {s:.3f} |" for n, c, iou, zi, zm, s in rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(text) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
