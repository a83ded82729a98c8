"""Benchmark input: an evaluation-only image folder too large for memory as floats, and a small
model that takes its images, for measuring what streaming from disk costs.

Writes ``OUT/data/<class>/<n>.jpg``: the shared CIFAR-5 images (``../shared/data/cifar5``,
training and test) upscaled to ``--size`` px JPEGs, mirrored copies added until there are
``--count``; and ``OUT/model.safetensors``, the small CNN at 224 px over those five classes
with random weights (memory and time do not depend on what the weights are). Then, from the
repository root:

    python benchmarks/large_folder.py --out /tmp/large
    python benchmarks/commands.py --label "masks set, 10 000 224-px images, streamed" -- \\
        fourier-masks masks set --model /tmp/large/model.safetensors --data /tmp/large/data \\
        --max-epochs 1 --out /tmp/large/run

10 000 images at 224 px are 6.0 GB as float32, 1.5 GB as the 8-bit file they stream from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageOps

from fourier_masks.core.models import ModelInfo, build_classifier, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CIFAR5 = ROOT.parent / "shared" / "data" / "cifar5"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--count", type=int, default=10_000, help="images in all (default 10 000)")
    parser.add_argument("--size", type=int, default=256, help="side of the JPEGs written (default 256)")
    args = parser.parse_args()
    sources = sorted(CIFAR5.glob("*/*/*.png"))
    if not sources:
        parser.error(f"no images under {CIFAR5}")
    classes = sorted({path.parent.name for path in sources})
    for name in classes:
        (args.out / "data" / name).mkdir(parents=True, exist_ok=True)
    for k in range(args.count):
        source = sources[k % len(sources)]
        with Image.open(source) as image:
            image = image.convert("RGB").resize((args.size, args.size), Image.Resampling.BICUBIC)
            if k >= len(sources):
                image = ImageOps.mirror(image)
            image.save(args.out / "data" / source.parent.name / f"{k:06d}.jpg", quality=90)
    torch.manual_seed(0)
    info = ModelInfo(
        arch="small_cnn",
        in_channels=3,
        num_classes=len(classes),
        image_size=224,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        class_names=tuple(classes),
        name="random-224",
        resize_size=256,
    )
    save_checkpoint(build_classifier(info), args.out / "model.safetensors")
    print(
        f"{args.count} images of {len(classes)} classes in {args.out / 'data'}; model {args.out / 'model.safetensors'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
