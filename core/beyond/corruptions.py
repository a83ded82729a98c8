"""Common corruptions (Hendrycks & Dietterich, 2019): the CIFAR-10-C families generated here,
readers for the published CIFAR-10-C and ImageNet-C sets, and the measures over them.

- :data:`CORRUPTIONS` and :func:`corrupt`: noise, blur and digital corruptions at severities
  1–5 with the parameters of the authors' CIFAR-10-C generator (``make_cifar_c.py`` in
  ``hendrycks/robustness``), written anew on torch and torchvision.
- :func:`read_cifar10_c`, :func:`read_imagenet_c`: the published sets, for evaluation only.
- :func:`corruption_accuracy` (generated) and :func:`corruption_accuracy_on_sets` (read):
  accuracy per model, corruption and severity; the corruption error ``CE_c = Σ_s E_{s,c} /
  Σ_s E^ref_{s,c}`` and ``mCE = mean_c CE_c`` against a reference; and the spectral centroid of
  what each corruption changes, so one sees which frequencies it attacks.

Pixel-sized parameters (blur widths) are CIFAR's at 32 px, scaled by ``min(H, W) / 32`` for
larger images, so a corruption does the same to the picture at any resolution; smaller images
keep the 32-px values (a narrower blur would fall under a pixel and do nothing). Elastic
displacements are given as fractions of the side, as in the generator, so they always scale. ImageNet-C's own generator uses other values at 224 px: compare with published
ImageNet-C numbers on the published images (:func:`read_imagenet_c`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks.adversarial import MAX_SEED
from ..data.datasets import load_image_folder
from ..data.images import ImageSet, resize_crop
from ..data.pixels import Pixels
from ..errors import BadDatasetError, ConfigError, DatasetUnavailableError, NonFiniteError
from ..limits import limits, open_input, shown
from ..masks.inference import masked_predictions
from ..models.classifier import Classifier
from ..preparation import Preparation
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..tables import Table

__all__ = [
    "CORRUPTIONS",
    "SEVERITIES",
    "Corruption",
    "CorruptionResult",
    "corrupt",
    "corruption_accuracy",
    "corruption_accuracy_on_sets",
    "error_ratio",
    "read_cifar10_c",
    "read_imagenet_c",
    "spectral_centroid",
]

SEVERITIES = (1, 2, 3, 4, 5)

# The size CIFAR-10-C's pixel parameters were chosen for.
REFERENCE_SIZE = 32

# Images per chunk where a whole set is not needed at once.
CHUNK = 256

CIFAR10_C_URL = "https://zenodo.org/record/2535967"
IMAGENET_C_URL = "https://zenodo.org/record/2235448"


# ---------------------------------------------------------------------------------------------
# The corruptions. Each takes images (N, C, H, W) in [0, 1], its parameter at one severity, the
# pixel scale min(H, W) / 32 and a generator, and returns images of the same shape (unclipped).


def _gaussian_noise(x: torch.Tensor, std: float, scale: float, g: torch.Generator) -> torch.Tensor:
    return x + std * torch.randn(x.shape, generator=g, dtype=x.dtype)


def _shot_noise(x: torch.Tensor, photons: float, scale: float, g: torch.Generator) -> torch.Tensor:
    return torch.poisson(x * photons, generator=g) / photons


def _impulse_noise(x: torch.Tensor, amount: float, scale: float, g: torch.Generator) -> torch.Tensor:
    # Salt and pepper on each value (pixel and channel), half of them each, as scikit-image's 's&p'.
    hit = torch.rand(x.shape, generator=g) < amount
    salt = torch.rand(x.shape, generator=g) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def _speckle_noise(x: torch.Tensor, std: float, scale: float, g: torch.Generator) -> torch.Tensor:
    return x + x * std * torch.randn(x.shape, generator=g, dtype=x.dtype)


def _blur(x: torch.Tensor, sigma: float, truncate: float) -> torch.Tensor:
    """A Gaussian blur of ``sigma`` px cut at ``truncate`` σ, edges mirrored; separable, so the
    wide kernels of elastic displacements at 224 px stay cheap (torchvision's is 2-D). The
    kernel is kept within the image, which mirror padding needs."""
    if sigma <= 0:
        return x
    radius = min(max(1, math.ceil(truncate * sigma)), min(x.shape[-2:]) - 1)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    channels = x.shape[1]
    across = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    down = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    x = F.conv2d(F.pad(x, [radius, radius, 0, 0], mode="reflect"), across, groups=channels)
    return F.conv2d(F.pad(x, [0, 0, radius, radius], mode="reflect"), down, groups=channels)


def _gaussian_blur(x: torch.Tensor, sigma: float, scale: float, g: torch.Generator) -> torch.Tensor:
    return _blur(x, sigma * scale, truncate=4.0)  # scikit-image's default truncation


def _defocus_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """A disk of ``radius`` px, normalised, smoothed by a Gaussian of ``alias_blur`` px (cut at
    2σ, at least 3 × 3) against aliasing: the generator's defocus kernel."""
    half = math.ceil(radius) + max(1, math.ceil(2 * alias_blur))
    axis = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2) <= radius**2).double()
    disk /= disk.sum()
    return _blur(disk[None, None], alias_blur, truncate=2.0)[0, 0]


