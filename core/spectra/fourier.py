"""The Fourier mask layer and its helpers (METHOD.md §1 and §3).

Mask layout: masks are stored in the *unshifted* DFT layout of ``numpy.fft.fft2`` /
``torch.fft.fft2`` (index ``[..., ky, kx]`` with the zero frequency at ``[0, 0]``). Pictures
show :func:`centred` masks, with the zero frequency in the middle. The layout name is written
into every saved mask's metadata as :data:`MASK_LAYOUT`.

Where the mask acts: like the published code, the mask filters the *normalised* image the
network sees. With normalisation inside the model, a pixel-space filtered image is
``normalization.inverse(x_M)``; :func:`filter_images` does that round trip so ``model(M(x))``
equals the network applied to the masked normalised input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from ..models.classifier import Normalization


MASK_LAYOUT = "unshifted-dft"
COMPLEMENT_THRESHOLD = 1e-8
# What a mask modulates. "magnitude" is the published mask: a real, non-negative M scales each
# frequency's magnitude and keeps its phase, ``F⁻¹(M ⊙ F(x))``. "phase" keeps every magnitude
# and scales the phase, ``F⁻¹(|F(x)| · exp(i M ⊙ ∠F(x)))`` (the paper's stated future work).
COMPONENTS = ("magnitude", "phase")


def apply_mask(x: torch.Tensor, mask: torch.Tensor, component: str = "magnitude") -> torch.Tensor:
    """``x_M = Re F⁻¹(M ⊙ F(x))`` over the last two axes (``component`` "phase": the mask
    scales the phase instead, see :data:`COMPONENTS`).

    Shape:
        x: ``(N, C, H, W)`` real. mask: broadcastable to it, e.g. ``(1, 1, H, W)`` for a set
        mask, ``(N, 1, H, W)`` for per-image masks, ``(N, C, H, W)`` per channel.
    """
    return apply_mask_to_spectrum(torch.fft.fft2(x), mask, component)


def apply_mask_to_spectrum(spectrum: torch.Tensor, mask: torch.Tensor, component: str = "magnitude") -> torch.Tensor:
    """Like :func:`apply_mask` for a precomputed ``F(x)``; saves one FFT per optimiser step.

    Phase masks leave the frequencies that are their own mirror (zero, and Nyquist for even
    sizes) alone: a real image's coefficient there is real, with phase 0 or π, and scaling π
    would break the symmetry that keeps the image real (and change its magnitude)."""
    if component == "phase":
        mask = torch.where(_self_mirrored(spectrum.shape[-2:], spectrum.device), torch.ones_like(mask), mask)
        return torch.fft.ifft2(torch.polar(spectrum.abs(), mask * spectrum.angle())).real
    return torch.fft.ifft2(spectrum * mask).real


def _self_mirrored(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``(H, W)`` true where ``k = −k`` (mod the size) on both axes."""
    h, w = shape
    rows = torch.zeros(h, dtype=torch.bool, device=device)
    cols = torch.zeros(w, dtype=torch.bool, device=device)
    rows[0] = cols[0] = True
    if h % 2 == 0:
        rows[h // 2] = True
    if w % 2 == 0:
        cols[w // 2] = True
    return rows[:, None] & cols[None, :]


def filter_images(
    x: torch.Tensor, mask: torch.Tensor, normalization: Normalization | None = None, component: str = "magnitude"
) -> torch.Tensor:
    """Filtered images ``M(x)`` in pixel units, ready to feed to the full model.

    With a normalisation, the mask acts on the normalised image (as in the published code)
    and the result is mapped back to pixel units. Values may leave ``[0, 1]``; clip only for
    display.
    """
    if normalization is None:
        return apply_mask(x, mask, component)
    return normalization.inverse(apply_mask(normalization(x), mask, component))


def complement_mask(mask: np.ndarray | torch.Tensor, threshold: float = COMPLEMENT_THRESHOLD):
    """Binary complement ``Mᶜ = 1 − 𝟙[M > threshold]``: everything the mask did not keep.

    Always a new array; the stored mask is never modified (the reference code overwrote its
    masks here).
    """
    if isinstance(mask, torch.Tensor):
        return (mask <= threshold).to(mask.dtype)
    mask = np.asarray(mask)
    return (mask <= threshold).astype(mask.dtype if mask.dtype.kind == "f" else np.float32)


def centred(mask):
    """Zero frequency to the centre (``fftshift`` over the last two axes), for display."""
    if isinstance(mask, torch.Tensor):
        return torch.fft.fftshift(mask, dim=(-2, -1))
    return np.fft.fftshift(mask, axes=(-2, -1))


def uncentred(mask):
    """Inverse of :func:`centred`: back to the stored DFT layout."""
    if isinstance(mask, torch.Tensor):
        return torch.fft.ifftshift(mask, dim=(-2, -1))
    return np.fft.ifftshift(mask, axes=(-2, -1))


def mirrored(mask):
    """``M(−k)`` in the unshifted layout: index ``(−k) mod N`` on each of the last two axes."""
    if isinstance(mask, torch.Tensor):
        return torch.roll(torch.flip(mask, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    return np.roll(np.flip(mask, axis=(-2, -1)), shift=(1, 1), axis=(-2, -1))


def log_spectrum(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Centred ``log(1 + |F(x)|)`` of images ``(..., H, W)``, averaged over channels if 4-D."""
    x = torch.as_tensor(x, dtype=torch.float32)
    magnitude = torch.fft.fft2(x).abs()
    if magnitude.ndim == 4:
        magnitude = magnitude.mean(dim=1)
    return centred(torch.log1p(magnitude)).numpy()
