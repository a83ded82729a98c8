"""Which frequencies a model is sensitive to: the spectrum of its input gradients, and the
spectra of its layers' feature maps.

- :func:`fourier_sensitivity`: the magnitude spectrum of ``∂ℓ/∂x`` (cross-entropy against the
  labels) per image and channel, each image scaled to unit total spectral energy (summed over
  channels and frequencies) so that the images with a large loss, whose gradients are large,
  do not dominate the average; an image whose gradient is exactly zero (a saturated softmax)
  has no spectrum to scale and is left out (counted in ``zero_gradients``). Averaged over the
  images: a map per channel, its spread, and a radial profile.
- :func:`layer_spectra`: Park & Kim, "How do vision transformers work?" (ICLR 2022): the
  relative log amplitude of each stage's Fourier-transformed feature maps, from the zero
  frequency to Nyquist; a stage that blurs lowers the high-frequency end (Δ log amplitude).

Radii are in Nyquist units (1 is the Nyquist frequency along an axis, √2 the corner).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, NonFiniteError
from ..models.classifier import Classifier, frozen, model_device, run_checked
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..tables import Table
from .robustness import input_gradients

# The farthest frequency from zero, in Nyquist units: the corner of the spectrum.
MAX_RADIUS = math.sqrt(2)


# Park & Kim add this to the amplitude before the log, so a zero coefficient stays finite.
LOG_FLOOR = 1e-6


def _radius(h: int, w: int) -> np.ndarray:
    """Distance of each DFT index (unshifted layout) from zero frequency, in Nyquist units."""
    fy = np.fft.fftfreq(h).reshape(-1, 1)
    fx = np.fft.fftfreq(w).reshape(1, -1)
    return np.sqrt(fy**2 + fx**2) / 0.5


@dataclass(frozen=True)
class SensitivityResult:
    """The input gradient's spectrum, each image scaled to unit spectral energy.

    ``mean`` and ``std`` are ``(C, H, W)`` magnitudes in the stored (unshifted) layout, like
    masks. ``profile`` and ``profile_std`` are ``(C, bins)``: per image the mean magnitude of
    the frequencies in each ring, then the mean and std over images; ``edges`` ``(bins + 1,)``
    are the rings' radii from 0 to √2 (the corner falls in the last). ``high_frequency_share``
    is the energy share beyond ``cutoff`` × Nyquist of the gradients as they are (not scaled
    per image), as :func:`~fourier_masks.core.beyond.robustness.high_frequency_share` gives it.
    When cancelled, the statistics cover the ``images`` finished.
    """

    mean: np.ndarray
    std: np.ndarray
    profile: np.ndarray
    profile_std: np.ndarray
    edges: np.ndarray
    high_frequency_share: float
    cutoff: float
    images: int
    zero_gradients: int
    table: Table
    cancelled: bool = False


def fourier_sensitivity(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 256,
    bins: int = 16,
    cutoff: float = 0.5,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SensitivityResult:
    """The spectrum of ``∂ℓ/∂x`` over ``images``, its profile on ``bins`` (16) rings of equal
    width from 0 to √2, and the energy share beyond ``cutoff`` × Nyquist (0.5, as in the
    robustness table). A cancel stops between batches of ``batch_size`` (256) images."""
    if not 1 <= batch_size <= 1_000_000:
        raise ConfigError(f"batch size must be in [1, 1000000], got {batch_size}; the default is 256")
    if not 1 <= bins <= 10_000:
        raise ConfigError(f"radial bins must be in [1, 10000], got {bins}; the default is 16")
    if not (np.isfinite(cutoff) and 0 < cutoff < MAX_RADIUS):
        raise ConfigError(
            f"high-frequency cutoff must be in (0, {MAX_RADIUS:.4g}) × Nyquist, got {cutoff:g}; the default is 0.5"
        )
    if images.shape[0] == 0:
        raise ConfigError("no images to measure the Fourier sensitivity on")
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n, c, h, w = images.shape
    radius = _radius(h, w)
    edges = np.linspace(0.0, MAX_RADIUS, bins + 1)
    ring = np.minimum((radius / MAX_RADIUS * bins).astype(np.int64), bins - 1)
    ring_sizes = np.bincount(ring.ravel(), minlength=bins).astype(np.float64)
    total = np.zeros((c, h, w))
    total_sq = np.zeros((c, h, w))
    profile_sum = np.zeros((c, bins))
    profile_sq = np.zeros((c, bins))
    energy = np.zeros((h, w))  # raw energy, for the high-frequency share
    used = zeros = done = 0
    reporter = ProgressReporter("sensitivity", n, on_progress, cancel)
    for start in range(0, n, batch_size):
        if reporter.cancelled:
            break
        gradients = input_gradients(model, images[start : start + batch_size], labels[start : start + batch_size])
        if not torch.isfinite(gradients).all():
            raise NonFiniteError(
                "the model's input gradient is NaN or Inf on these images; check its layers, each must have a "
                "finite gradient"
            )
        magnitude = torch.fft.fft2(gradients.double()).abs().numpy()  # (B, C, H, W)
        energy += (magnitude**2).sum(axis=(0, 1))
        norms = np.sqrt((magnitude**2).sum(axis=(1, 2, 3)))
        nonzero = norms > 0
        zeros += int((~nonzero).sum())
        unit = magnitude[nonzero] / norms[nonzero, None, None, None]
        total += unit.sum(axis=0)
        total_sq += (unit**2).sum(axis=0)
        rings = _ring_means(unit, ring, ring_sizes)
        profile_sum += rings.sum(axis=0)
        profile_sq += (rings**2).sum(axis=0)
        used += len(unit)
        done = min(start + batch_size, n)
        reporter.report(done, f"{done} / {n} images")
    count = max(used, 1)
    mean, profile = total / count, profile_sum / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0))
    profile_std = np.sqrt(np.maximum(profile_sq / count - profile**2, 0))
    share = float(energy[radius > cutoff].sum() / energy.sum()) if energy.sum() > 0 else math.nan
    table = Table.build(
        "fourier_sensitivity",
        "Radial profile of the input gradient's spectrum",
        [("channel", ""), ("radius from", "Nyquist"), ("radius to", "Nyquist"), ("mean", "1"), ("std", "1")],
        notes=(
            f"|FFT2(∂ℓ/∂x)| per image and channel, each image scaled to unit spectral energy, averaged over the "
            f"frequencies of each ring and over {used} images ({zeros} with a zero gradient left out); "
            f"energy beyond {cutoff:g} × Nyquist: {100 * share:.1f} %."
        ),
    )
    for channel in range(c):
        for b in range(bins):
            if ring_sizes[b]:
                table.add_row(
                    channel,
                    float(edges[b]),
                    float(edges[b + 1]),
                    float(profile[channel, b]),
                    float(profile_std[channel, b]),
                )
    return SensitivityResult(
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        profile=profile,
        profile_std=profile_std,
        edges=edges,
        high_frequency_share=share,
        cutoff=cutoff,
        images=used,
        zero_gradients=zeros,
        table=table,
        cancelled=done < n,
    )


def _ring_means(values: np.ndarray, ring: np.ndarray, ring_sizes: np.ndarray) -> np.ndarray:
    """``(B, C, bins)`` mean of ``values`` ``(B, C, H, W)`` over each ring's frequencies; one
    pass of ``bincount``, in the memory of ``values`` alone."""
    b, c = values.shape[:2]
    bins = len(ring_sizes)
    index = ring.ravel()[None, :] + bins * np.arange(b * c)[:, None]
    sums = np.bincount(index.ravel(), weights=values.ravel(), minlength=b * c * bins).reshape(b, c, bins)
    return sums / np.maximum(ring_sizes, 1)


@dataclass(frozen=True)
class LayerSpectrum:
    """One stage's relative log amplitude: ``radii`` (Nyquist units, 0 to 1) and, per radius,
    the mean of log|F(feature)| over images, channels and the frequencies at that radius,
    minus its value at the zero frequency (so ``profile[0]`` is 0); ``delta`` is the last
    (Nyquist) value. ``shape`` is one image's feature map, ``(C, H, W)``."""

    name: str
    shape: tuple[int, int, int]
    radii: np.ndarray
    profile: np.ndarray
    delta: float