def _defocus_blur(x: torch.Tensor, disk: tuple[float, float], scale: float, g: torch.Generator) -> torch.Tensor:
    kernel = _defocus_kernel(disk[0] * scale, disk[1] * scale).to(x.dtype)
    half = min(kernel.shape[0] // 2, min(x.shape[-2:]) - 1)
    centre = kernel.shape[0] // 2
    kernel = kernel[centre - half : centre + half + 1, centre - half : centre + half + 1]
    channels = x.shape[1]
    padded = F.pad(x, [half] * 4, mode="reflect")
    return F.conv2d(padded, kernel.expand(channels, 1, -1, -1).contiguous(), groups=channels)


def _contrast(x: torch.Tensor, factor: float, scale: float, g: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return (x - mean) * factor + mean


def _brightness(x: torch.Tensor, shift: float, scale: float, g: torch.Generator) -> torch.Tensor:
    """``shift`` added to the HSV value (the grey level of a 1-channel image) with hue and
    saturation kept: each pixel's colour scaled by new value / old value (black turns grey)."""
    if x.shape[1] == 1:
        return x + shift
    value = x.amax(dim=1, keepdim=True)
    brighter = (value + shift).clamp(0, 1)
    return torch.where(value > 0, x * brighter / value.clamp_min(1e-12), brighter.expand_as(x))


def _jpeg(x: torch.Tensor, quality: float, scale: float, g: torch.Generator) -> torch.Tensor:
    """Each image saved as a JPEG of ``quality`` by Pillow (4:2:0 chroma, as the generator's) and read back."""
    import io

    from PIL import Image

    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    decoded = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=int(quality))
        decoded.append(np.asarray(Image.open(buffer)).reshape(image.shape))
    return torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).to(x.dtype) / 255


def _pixelate(x: torch.Tensor, fraction: float, scale: float, g: torch.Generator) -> torch.Tensor:
    # Box filter down to the fraction of the size and back (the generator's PIL BOX resizes).
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, int(h * fraction)), max(1, int(w * fraction))), mode="area")
    return F.interpolate(small, size=(h, w), mode="area")


