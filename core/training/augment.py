"""Per-image random geometric augmentation of a whole batch in one ``grid_sample`` call.

torchvision's v2 transforms draw one set of random parameters per call, so per-image
randomness would mean a Python loop over the batch. Every augmentation METHOD.md §4 needs
(random resized crop, horizontal flip, scale, translation, rotation) is an affine map, so we
draw per-image parameters, compose them into one 2×3 matrix per image and resample once.
Pixels that come from outside the image are black (0), as torchvision's ``fill=0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "adversarial", "scale", "translation", "rotation")


@dataclass(frozen=True)
class AugmentConfig:
    """Base transform (random resized crop + flip) and the variant's range."""

    variant: str = "none"
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: bool = True
    scale_range: tuple[float, float] = (0.5, 1.5)
    translate: float = 0.4
    rotate_deg: float = 180.0


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _crop_matrices(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random resized crop as output→input maps (normalised coordinates, square images)."""
    area = _uniform(n, *config.crop_scale, generator)
    log_ratio = _uniform(n, math.log(config.crop_ratio[0]), math.log(config.crop_ratio[1]), generator)
    ratio = torch.exp(log_ratio)
    half_w = torch.sqrt(area * ratio).clamp(max=1.0)
    half_h = torch.sqrt(area / ratio).clamp(max=1.0)
    centre_x = _uniform(n, -1, 1, generator) * (1 - half_w)
    centre_y = _uniform(n, -1, 1, generator) * (1 - half_h)
    matrix = torch.zeros(n, 3, 3, dtype=torch.float64)
    matrix[:, 0, 0] = half_w
    matrix[:, 1, 1] = half_h
    matrix[:, 0, 2] = centre_x
    matrix[:, 1, 2] = centre_y
    matrix[:, 2, 2] = 1
    return matrix


def _variant_matrices(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    matrix = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
    if config.variant == "scale":
        scale = _uniform(n, *config.scale_range, generator)
        matrix[:, 0, 0] = matrix[:, 1, 1] = 1 / scale
    elif config.variant == "translation":
        # A shift of t image widths is 2t in normalised coordinates.
        matrix[:, 0, 2] = -2 * _uniform(n, -config.translate, config.translate, generator)
        matrix[:, 1, 2] = -2 * _uniform(n, -config.translate, config.translate, generator)
    elif config.variant == "rotation":
        angle = torch.deg2rad(_uniform(n, -config.rotate_deg, config.rotate_deg, generator))
        cos, sin = torch.cos(angle), torch.sin(angle)
        matrix[:, 0, 0], matrix[:, 0, 1] = cos, sin
        matrix[:, 1, 0], matrix[:, 1, 1] = -sin, cos
    elif config.variant not in ("none", "adversarial"):
        raise ValueError(f"unknown augmentation {config.variant!r}")
    return matrix


def augment_batch(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random crop + flip + the variant's transform, drawn independently for each image."""
    n = images.shape[0]
    crop = _crop_matrices(n, config, generator)
    flip = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
    if config.hflip:
        flip[:, 0, 0] = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).double()
    # The variant acts last on the image, so first on output coordinates.
    theta = (crop @ flip @ _variant_matrices(n, config, generator))[:, :2, :]
    grid = F.affine_grid(theta.to(images.dtype).to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