@dataclass(frozen=True)
class LayerSpectraResult:
    """The stages' spectra in network order; ``skipped`` names each stage left out and why.
    When cancelled, the spectra cover the ``images`` finished (none when no batch finished)."""

    stages: tuple[LayerSpectrum, ...]
    skipped: tuple[tuple[str, str], ...]
    images: int
    table: Table
    cancelled: bool = False


def _is_graph(model: nn.Module) -> bool:
    return any(isinstance(m, (torch.jit.ScriptModule, torch.fx.GraphModule)) for m in model.modules())


def _stages(model: Classifier, layers: Sequence[str] | None) -> list[tuple[str, nn.Module]]:
    net = model.net
    if layers is None:
        return list(net.named_children())
    modules = dict(net.named_modules())
    missing = [name for name in layers if name not in modules or not name]
    if missing:
        known = ", ".join(name for name in list(modules)[1:13])
        raise ConfigError(
            f"layer(s) {', '.join(map(repr, missing))} are not modules of the network; give names like {known}"
        )
    return [(name, modules[name]) for name in layers]


def _as_maps(output: Any) -> torch.Tensor | None:
    """A stage's output as ``(N, C, H, W)`` feature maps, or None: 4-D tensors as they are;
    ViT tokens ``(N, T, D)`` whose count is a square ``s²`` (or ``s² + 1``, the first being a
    class token, dropped) reshaped to ``(N, D, s, s)`` over the patch grid; anything else
    (vectors, tuples) has no spatial spectrum."""
    if not isinstance(output, torch.Tensor):
        return None
    if output.ndim == 4:
        return output
    if output.ndim == 3:
        n, t, d = output.shape
        for tokens, first in ((t, 0), (t - 1, 1)):
            side = math.isqrt(max(tokens, 0))
            if side >= 2 and side * side == tokens:
                return output[:, first:].transpose(1, 2).reshape(n, d, side, side)
    return None


