"""The built-in offline datasets: deterministic from a seed, any size from 32 to 128 px.

``shapes``
    Six classes, each a shape (disk, square, triangle, cross, ring, ellipse) filled with a
    class-typical oriented texture, on a smooth random background. Class evidence is spread
    over the shape's outline (low and mid frequencies, weakly oriented) and the texture (a
    narrow band at a class-specific orientation and frequency; it matches the class only
    with probability ``texture_agreement``, so a model needs both cues). Shapes vary in
    position, size (±30 %) and a little in angle (±20°), so each augmentation changes what a
    model can rely on: rotation removes the texture orientation cue, scale smears its
    frequency, translation changes little, adversarial training favours the low-frequency
    outline.

``planted``
    The class signal is a sinusoidal grating at one known radial frequency, with a
    class-specific orientation and random phase, hidden in broadband noise of the same power.
    Only the planted band carries class information, so a model's dataset mask must keep
    that band: the known answer our tests check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SHAPE_CLASSES = ("disk", "square", "triangle", "cross", "ring", "ellipse")

# (orientation in degrees, spatial frequency in cycles per object radius) of each class's texture.
_TEXTURES = {
    "disk": (0.0, 0.6),
    "square": (90.0, 2.2),
    "triangle": (45.0, 1.4),
    "cross": (135.0, 2.6),
    "ring": (22.5, 1.0),
    "ellipse": (112.5, 1.8),
}


def _check_size(image_size: int) -> None:
    if not 16 <= image_size <= 512:
        raise ValueError(f"image_size must lie in [16, 512], got {image_size}")


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    return yy, xx


def _coloured_noise(n: int, size: int, exponent: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise with amplitude spectrum ∝ 1/f^exponent, scaled to unit std per image."""
    white = torch.randn(n, size, size, generator=generator)
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.fftfreq(size).view(1, -1)
    radius = torch.sqrt(fy**2 + fx**2)
    radius[0, 0] = 1.0
    field = torch.fft.ifft2(torch.fft.fft2(white) / radius**exponent).real
    field = field - field.mean(dim=(1, 2), keepdim=True)
    return field / field.std(dim=(1, 2), keepdim=True).clamp_min(1e-8)


def _signed_distance(shape: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) in units of the object radius."""
    if shape == "disk":
        return torch.sqrt(u**2 + v**2) - 1.0
    if shape == "square":
        return torch.maximum(u.abs(), v.abs()) - 0.85
    if shape == "triangle":
        distances = [
            u * math.cos(a) + v * math.sin(a) - 0.5 for a in (math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))
        ]
        return torch.stack(distances).amax(dim=0)
    if shape == "cross":
        arm_h = torch.maximum(u.abs() - 1.0, v.abs() - 0.3)
        arm_v = torch.maximum(u.abs() - 0.3, v.abs() - 1.0)
        return torch.minimum(arm_h, arm_v)
    if shape == "ring":
        return (torch.sqrt(u**2 + v**2) - 0.72).abs() - 0.28
    if shape == "ellipse":
        return torch.sqrt((u / 1.0) ** 2 + (v / 0.5) ** 2) - 1.0
    raise ValueError(f"unknown shape {shape!r}")


def make_shapes(
    n_per_class: int,
    image_size: int = 32,
    channels: int = 1,
    seed: int = 0,
    texture_agreement: float = 0.75,
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Images ``(N, C, S, S)`` in [0, 1], labels ``(N,)`` and the class names (see module doc)."""
    _check_size(image_size)
    generator = torch.Generator().manual_seed(seed)
    k = len(SHAPE_CLASSES)
    n = n_per_class * k
    labels = torch.arange(k).repeat_interleave(n_per_class)

    def uniform(low: float, high: float, count: int = n) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    yy, xx = _grid(image_size)
    radius = uniform(0.20, 0.30).view(-1, 1, 1)
    centre_x = uniform(0.32, 0.68).view(-1, 1, 1)
    centre_y = uniform(0.32, 0.68).view(-1, 1, 1)
    angle = torch.deg2rad(uniform(-20, 20)).view(-1, 1, 1)
    dx, dy = xx - centre_x, yy - centre_y
    u = (dx * torch.cos(angle) + dy * torch.sin(angle)) / radius
    v = (-dx * torch.sin(angle) + dy * torch.cos(angle)) / radius

    distance = torch.empty(n, image_size, image_size)
    for c, shape in enumerate(SHAPE_CLASSES):
        rows = labels == c
        distance[rows] = _signed_distance(shape, u[rows], v[rows])
    pixels_per_radius = radius * image_size
    alpha = torch.sigmoid(-distance * pixels_per_radius * 1.5)

    # Texture: the class's own with probability texture_agreement, another class's otherwise.
    texture_class = labels.clone()
    swap = torch.rand(n, generator=generator) > texture_agreement
    texture_class[swap] = torch.randint(0, k, (int(swap.sum()),), generator=generator)
    orientation = torch.tensor([_TEXTURES[s][0] for s in SHAPE_CLASSES])[texture_class]
    frequency = torch.tensor([_TEXTURES[s][1] for s in SHAPE_CLASSES])[texture_class]
    theta = torch.deg2rad(orientation + uniform(-5, 5)).view(-1, 1, 1)
    cycles = (frequency * uniform(0.9, 1.1)).view(-1, 1, 1)
    phase = uniform(0, 2 * math.pi).view(-1, 1, 1)
    along = u * torch.cos(theta) + v * torch.sin(theta)
    texture = torch.sin(2 * math.pi * cycles * along + phase)

    background = 0.5 + uniform(-0.15, 0.15).view(-1, 1, 1) + 0.12 * _coloured_noise(n, image_size, 1.5, generator)
    polarity = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).view(-1, 1, 1)
    fill = background.mean(dim=(1, 2), keepdim=True) + polarity * uniform(0.15, 0.3).view(-1, 1, 1)
    fill = fill + uniform(0.08, 0.16).view(-1, 1, 1) * texture
    gray = background * (1 - alpha) + fill * alpha
    gray = gray + 0.02 * torch.randn(n, image_size, image_size, generator=generator)

    if channels == 1:
        images = gray.unsqueeze(1)
    elif channels == 3:
        tint = uniform(0.8, 1.2, n * 3).view(n, 3, 1, 1)
        images = gray.unsqueeze(1) * tint
    else:
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    order = torch.randperm(n, generator=generator)
    return images[order].clamp(0, 1), labels[order], SHAPE_CLASSES