def _elastic(x: torch.Tensor, spec: tuple[float, float, float], scale: float, g: torch.Generator) -> torch.Tensor:
    """A random affine warp (three control points moved by up to ``spec[2]`` px) followed by a
    smooth displacement field (uniform noise blurred by ``spec[1]`` px, times ``spec[0]`` px),
    sampled bilinearly with mirrored edges in one pass; ``spec`` is in units of the side."""
    n, _, h, w = x.shape
    side = min(h, w)
    alpha, sigma, shift = (value * side for value in spec)
    # Where the affine sends three points around the centre; each output pixel reads the input
    # at the inverse map, as cv2.warpAffine does.
    cy, cx, arm = float(h // 2), float(w // 2), float(side // 3)
    before = torch.tensor([[cx + arm, cy + arm], [cx + arm, cy - arm], [cx - arm, cy - arm]], dtype=torch.float64)
    after = before + (torch.rand((n, 3, 2), generator=g, dtype=torch.float64) * 2 - 1) * shift
    homogeneous = torch.cat([after, torch.ones(n, 3, 1, dtype=torch.float64)], dim=2)
    inverse = torch.linalg.solve(homogeneous, before.expand(n, 3, 2))  # (N, 3, 2): [x', y', 1] @ inverse
    noise = torch.rand((n, 2, h, w), generator=g) * 2 - 1  # float32: convolutions are slow in float64
    field = alpha * _blur(noise, sigma, truncate=3.0).double() if alpha > 0 else torch.zeros(n, 2, h, w)
    dx, dy = field.unbind(1)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    points = torch.stack([xs + dx, ys + dy, torch.ones_like(xs + dx)], dim=-1)  # (N, H, W, 3)
    source = torch.einsum("nhwk,nkj->nhwj", points, inverse)
    grid = torch.stack([2 * source[..., 0] / max(w - 1, 1) - 1, 2 * source[..., 1] / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=True)


@dataclass(frozen=True)
class Corruption:
    """One corruption family: its parameter at severities 1–5 (CIFAR-10-C's), what the
    parameter is, and Hendrycks & Dietterich's category (noise, blur, weather, digital)."""

    name: str
    category: str
    parameters: tuple
    meaning: str
    apply: Callable[..., torch.Tensor]  # (images, parameter, pixel scale, generator) -> images
    random: bool = False


CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        Corruption(
            "gaussian_noise", "noise", (0.04, 0.06, 0.08, 0.09, 0.10), "noise std", _gaussian_noise, random=True
        ),
        Corruption(
            "shot_noise", "noise", (500, 250, 100, 75, 50), "photons at white (Poisson)", _shot_noise, random=True
        ),
        Corruption(
            "impulse_noise", "noise", (0.01, 0.02, 0.03, 0.05, 0.07), "share of values salted or peppered",
            _impulse_noise, random=True,
        ),
        Corruption(
            "speckle_noise", "noise", (0.06, 0.10, 0.12, 0.16, 0.20), "multiplicative noise std", _speckle_noise,
            random=True,
        ),
        Corruption(
            "defocus_blur", "blur", ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
            "(disk radius, anti-alias σ) in px at 32 px", _defocus_blur,
        ),
        Corruption("gaussian_blur", "blur", (0.4, 0.6, 0.7, 0.8, 1.0), "σ in px at 32 px", _gaussian_blur),
        Corruption("brightness", "weather", (0.05, 0.1, 0.15, 0.2, 0.3), "added to HSV value", _brightness),
        Corruption("contrast", "digital", (0.75, 0.5, 0.4, 0.3, 0.15), "factor on the deviation from the mean",
                   _contrast),
        Corruption(
            "elastic_transform", "digital",
            ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
            "(displacement α, its smoothing σ, affine shift) × image side", _elastic, random=True,
        ),
        Corruption("pixelate", "digital", (0.95, 0.9, 0.85, 0.75, 0.65), "side kept before upscaling", _pixelate),
        Corruption("jpeg_compression", "digital", (80, 65, 58, 50, 40), "JPEG quality", _jpeg),
    )
}  # fmt: skip


def _check_corruption(name: object) -> Corruption:
    if not isinstance(name, str) or name not in CORRUPTIONS:
        raise ConfigError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


def _check_severity(severity: object) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ConfigError(f"corruption severity must be one of 1, 2, 3, 4, 5, got {severity!r}")
    return int(severity)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be a whole number in [0, {MAX_SEED}], got {seed!r}")
    return int(seed)


def _check_images(images: object) -> torch.Tensor:
    """``images`` if they are (N, C, H, W) floats in [0, 1]; 8-bit :class:`Pixels` always are,
    so their values are not scanned (that would convert a whole streamed set)."""
    streamed = isinstance(images, Pixels)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not (streamed or images.is_floating_point()):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError(f"images must be a float tensor (N, C, H, W) in [0, 1], got {shape}")
    n, c, h, w = images.shape
    if c not in (1, 3) or min(h, w) < 8:
        raise ConfigError(f"images must have 1 or 3 channels and be at least 8 × 8 px, got {c} × {h} × {w}")
    if n and not streamed and not (torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1):
        raise ConfigError("images must lie in [0, 1] with no NaN or Inf; convert them to [0, 1] first")
    return images


def corrupt(images: torch.Tensor, corruption: str, severity: int, *, seed: int = 0) -> torch.Tensor:
    """``images`` under ``corruption`` at ``severity`` (1–5), clipped to [0, 1].

    The random families draw from a generator seeded by ``seed`` (no global state), so the
    same images and seed give the same result. Pixel parameters are CIFAR-10-C's, scaled by
    ``min(H, W) / 32`` above 32 px (see the module docstring).

    Shape:
        images ``(N, C, H, W)`` float in [0, 1], C 1 or 3, H and W ≥ 8; the output has the
        same shape, dtype and device.
    """
    family = _check_corruption(corruption)
    level = _check_severity(severity)
    generator = torch.Generator().manual_seed(_check_seed(seed))
    images = _check_images(images)
    if isinstance(images, Pixels):
        images = images[:]  # 8-bit pixels as floats
    if images.shape[0] == 0:
        return images.clone()
    scale = max(1.0, min(images.shape[-2:]) / REFERENCE_SIZE)
    out = family.apply(images.detach().cpu(), family.parameters[level - 1], scale, generator)
    return out.clamp(0, 1).to(device=images.device, dtype=images.dtype)