def layer_spectra(
    model: Classifier,
    images: torch.Tensor,
    *,
    layers: Sequence[str] | None = None,
    batch_size: int = 64,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LayerSpectraResult:
    """Relative log amplitude of each stage's feature maps (Park & Kim 2022).

    Stages: the top-level children of the network inside the Classifier, or the modules named
    in ``layers`` (names as in ``model.net.named_modules()``). A forward hook on each records
    ``log(|F(feature)| + 1e-6)`` averaged over images and channels; stages whose output is not
    ``(N, C, H, W)`` with H, W ≥ 2 (or ViT tokens on a square patch grid) are skipped. The
    hooks are removed afterwards, also on error. A cancel stops between batches.

    TorchScript and ``torch.export`` graphs are refused: their layers are compiled into one
    graph with no modules to hook.
    """
    if _is_graph(model):
        raise ConfigError(
            "layer spectra need an nn.Module model whose layers can be hooked; TorchScript and torch.export "
            "graphs have none, so load the model from its weights (a state dict or a fourier-masks checkpoint)"
        )
    if not 1 <= batch_size <= 1_000_000:
        raise ConfigError(f"batch size must be in [1, 1000000], got {batch_size}; the default is 64")
    if images.shape[0] == 0:
        raise ConfigError("no images to record the layers' spectra on")
    stages = _stages(model, layers)
    sums: dict[str, torch.Tensor] = {}
    shapes: dict[str, tuple[int, int, int]] = {}
    skipped: dict[str, str] = {}

    def recorder(name: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            maps = _as_maps(output)
            if maps is None or min(maps.shape[-2:]) < 2:
                what = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
                skipped[name] = f"output {what} is not a feature map of at least 2 × 2"
                return
            log_amplitude = torch.log(torch.fft.fft2(maps.detach().float()).abs() + LOG_FLOOR).mean(dim=1).sum(dim=0)
            sums[name] = sums[name] + log_amplitude.cpu() if name in sums else log_amplitude.cpu()
            shapes[name] = (maps.shape[1], maps.shape[2], maps.shape[3])

        return hook

    device = model_device(model)
    n = images.shape[0]
    done = 0
    reporter = ProgressReporter("layer-spectra", n, on_progress, cancel)
    handles = [module.register_forward_hook(recorder(name)) for name, module in stages]
    try:
        with frozen(model), torch.no_grad():
            for start in range(0, n, batch_size):
                if reporter.cancelled:
                    break
                run_checked(model, images[start : start + batch_size].to(device), "to record its layers' outputs")
                done = min(start + batch_size, n)
                reporter.report(done, f"{done} / {n} images")
    finally:
        for handle in handles:
            handle.remove()
    spectra = tuple(
        _relative_profile(name, sums[name] / done, shapes[name]) for name, _ in stages if name in sums and done
    )
    table = Table.build(
        "layer_spectra",
        "Relative log amplitude of the feature maps (Park & Kim 2022)",
        [("stage", ""), ("channels", ""), ("height", "px"), ("width", "px"), ("Δ log amplitude", "1")],
        notes=(
            f"log(|F(feature)| + {LOG_FLOOR:g}) averaged over {done} images and the channels; Δ: at Nyquist (the "
            "frequencies at radius 1) minus at the zero frequency. Lower: the stage passes less high frequency."
        ),
    )
    for spectrum in spectra:
        table.add_row(spectrum.name, *spectrum.shape, spectrum.delta)
    return LayerSpectraResult(
        stages=spectra,
        skipped=tuple((name, skipped[name]) for name, _ in stages if name in skipped and name not in sums),
        images=done,
        table=table,
        cancelled=done < n,
    )


def _relative_profile(name: str, log_amplitude: torch.Tensor, shape: tuple[int, int, int]) -> LayerSpectrum:
    """Radial profile of a stage's mean log amplitude ``(H, W)`` on rings one frequency step
    wide, from 0 to Nyquist (the corners beyond Nyquist left out), relative to zero frequency."""
    h, w = shape[-2:]
    steps = min(h, w) // 2  # frequency steps from zero to Nyquist along the shorter axis
    ring = np.rint(_radius(h, w) * steps).astype(np.int64)
    values = log_amplitude.numpy()
    profile = np.array([values[ring == k].mean() for k in range(steps + 1)])
    profile = profile - profile[0]
    return LayerSpectrum(
        name=name, shape=shape, radii=np.arange(steps + 1) / steps, profile=profile, delta=float(profile[-1])
    )