@dataclass(frozen=True)
class PlantedBand:
    """Where the planted dataset hides its class signal, in centred-spectrum pixels."""

    radius: float
    orientations_deg: tuple[float, ...]


def planted_band(image_size: int, num_classes: int = 5, radius_fraction: float = 0.5) -> PlantedBand:
    """The band :func:`make_planted` uses: radius as a fraction of the Nyquist frequency."""
    orientations = tuple(180.0 * k / num_classes for k in range(num_classes))
    return PlantedBand(radius=round(radius_fraction * image_size / 2), orientations_deg=orientations)


def make_planted(
    n_per_class: int,
    image_size: int = 32,
    channels: int = 1,
    seed: int = 0,
    num_classes: int = 5,
    radius_fraction: float = 0.5,
    signal: float = 0.08,
    noise: float = 0.12,
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Gratings at a planted radial frequency; class = orientation (see module doc).

    The grating's frequency vector is rounded to the DFT lattice so its energy sits exactly in
    the planted band rather than leaking across the spectrum.
    """
    _check_size(image_size)
    band = planted_band(image_size, num_classes, radius_fraction)
    generator = torch.Generator().manual_seed(seed)
    n = n_per_class * num_classes
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    yy, xx = _grid(image_size)
    theta = torch.deg2rad(torch.tensor(band.orientations_deg))[labels]
    ky = torch.round(band.radius * torch.sin(theta)).view(-1, 1, 1)
    kx = torch.round(band.radius * torch.cos(theta)).view(-1, 1, 1)
    phase = (2 * math.pi * torch.rand(n, generator=generator)).view(-1, 1, 1)
    grating = torch.sin(2 * math.pi * (kx * xx + ky * yy) + phase)
    background = _coloured_noise(n, image_size, 0.5, generator)
    level = 0.5 + 0.1 * (torch.rand(n, generator=generator).view(-1, 1, 1) - 0.5)
    gray = level + signal * grating + noise * background
    images = gray.unsqueeze(1).repeat(1, channels, 1, 1)
    order = torch.randperm(n, generator=generator)
    names = tuple(f"{o:g}°" for o in band.orientations_deg)
    return images[order].clamp(0, 1), labels[order], names