# ---------------------------------------------------------------------------------------------
# Spectra.


def _nyquist_radius(h: int, w: int) -> torch.Tensor:
    """Distance of each (unshifted) DFT index from zero frequency in Nyquist units (√2 at the corner)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1)
    return torch.sqrt(fy**2 + fx**2) / 0.5


def _change_power(clean: torch.Tensor, corrupted: torch.Tensor) -> torch.Tensor:
    """Σ over images and channels of ``|F(corrupted − clean)|²``, ``(H, W)`` float64."""
    change = (corrupted.double() - clean.double()).cpu()
    return (torch.fft.fft2(change).abs() ** 2).sum(dim=(0, 1))


def _centroid(power: torch.Tensor) -> float:
    total = float(power.sum())
    return float((_nyquist_radius(*power.shape) * power).sum()) / total if total > 0 else math.nan


def spectral_centroid(clean: torch.Tensor, corrupted: torch.Tensor) -> float:
    """The radial centroid of the mean power spectrum of ``corrupted − clean``: Σ r·P / Σ P with
    r the distance from DC in Nyquist units (0 = DC, 1 = Nyquist along an axis, up to √2 in the
    corners). NaN when nothing changed."""
    if clean.shape != corrupted.shape or clean.ndim != 4:
        raise ConfigError(
            f"clean and corrupted images must be alike (N, C, H, W), got {tuple(clean.shape)} and "
            f"{tuple(corrupted.shape)}"
        )
    return _centroid(_change_power(clean, corrupted))


# ---------------------------------------------------------------------------------------------
# Readers of the published sets.


def _check_selection(
    corruptions: Sequence[str] | None, available: Sequence[str], severities: Sequence[int], where: str, fix: str
) -> tuple[list[str], list[int]]:
    corruptions = (corruptions,) if isinstance(corruptions, str) else corruptions
    levels = [_check_severity(s) for s in severities]
    if not levels or len(set(levels)) != len(levels):
        raise ConfigError(f"severities must be distinct values of 1, 2, 3, 4, 5, got {tuple(severities)}")
    if corruptions is None:
        if not available:
            raise BadDatasetError(f"{where} holds no corruptions; {fix}")
        return list(available), levels
    chosen = list(corruptions)
    if not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError(f"corruptions must be distinct names, got {tuple(chosen)}")
    missing = [c for c in chosen if c not in available]
    if missing:
        raise DatasetUnavailableError(
            f"{where} has no corruption {missing[0]!r} (it has: {', '.join(available) or 'none'}); {fix}"
        )
    return chosen, levels


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a whole number ≥ 1 or None (all images), got {limit!r}")


def _open_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped (no pickles), or one line saying what is wrong with it."""
    handle, _ = open_input(path, BadDatasetError, "a .npy array")
    with handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY":
        raise BadDatasetError(
            f"{shown(path)} is not a .npy array file (no NumPy header); download it again from {CIFAR10_C_URL}"
        )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BadDatasetError(
            f"{shown(path)} is not a readable .npy array ({str(exc)[:120]}); download it again from {CIFAR10_C_URL}"
        ) from None


