"""Spectral energy metrics of masks (METHOD.md §5).

Partitions live on the *centred* spectrum (zero frequency at ``(H//2, W//2)``, as
``fftshift`` puts it). Masks arrive in the stored unshifted layout and are centred here.

- ``n`` radial bands of equal width in distance from the centre, from 0 to the farthest
  corner; the corner pixel itself falls in the last band.
- ``n`` angular sectors of equal angle over 360°, angle measured counter-clockwise from the
  +x axis with y pointing up (row index decreasing); the centre pixel belongs to sector 0.
- Energy of band ``b``: ``‖M ⊙ band_b‖₂`` after scaling ``M`` to unit L2 norm, so the squared
  band energies of a mask sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fourier import centred


@dataclass(frozen=True)
class Partition:
    """Integer band labels ``(H, W)`` on the centred spectrum, and the band edges."""

    labels: np.ndarray
    edges: np.ndarray
    kind: str

    @property
    def count(self) -> int:
        return len(self.edges) - 1

    def one_hot(self) -> np.ndarray:
        """``(n, H, W)`` indicator of each band; every pixel is in exactly one band."""
        return (self.labels[None] == np.arange(self.count)[:, None, None]).astype(np.float64)

    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[:-1] + self.edges[1:])


def _centred_coordinates(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    rows, cols = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    return -rows.astype(np.float64), cols.astype(np.float64)  # y up, x right


def radial_partition(shape: tuple[int, int], n: int = 32) -> Partition:
    """``n`` equal-width rings from the centre (0) to the farthest corner."""
    if n < 1:
        raise ValueError("need at least one band")
    y, x = _centred_coordinates(shape)
    distance = np.hypot(y, x)
    edges = np.linspace(0.0, distance.max(), n + 1)
    labels = (
        np.minimum((distance / distance.max() * n).astype(np.int64), n - 1)
        if distance.max() > 0
        else np.zeros(shape, np.int64)
    )
    return Partition(labels=labels, edges=edges, kind="radial")


def angular_partition(shape: tuple[int, int], n: int = 32) -> Partition:
    """``n`` equal sectors of the full circle, in degrees from the +x axis."""
    if n < 1:
        raise ValueError("need at least one sector")
    y, x = _centred_coordinates(shape)
    degrees = np.degrees(np.arctan2(y, x)) % 360.0
    labels = np.minimum((degrees / 360.0 * n).astype(np.int64), n - 1)
    return Partition(labels=labels, edges=np.linspace(0.0, 360.0, n + 1), kind="angular")


def band_energies(masks: np.ndarray, partition: Partition) -> np.ndarray:
    """Per-band energy of each mask (METHOD.md §5).

    Shape:
        masks: ``(H, W)`` or ``(N, H, W)`` or ``(N, C, H, W)`` in the stored (unshifted)
        layout; channels are pooled. Returns ``(n,)`` or ``(N, n)``.
    """
    masks = np.asarray(masks, dtype=np.float64)
    single = masks.ndim == 2
    if single:
        masks = masks[None]
    if masks.ndim == 4:
        masks = np.sqrt((masks**2).sum(axis=1))
    spectrum = centred(masks)
    if spectrum.shape[-2:] != partition.labels.shape:
        raise ValueError(f"mask shape {spectrum.shape[-2:]} does not match partition {partition.labels.shape}")
    norms = np.sqrt((spectrum**2).sum(axis=(1, 2), keepdims=True))
    unit = np.divide(spectrum, norms, out=np.zeros_like(spectrum), where=norms > 0)
    # Each pixel's squared value added to its band, for every mask at once: memory of the
    # masks alone (a one-hot partition of 1024 bands at 1024 px would take 8 GB).
    n, count = len(unit), partition.count
    bins = partition.labels.ravel()[None, :] + count * np.arange(n)[:, None]
    squared = np.bincount(bins.ravel(), weights=(unit**2).ravel(), minlength=n * count).reshape(n, count)
    energies = np.sqrt(squared)
    return energies[0] if single else energies


def mask_energies(mask: np.ndarray, partition: Partition) -> np.ndarray:
    """Per-band energy of one stored mask, ``(H, W)`` or ``(Cm, H, W)`` (channels pooled)."""
    mask = np.asarray(mask)
    return band_energies(mask if mask.ndim == 2 else mask[None], partition).reshape(-1)


def radial_energy(masks: np.ndarray, n: int = 32) -> np.ndarray:
    shape = np.shape(masks)[-2:]
    return band_energies(masks, radial_partition(shape, n))


def angular_energy(masks: np.ndarray, n: int = 32) -> np.ndarray:
    shape = np.shape(masks)[-2:]
    return band_energies(masks, angular_partition(shape, n))


def centred_difference(masks_a: np.ndarray, masks_b: np.ndarray) -> np.ndarray:
    """Display difference ``A − B`` (means over a set when given stacks), min-max scaled to
    [0, 1] and shifted by −0.5, in the centred layout (METHOD.md §5)."""
    a = np.asarray(masks_a, dtype=np.float64)
    b = np.asarray(masks_b, dtype=np.float64)
    while a.ndim > 2:
        a = a.mean(axis=0)
    while b.ndim > 2:
        b = b.mean(axis=0)
    difference = centred(a - b)
    span = difference.max() - difference.min()
    if span == 0:
        return np.zeros_like(difference)
    return (difference - difference.min()) / span - 0.5


def per_image_exceedance(masks_1: np.ndarray, masks_2: np.ndarray, partition: Partition) -> np.ndarray:
    """Percentage of images whose band energy under mask set 2 exceeds that under set 1.

    ``masks_1[i]`` and ``masks_2[i]`` belong to the same image (the paper's Figure 7: model 1
    vanilla, model 2 adversarially trained). Returns ``(n,)`` percentages.
    """
    e1 = band_energies(masks_1, partition)
    e2 = band_energies(masks_2, partition)
    if e1.shape != e2.shape or e1.ndim != 2:
        raise ValueError("need two stacks of masks for the same images")
    return 100.0 * (e2 > e1).mean(axis=0)