def read_cifar10_c(
    root: str | Path,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    limit: int | None = None,
    *,
    channels: int = 3,
    size: int | Preparation | None = None,
) -> dict[tuple[str, int], ImageSet]:
    """CIFAR-10-C (or a set laid out like it) as ``{(corruption, severity): ImageSet}``.

    ``root`` holds ``<corruption>.npy`` (uint8 ``(5·N, H, W, 3)``; severity s is rows
    ``(s−1)·N … s·N``) and ``labels.npy`` (``5·N`` or ``N`` labels); ``corruptions`` None reads
    every ``.npy`` there. ``limit``: the first images of each severity. ``channels`` 1 makes
    grey by ITU-R 601 luma, as images read from files are; ``size`` resizes and crops as for a
    model (:func:`~fourier_masks.core.data.images.resize_crop`). Ids are
    ``CIFAR10/val/<index>``, the ids of the clean CIFAR-10 test images they were made from, so
    :func:`corruption_accuracy_on_sets` can pair them.
    """
    root = Path(root).expanduser()
    fix = f"download CIFAR-10-C from {CIFAR10_C_URL} and give the folder holding its .npy files"
    if not root.is_dir():
        raise DatasetUnavailableError(f"{shown(root)}: no such folder; {fix}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")
    _check_limit(limit)
    available = sorted(p.stem for p in root.glob("*.npy") if p.stem != "labels" and not p.name.startswith("."))
    names, levels = _check_selection(corruptions, available, severities, shown(root), fix)
    labels_path = root / "labels.npy"
    if not labels_path.exists():
        raise DatasetUnavailableError(f"{shown(labels_path)} is missing; {fix}")
    all_labels = _open_npy(labels_path)
    sets = {}
    for name in names:
        path = root / f"{name}.npy"
        array = _open_npy(path)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] % 5:
            raise BadDatasetError(
                f"{shown(path)} holds a {array.dtype} array of shape {array.shape}, not uint8 (5·N, H, W, 3) images "
                f"at five severities; {fix}"
            )
        per_severity, h, w = array.shape[0] // 5, array.shape[1], array.shape[2]
        if h * w > limits().max_image_pixels or min(h, w) < 8:
            raise BadDatasetError(
                f"{shown(path)} holds {h} × {w} px images; expected 8 px to "
                f"{limits().describe('max_image_pixels')} pixels per image"
            )
        if all_labels.ndim != 1 or len(all_labels) not in (per_severity, 5 * per_severity):
            raise BadDatasetError(
                f"{shown(labels_path)} holds {all_labels.shape} labels for {shown(path)}'s {array.shape[0]} images "
                f"(expected {5 * per_severity} or {per_severity}); {fix}"
            )
        count = per_severity if limit is None else min(limit, per_severity)
        for level in levels:
            start = (level - 1) * per_severity
            images = torch.from_numpy(np.array(array[start : start + count])).permute(0, 3, 1, 2).float().div_(255)
            if channels == 1:
                images = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            if size is not None:
                images = resize_crop(images, size)
            rows = all_labels[start : start + count] if len(all_labels) > per_severity else all_labels[:count]
            sets[name, level] = ImageSet(
                images=images.contiguous(),
                labels=torch.from_numpy(np.asarray(rows, dtype=np.int64)),
                class_names=CIFAR10_CLASSES,
                ids=tuple(f"CIFAR10/val/{i:06d}" for i in range(count)),
                name=f"CIFAR-10-C {name} {level}",
            )
    return sets


# torchvision's CIFAR10 class order (the labels of CIFAR-10-C).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def read_imagenet_c(
    root: str | Path,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    *,
    size: int | Preparation = 224,
    channels: int = 3,
    limit: int | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[tuple[str, int], ImageSet]:
    """ImageNet-C (or a set laid out like it: ``<corruption>/<severity>/<class>/<image>``) as
    ``{(corruption, severity): ImageSet}``, each severity folder read as an ImageFolder
    (:func:`~fourier_masks.core.data.datasets.load_image_folder`, so the same pixel bounds,
    skipping and one-line errors apply). ``limit``: images per class; ``class_names`` forces a
    class order (a model's), else the first folder's order is used for all. Ids are
    ``<class>/<image>``, as for the clean validation folder."""
    root = Path(root).expanduser()
    fix = f"download ImageNet-C from {IMAGENET_C_URL} and give the folder holding its corruption folders"
    if not root.is_dir():
        raise DatasetUnavailableError(f"{shown(root)}: no such folder; {fix}")
    _check_limit(limit)
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names, levels = _check_selection(corruptions, available, severities, shown(root), fix)
    sets: dict[tuple[str, int], ImageSet] = {}
    classes = list(class_names) if class_names else None
    for name in names:
        for level in levels:
            folder = root / name / str(level)
            if not folder.is_dir():
                raise DatasetUnavailableError(f"{shown(folder)} is missing (severity {level} of {name}); {fix}")
            read = load_image_folder(folder, channels=channels, size=size, max_per_class=limit, class_names=classes)
            classes = list(read.class_names)
            read.name = f"ImageNet-C {name} {level}"
            sets[name, level] = read
    return sets


# ---------------------------------------------------------------------------------------------
# Evaluation.


@dataclass(frozen=True)
class CorruptionResult:
    """Corruption robustness of several models.

    ``accuracy[(model, corruption, severity)]`` and ``clean_accuracy[model]`` are fractions
    (clean NaN when no clean images were given); ``corruption_error[(model, corruption)]`` is
    ``CE_c`` (a ratio to the reference, or without one the mean error over severities);
    ``mce[model]`` their mean; ``centroid[(corruption, severity)]`` the spectral centroid of
    the change (NaN without clean images). Tables: ``table`` (one row per model, corruption
    and severity), ``errors`` (CE per model and corruption), ``summary`` (per model) and
    ``spectra`` (per corruption and severity). When ``cancelled``, what finished: CE and mCE
    cover the corruptions whose every severity finished.
    """

    accuracy: dict[tuple[str, str, int], float]
    clean_accuracy: dict[str, float]
    corruption_error: dict[tuple[str, str], float]
    mce: dict[str, float]
    centroid: dict[tuple[str, int], float]
    reference: str | None
    table: Table
    errors: Table
    summary: Table
    spectra: Table
    cancelled: bool = False


def _reference_errors(
    reference: str | Mapping[str, Sequence[float]] | None,
    models: Mapping[str, Classifier],
    names: Sequence[str],
    levels: Sequence[int],
) -> tuple[str | None, dict[str, list[float]] | None]:
    """The reference's name and, for given error rates, those rates per corruption."""
    if reference is None:
        return None, None
    if isinstance(reference, str):
        if reference not in models:
            raise ConfigError(f"reference model {reference!r} is not among the models ({', '.join(models)})")
        return reference, None
    rates: dict[str, list[float]] = {}
    for name in names:
        given = [float(e) for e in reference.get(name, ())]
        if len(given) != len(levels) or not all(0 <= e <= 1 for e in given):
            raise ConfigError(
                f"reference errors for {name} must be {len(levels)} rates in [0, 1] (one per severity "
                f"{', '.join(map(str, levels))}), got {reference.get(name)!r}"
            )
        rates[name] = given
    return "given errors", rates


def _check_models(models: Mapping[str, Classifier]) -> None:
    if not models:
        raise ConfigError("no models to evaluate; give at least one")


def _check_labels(labels: torch.Tensor, count: int, what: str) -> None:
    if labels.shape != (count,):
        raise ConfigError(f"{what}: {tuple(labels.shape)} labels for {count} images; give one per image")
    if count and int(labels.min()) < 0:
        raise ConfigError(f"{what} has unlabelled images (label −1); corruption accuracy needs every label")


def _cell_seed(seed: int, corruption: str, severity: int, chunk: int) -> int:
    """A seed for one chunk of one cell, drawn from ``seed`` so every cell gets its own noise."""
    entropy = [seed, list(CORRUPTIONS).index(corruption), severity, chunk]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def corruption_accuracy(
    models: Mapping[str, Classifier],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    corruptions: Sequence[str] = tuple(CORRUPTIONS),
    severities: Sequence[int] = SEVERITIES,
    reference: str | Mapping[str, Sequence[float]] | None = None,
    seed: int = 0,
    batch_size: int = CHUNK,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CorruptionResult:
    """Accuracy of each model on ``images`` under each corruption and severity (generated by
    :func:`corrupt`, a chunk of ``batch_size`` images at a time, each model run on the same
    corrupted images), the CE / mCE against ``reference`` (a model's name, or error rates per
    corruption, one per severity, e.g. published AlexNet errors), and the spectral centroid of
    each corruption's change. A cancel stops between cells (corruption × severity)."""
    _check_models(models)
    images = _check_images(images)
    labels = torch.as_tensor(labels)
    _check_labels(labels, images.shape[0], "the images")
    if images.shape[0] == 0:
        raise ConfigError("no images to corrupt; give at least one")
    corruptions = (corruptions,) if isinstance(corruptions, str) else corruptions
    for name in corruptions:
        _check_corruption(name)
    names, levels = _check_selection(corruptions, list(CORRUPTIONS), severities, "the generator", "")
    _check_seed(seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number ≥ 1, got {batch_size!r}")
    reference_name, given = _reference_errors(reference, models, names, levels)

    def cell(name: str, level: int) -> tuple[dict[str, float], float]:
        correct = dict.fromkeys(models, 0)
        power = torch.zeros(images.shape[-2:], dtype=torch.float64)
        for chunk, start in enumerate(range(0, images.shape[0], batch_size)):
            clean = images[start : start + batch_size]
            corrupted = corrupt(clean, name, level, seed=_cell_seed(seed, name, level, chunk))
            power += _change_power(clean, corrupted)
            truth = labels[start : start + batch_size]
            for model_name, model in models.items():
                correct[model_name] += int((_predict(model, corrupted, name, level) == truth).sum())
        return {m: correct[m] / max(1, images.shape[0]) for m in models}, _centroid(power)

    clean_accuracy = {m: _clean_accuracy(model, images, labels) for m, model in models.items()}
    return _evaluate(
        models,
        names,
        levels,
        cell,
        clean_accuracy,
        reference_name,
        given,
        on_progress,
        cancel,
        source=f"{images.shape[0]} images corrupted here (seed {seed})",
    )


def _predict(model: Classifier, images: torch.Tensor, name: str, level: int) -> torch.Tensor:
    try:
        return masked_predictions(model, images)
    except NonFiniteError:
        raise NonFiniteError(
            f"the model's outputs are NaN or Inf on the images under {name} at severity {level}; its weights may be "
            "corrupt (check it on clean images) or it leaves its numerical range on these inputs"
        ) from None


def _clean_accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (masked_predictions(model, images) == labels).double().mean().item() if len(labels) else math.nan


def corruption_accuracy_on_sets(
    models: Mapping[str, Classifier],
    sets: Mapping[tuple[str, int], ImageSet],
    *,
    clean: ImageSet | None = None,
    reference: str | Mapping[str, Sequence[float]] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CorruptionResult:
    """As :func:`corruption_accuracy` on sets read by :func:`read_cifar10_c` or
    :func:`read_imagenet_c`. ``clean``: the uncorrupted images (the CIFAR-10 test set, the
    ImageNet validation folder), paired by id, for the clean accuracy and the centroids; the
    corrupted images then need the clean one of each id."""
    _check_models(models)
    if not sets:
        raise ConfigError("no corrupted sets to evaluate; read some with read_cifar10_c or read_imagenet_c")
    names = list(dict.fromkeys(name for name, _ in sets))
    levels = sorted({level for _, level in sets})
    missing = [(n, s) for n in names for s in levels if (n, s) not in sets]
    if missing:
        raise ConfigError(
            f"the sets lack {missing[0][0]} at severity {missing[0][1]}; give every severity of "
            "every corruption (or the same severities for all)"
        )
    for (name, level), image_set in sets.items():
        _check_labels(image_set.labels, len(image_set), f"{image_set.name or name} {level}")
    reference_name, given = _reference_errors(reference, models, names, levels)
    rows = {image_id: k for k, image_id in enumerate(clean.ids)} if clean is not None else {}

    def cell(name: str, level: int) -> tuple[dict[str, float], float]:
        image_set = sets[name, level]
        accuracy = {
            m: (_predict(model, image_set.images, name, level) == image_set.labels).double().mean().item()
            for m, model in models.items()
        }
        if clean is None:
            return accuracy, math.nan
        unknown = [i for i in image_set.ids if i not in rows]
        if unknown:
            raise BadDatasetError(
                f"{clean.name or 'the clean set'} has no image {unknown[0]!r} of {image_set.name or name}; give the "
                "clean images the corrupted ones were made from (the CIFAR-10 test set, the ImageNet validation folder)"
            )
        if clean.images.shape[1:] != image_set.images.shape[1:]:
            raise ConfigError(
                f"clean images {tuple(clean.images.shape[1:])} and {image_set.name} "
                f"{tuple(image_set.images.shape[1:])} differ in size or channels; read both alike"
            )
        order = torch.tensor([rows[i] for i in image_set.ids], dtype=torch.int64)
        power = torch.zeros(image_set.images.shape[-2:], dtype=torch.float64)
        for start in range(0, len(order), CHUNK):  # a chunk at a time: a streamed set stays on disk
            originals = clean.images[order[start : start + CHUNK]]
            power += _change_power(originals, image_set.images[start : start + CHUNK])
        return accuracy, _centroid(power)

    clean_accuracy = (
        {m: _clean_accuracy(model, clean.images, clean.labels) for m, model in models.items()}
        if clean is not None
        else dict.fromkeys(models, math.nan)
    )
    first = next(iter(sets.values()))
    return _evaluate(
        models,
        names,
        levels,
        cell,
        clean_accuracy,
        reference_name,
        given,
        on_progress,
        cancel,
        source=f"published images ({first.name.rsplit(' ', 2)[0] or 'read sets'})",
    )


def _evaluate(
    models: Mapping[str, Classifier],
    names: Sequence[str],
    levels: Sequence[int],
    cell: Callable[[str, int], tuple[dict[str, float], float]],
    clean_accuracy: dict[str, float],
    reference_name: str | None,
    given: dict[str, list[float]] | None,
    on_progress: ProgressCallback | None,
    cancel: CancelToken | None,
    *,
    source: str,
) -> CorruptionResult:
    """Run every cell, then the CE / mCE arithmetic and the tables."""
    accuracy: dict[tuple[str, str, int], float] = {}
    centroid: dict[tuple[str, int], float] = {}
    total = len(names) * len(levels)
    reporter = ProgressReporter("corruptions", total, on_progress, cancel)
    done = 0
    for name in names:
        for level in levels:
            if reporter.cancelled:
                break
            per_model, centroid[name, level] = cell(name, level)
            for m, value in per_model.items():
                accuracy[m, name, level] = value
            done += 1
            reporter.report(done, f"{name} severity {level}")
    complete = [n for n in names if all((n, s) in centroid for s in levels)]
    corruption_error = _corruption_errors(accuracy, list(models), complete, levels, reference_name, given)
    mce = {m: float(np.mean([corruption_error[m, n] for n in complete])) if complete else math.nan for m in models}
    cancelled = done < total
    result_tables = _tables(
        models,
        names,
        levels,
        accuracy,
        clean_accuracy,
        corruption_error,
        mce,
        centroid,
        complete,
        reference_name,
        cancelled,
        source,
    )
    return CorruptionResult(
        accuracy, clean_accuracy, corruption_error, mce, centroid, reference_name, *result_tables, cancelled=cancelled
    )


def _corruption_errors(
    accuracy: Mapping[tuple[str, str, int], float],
    models: Sequence[str],
    names: Sequence[str],
    levels: Sequence[int],
    reference_name: str | None,
    given: dict[str, list[float]] | None,
) -> dict[tuple[str, str], float]:
    """``CE_c = Σ_s E_{s,c} / Σ_s E^ref_{s,c}`` (Hendrycks & Dietterich), or without a reference
    the mean error over severities; NaN where the reference makes no error at all."""
    errors = {}
    for name in names:
        if given is not None:
            denominator = sum(given[name])
        elif reference_name is not None:
            denominator = sum(1 - accuracy[reference_name, name, s] for s in levels)
        else:
            denominator = float(len(levels))
        for m in models:
            errors[m, name] = error_ratio([1 - accuracy[m, name, s] for s in levels], denominator)
    return errors


def error_ratio(errors: Sequence[float], reference_total: float) -> float:
    """One corruption's CE: a model's error rates summed over severities, over the reference's
    sum (NaN where the reference makes no error at all)."""
    return float(sum(errors)) / reference_total if reference_total > 0 else math.nan


def _tables(
    models,
    names,
    levels,
    accuracy,
    clean_accuracy,
    corruption_error,
    mce,
    centroid,
    complete,
    reference_name,
    cancelled,
    source,
) -> tuple[Table, Table, Table, Table]:
    partial = " Cancelled: only the finished cells are shown." if cancelled else ""
    if reference_name is None:
        ce_note = "No reference: CE is the unnormalised mean error over severities, mCE its mean."
    else:
        ce_note = (
            f"CE_c = Σ_s E_s,c / Σ_s E^ref_s,c against {reference_name} (Hendrycks & Dietterich), mCE the "
            "mean over corruptions; 100 % = as robust as the reference."
        )
    table = Table.build(
        "corruptions",
        "Accuracy under common corruptions",
        [("model", ""), ("corruption", ""), ("severity", "1"), ("accuracy", "%")],
        notes=f"On {source}.{partial}",
    )
    for (m, name, level), value in accuracy.items():
        table.add_row(m, name, level, 100 * value)
    errors = Table.build(
        "corruption-errors",
        "Corruption error per corruption",
        [("model", ""), ("corruption", ""), ("CE", "%")],
        notes=ce_note + partial,
    )
    for (m, name), value in corruption_error.items():
        errors.add_row(m, name, 100 * value)
    summary = Table.build(
        "corruption-summary",
        "Corruption robustness per model",
        [("model", ""), ("clean accuracy", "%"), ("mean corruption accuracy", "%"), ("mCE", "%")],
        notes=f"{ce_note} Over {len(complete)} of {len(names)} corruption(s), severities "
        f"{', '.join(map(str, levels))}.{partial}",
    )
    for m in models:
        mine = [v for (model, _, _), v in accuracy.items() if model == m]
        summary.add_row(m, 100 * clean_accuracy[m], 100 * float(np.mean(mine)) if mine else math.nan, 100 * mce[m])
    spectra = Table.build(
        "corruption-spectra",
        "Which frequencies each corruption changes",
        [("corruption", ""), ("category", ""), ("severity", "1"), ("spectral centroid", "× Nyquist")],
        notes="Radial centroid of the mean power spectrum of (corrupted − clean): 0 = DC, 1 = Nyquist, √2 = the "
        f"corner; NaN where no clean images were given or nothing changed.{partial}",
    )
    for (name, level), value in centroid.items():
        category = CORRUPTIONS[name].category if name in CORRUPTIONS else ""
        spectra.add_row(name, category, level, value)
    return table, errors, summary, spectra
