"""Frequency robustness: band-limited noise, PGD, and Fourier heat maps (METHOD.md §7).

- :func:`band_noise_accuracy`: accuracy under Gaussian noise filtered to low or high
  frequencies (the corruptions JaFR is evaluated with).
- :func:`fourier_heat_map`: Yin et al. (2019), as gatheluck/FourierHeatmap computes it: for
  each frequency ``(i, j)`` every channel of every image is perturbed by ``±ε · U_ij`` with its
  own random sign, where ``U_ij`` is the unit-L2 real Fourier basis image, then clipped to
  [0, 1]; the maps are the top-1 and top-5 error rates per frequency, in the stored
  (unshifted) layout like a mask. ``U_ij`` and ``U_−i,−j`` are the same real image, so half
  the spectrum is evaluated and mirrored; a stride evaluates a regular sub-grid of it for
  large images; every (basis, image) pair of a chunk goes through the model in one batch.
- :func:`measure_robustness`: those numbers for several models side by side.

Both return a result marked ``cancelled`` (holding what finished) when cancelled, like every
long operation of the engine; callers save only complete results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks.adversarial import MAX_SEED, AttackConfig, attack_images
from ..errors import ConfigError, NonFiniteError
from ..masks.inference import masked_predictions
from ..models.classifier import Classifier, frozen, model_device, predict, run_checked
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..tables import Table


@dataclass(frozen=True)
class HeatMapResult:
    """A Fourier heat map: the error rate under ``x ± ε · U_ij`` for each frequency.

    ``errors`` (top-1) and ``errors_top5`` are ``(H, W)`` in the stored (unshifted) layout, like
    a mask, NaN where not measured; ``evaluated`` marks the frequencies measured: those on the
    ``stride`` grid, all of them for stride 1, fewer when cancelled. ``errors_top5`` is None
    for a model of 5 classes or fewer, whose label is always among its top 5. Frequencies come
    in ``(k, −k)`` pairs sharing one real basis image, so ``frequencies_done`` and
    ``frequencies_total`` count those pairs (on the stride grid). ``signs`` says how the random
    signs were drawn (``"channel"``: one per channel, as published; ``"image"``: one per image).
    """

    errors: np.ndarray
    evaluated: np.ndarray
    eps: float
    frequencies_done: int
    frequencies_total: int
    cancelled: bool = False
    errors_top5: np.ndarray | None = None
    signs: str = "channel"
    stride: int = 1

    def mean_error(self, top: int = 1) -> float:
        """The mean top-1 (or top-5) error rate over the frequencies measured (NaN if none, or
        no top-5 map)."""
        errors = self.errors if top == 1 else self.errors_top5
        if errors is None or not self.evaluated.any():
            return math.nan
        return float(errors[self.evaluated].mean())


@dataclass(frozen=True)
class RobustnessResult:
    """The robustness table, one row per model; when cancelled, the rows of the models
    finished before the cancel only."""

    table: Table
    cancelled: bool = False


# The L2 norm of a whole white 4096-px RGB image (the largest input the limits allow) is 7 095:
# a heat-map ε beyond it only saturates the perturbed pixels.
MAX_HEAT_MAP_EPS = 10_000.0

# How a heat map's random signs are drawn: one per channel (Yin et al., gatheluck/FourierHeatmap's
# ``AddFourierNoise``) or one per image for all channels (a luminance-only perturbation).
HEAT_MAP_SIGNS = ("channel", "image")

# The second error the published heat maps report: top-5 (top-1 is ``errors``).
HEAT_MAP_TOP_K = 5

# A frequency stride beyond half of a 2048-px side measures the zero frequency alone.
MAX_HEAT_MAP_STRIDE = 1024

# Stride 0 (auto): every frequency up to this image side, else the smallest stride measuring at
# most AUTO_STRIDE_PAIRS frequency pairs (a 32×32 map has 514; a 224×224 one 25 090 at stride 1).
AUTO_STRIDE_SIDE = 64

# The pixels of one heat-map forward pass when its batch size is automatic: 2 048 images of 32 × 32.
AUTO_BATCH_PIXELS = 2048 * 32 * 32
AUTO_STRIDE_PAIRS = 1100


# A per-pixel noise std far above 1 clips almost every pixel of a [0, 1] image to 0 or 1.
MAX_NOISE_STD = 100.0


# The farthest frequency from zero, in Nyquist units: the corner of the spectrum.
MAX_CUTOFF = math.sqrt(2)


def _check_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {seed}")


def _check_noise(kind: str, cutoff: float, std: float) -> None:
    if kind not in ("low", "high"):
        raise ConfigError(f"band noise is 'low' or 'high', got {kind!r}")
    if not (np.isfinite(cutoff) and 0 < cutoff < MAX_CUTOFF):
        raise ConfigError(
            f"noise cutoff must be in (0, {MAX_CUTOFF:.4g}) × Nyquist (√2 is the spectrum's corner), got {cutoff:g}; "
            "JaFR uses 0.5"
        )
    if not (np.isfinite(std) and 0 <= std <= MAX_NOISE_STD):
        raise ConfigError(
            f"noise std (noise_std) must be in [0, {MAX_NOISE_STD:g}] pixel units, got {std:g}; images lie in [0, 1], "
            "JaFR uses 0.1"
        )


def _perturbed_not_finite(model: Classifier, clean: torch.Tensor, perturbed: str, advice: str) -> NonFiniteError:
    """The error for a model whose outputs are NaN or Inf on images ``perturbed``: the model's
    own when it is not finite on the clean images either (:func:`predict` raises it), else
    one that blames the perturbation and its setting."""
    predict(model, clean)
    return NonFiniteError(
        f"the model's outputs are NaN or Inf on the images perturbed {perturbed}, though finite on the clean "
        f"images; {advice}"
    )


def _radius(h: int, w: int) -> torch.Tensor:
    """Distance of each DFT index from zero frequency, as a fraction of the Nyquist radius."""
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.fftfreq(w).view(1, -1)
    return torch.sqrt(fy**2 + fx**2) / 0.5


def band_noise(shape: Sequence[int], kind: str, cutoff: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise kept below (``low``) or above (``high``) ``cutoff`` × Nyquist, scaled to
    per-pixel standard deviation ``std``."""
    _check_noise(kind, cutoff, std)
    noise = torch.randn(*shape, generator=generator)
    radius = _radius(*shape[-2:])
    keep = (radius <= cutoff) if kind == "low" else (radius > cutoff)
    filtered = torch.fft.ifft2(torch.fft.fft2(noise) * keep).real
    return filtered * (std / filtered.std(dim=(-2, -1), keepdim=True).clamp_min(1e-12))


def band_noise_accuracy(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str,
    cutoff: float = 0.5,
    std: float = 0.1,
    seed: int = 0,
) -> float:
    """Accuracy on images plus band-limited noise (clipped to [0, 1])."""
    _check_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    noisy = (images + band_noise(images.shape, kind, cutoff, std, generator)).clamp(0, 1)
    try:
        predictions = masked_predictions(model, noisy)
    except NonFiniteError:
        raise _perturbed_not_finite(
            model, images, f"by {kind}-pass noise of std (noise_std) {std:g}", "use a smaller std (JaFR uses 0.1)"
        ) from None
    return (predictions == labels).float().mean().item()


def fourier_basis(h: int, w: int, ky: int, kx: int) -> torch.Tensor:
    """The unit-L2 real image whose spectrum lives at ``(ky, kx)`` and ``(−ky, −kx)``."""
    spectrum = torch.zeros(h, w, dtype=torch.complex64)
    spectrum[ky % h, kx % w] = 1
    spectrum[(-ky) % h, (-kx) % w] += 1
    image = torch.fft.ifft2(spectrum).real
    return image / image.norm()


def _on_stride(n: int, stride: int) -> list[int]:
    """The DFT indices of an ``n``-point axis whose signed frequency (Nyquist counted positive)
    is a multiple of ``stride``: a set closed under ``k → −k``."""
    return [k for k in range(n) if (k if k <= n // 2 else k - n) % stride == 0]


def _half_plane(h: int, w: int, stride: int = 1) -> list[tuple[int, int]]:
    """One index of each ``(k, −k)`` pair of the unshifted DFT grid, on the ``stride`` grid
    (both members of a pair are on it or neither is)."""
    seen, chosen = set(), []
    columns = _on_stride(w, stride)
    for ky in _on_stride(h, stride):
        for kx in columns:
            if (ky, kx) not in seen:
                chosen.append((ky, kx))
                seen.update({(ky, kx), ((-ky) % h, (-kx) % w)})
    return chosen


def _pair_count(h: int, w: int, stride: int) -> int:
    """``len(_half_plane(h, w, stride))`` without listing them: the grid points plus its
    self-mirrored ones (zero and Nyquist frequencies), halved."""
    rows, columns = _on_stride(h, stride), _on_stride(w, stride)
    own_y = sum(1 for k in rows if k == (-k) % h)
    own_x = sum(1 for k in columns if k == (-k) % w)
    return (len(rows) * len(columns) + own_y * own_x) // 2


def heat_map_stride(h: int, w: int, stride: int) -> int:
    """The frequency stride a heat map of ``h × w`` images uses: ``stride`` itself, or for 0
    (auto) 1 up to a 64-px side and beyond it the smallest stride measuring at most 1 100
    frequency pairs (5 at 224 px: 1 013 pairs instead of 25 090)."""
    if stride:
        return stride
    if max(h, w) <= AUTO_STRIDE_SIDE:
        return 1
    chosen = 1
    while _pair_count(h, w, chosen) > AUTO_STRIDE_PAIRS:
        chosen += 1
    return chosen


def _check_heat_map(eps: float, signs: str, stride: int) -> None:
    if not (np.isfinite(eps) and 0 <= eps <= MAX_HEAT_MAP_EPS):
        raise ConfigError(
            f"heat-map ε (eps) must be in [0, {MAX_HEAT_MAP_EPS:g}] (the perturbation's L2 norm, pixel units), "
            f"got {eps:g}; Yin et al. use 4 for 32×32 images"
        )
    if signs not in HEAT_MAP_SIGNS:
        raise ConfigError(
            f"heat-map signs must be one of {', '.join(HEAT_MAP_SIGNS)}, got {signs!r}; Yin et al. draw one per channel"
        )
    if not 0 <= stride <= MAX_HEAT_MAP_STRIDE:
        raise ConfigError(
            f"heat-map frequency stride must be in [0, {MAX_HEAT_MAP_STRIDE}] (0 = auto), got {stride}; "
            "Yin et al. measure every frequency (1)"
        )


@torch.no_grad()
def fourier_heat_map(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float = 4.0,
    signs: str = "channel",
    stride: int = 1,
    batch_size: int = 0,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> HeatMapResult:
    """Top-1 and top-5 error rates ``(H, W)`` (unshifted layout) under ``x ± ε · U_ij``.

    ε is the L2 norm of ``U_ij``'s perturbation of each channel in [0, 1] pixel units (Yin et
    al. use 4 for 32×32 images); the sum is clipped to [0, 1]. ``signs="channel"`` (the
    published default) draws one random sign per channel of each image, so an RGB image gets
    colour as well as luminance perturbations; ``"image"`` draws one per image for all channels
    (the same for 1-channel images). The signs are ``torch.randint(0, 2, (pairs, N, C or 1))``
    from a generator seeded with ``seed``, so a seed gives the same map. ``stride`` > 1
    measures only frequencies whose signed indices are multiples of it on both axes (the
    others are NaN and not ``evaluated``); 0 picks one (:func:`heat_map_stride`). A cancel
    stops between chunks of frequencies; the result is then marked ``cancelled``.
    ``batch_size``: perturbed images per forward pass; 0 takes as many pixels as 2 048 images
    of 32 × 32 (2 048 at 32 px, 41 at 224 px), so memory stays flat as images grow.

    Shape: ``images`` ``(N, C, H, W)`` in [0, 1], ``labels`` ``(N,)``.
    """
    _check_heat_map(eps, signs, stride)
    _check_seed(seed)
    if images.shape[0] == 0:
        raise ConfigError("no images to measure the Fourier heat map on")
    device = model_device(model)
    n, c, h, w = images.shape
    stride = heat_map_stride(h, w, stride)
    pairs = _half_plane(h, w, stride)
    basis = torch.stack([fourier_basis(h, w, ky, kx) for ky, kx in pairs]).to(device)  # (P, H, W)
    generator = torch.Generator().manual_seed(seed)
    per_image = c if signs == "channel" else 1
    sign = (torch.randint(0, 2, (len(pairs), n, per_image), generator=generator) * 2 - 1).float().to(device)
    images, labels = images.to(device), labels.to(device)
    top5 = model.info.num_classes > HEAT_MAP_TOP_K
    errors = np.full((h, w), np.nan, dtype=np.float32)
    errors_top5 = np.full((h, w), np.nan, dtype=np.float32)
    evaluated = np.zeros((h, w), dtype=bool)
    per_chunk = max(1, (batch_size or AUTO_BATCH_PIXELS // (h * w)) // n)
    done = 0
    reporter = ProgressReporter("heat-map", len(pairs), on_progress, cancel)
    with frozen(model):
        for start in range(0, len(pairs), per_chunk):
            if reporter.cancelled:
                break
            chunk = slice(start, start + per_chunk)
            # (P, N, C, H, W): every image perturbed by every basis image of the chunk.
            perturbation = eps * sign[chunk].view(-1, n, per_image, 1, 1) * basis[chunk].view(-1, 1, 1, h, w)
            batch = (images.unsqueeze(0) + perturbation).clamp(0, 1).reshape(-1, c, h, w)
            try:
                logits = run_checked(model, batch, "on perturbed images")
            except NonFiniteError:
                raise _perturbed_not_finite(
                    model,
                    images,
                    f"by ±ε·U with ε (eps) = {eps:g}",
                    "use a smaller ε (Yin et al. use 4 for 32×32 images)",
                ) from None
            wrong = (logits.argmax(1).view(-1, n) != labels).float().mean(dim=1).cpu().tolist()
            wrong_top5 = wrong
            if top5:
                ranked = logits.topk(HEAT_MAP_TOP_K, dim=1).indices.view(-1, n, HEAT_MAP_TOP_K)
                wrong_top5 = (ranked != labels.view(1, n, 1)).all(dim=2).float().mean(dim=1).cpu().tolist()
            for (ky, kx), rate, rate_top5 in zip(pairs[chunk], wrong, wrong_top5):
                mirror = (-ky) % h, (-kx) % w
                errors[ky, kx] = errors[mirror] = rate
                errors_top5[ky, kx] = errors_top5[mirror] = rate_top5
                evaluated[ky, kx] = evaluated[mirror] = True
            done = min(start + per_chunk, len(pairs))
            reporter.report(done, f"{done}/{len(pairs)} frequencies")
    return HeatMapResult(
        errors=errors,
        evaluated=evaluated,
        eps=float(eps),
        frequencies_done=done,
        frequencies_total=len(pairs),
        cancelled=done < len(pairs),
        errors_top5=errors_top5 if top5 else None,
        signs=signs,
        stride=stride,
    )


def measure_robustness(
    models: dict[str, Classifier],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    noise_std: float = 0.1,
    cutoff: float = 0.5,
    attack: AttackConfig = AttackConfig(),
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RobustnessResult:
    """Clean, low-pass-noise, high-pass-noise and PGD accuracy of each model, and the
    high-frequency share of its input gradient (the JaFR evaluation), as a table. A cancel
    stops between models (or during a model's attack, whose row is then left out)."""
    for kind in ("low", "high"):
        _check_noise(kind, cutoff, noise_std)
    table = Table.build(
        "robustness",
        "Robustness to band-limited noise and PGD",
        [
            ("model", ""),
            ("JaFR λ_freq", "1"),
            ("clean", "%"),
            ("low-pass noise", "%"),
            ("high-pass noise", "%"),
            ("PGD", "%"),
            ("gradient energy above half Nyquist", "%"),
        ],
        notes=(
            f"Gaussian noise of per-pixel std {noise_std} kept below / above {cutoff} × Nyquist; PGD ε = "
            f"{attack.eps:.5f} (pixel units), {attack.steps} steps."
        ),
    )
    reporter = ProgressReporter("robustness", len(models), on_progress, cancel)
    for k, (name, model) in enumerate(models.items()):
        if reporter.cancelled:
            break
        reporter.report(k, name)
        clean = (masked_predictions(model, images) == labels).float().mean().item()
        low = band_noise_accuracy(model, images, labels, kind="low", cutoff=cutoff, std=noise_std)
        high = band_noise_accuracy(model, images, labels, kind="high", cutoff=cutoff, std=noise_std)
        adversarial = attack_images(model, images, labels, config=attack, cancel=cancel)
        if reporter.cancelled:
            break  # the attack stopped early: its rows are partly clean images
        pgd = (masked_predictions(model, adversarial) == labels).float().mean().item()
        share = high_frequency_share(input_gradients(model, images, labels))
        table.add_row(
            name,
            float(model.info.training.get("jafr_lambda", 0.0)),
            100 * clean,
            100 * low,
            100 * high,
            100 * pgd,
            100 * share,
        )
    cancelled = len(table.rows) < len(models)
    if not cancelled:
        reporter.report(len(models), "done")
    return RobustnessResult(table=table, cancelled=cancelled)


def input_gradients(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """``∂ℓ/∂x`` of the cross-entropy for each image (pixel units), on the CPU."""
    device = model_device(model)
    out = []
    with frozen(model):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device).requires_grad_(True)
            loss = F.cross_entropy(model(x), labels[start : start + batch_size].to(device), reduction="sum")
            (g,) = torch.autograd.grad(loss, x)
            out.append(g.cpu())
    return torch.cat(out)


def high_frequency_share(gradients: torch.Tensor, cutoff: float = 0.5) -> float:
    """Fraction of the gradients' spectral energy beyond ``cutoff`` × the Nyquist radius."""
    h, w = gradients.shape[-2:]
    energy = (torch.fft.fft2(gradients).abs() ** 2).sum(dim=(0, 1))
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.fftfreq(w).view(1, -1)
    radius = torch.sqrt(fy**2 + fx**2) / 0.5
    return float(energy[radius > cutoff].sum() / energy.sum())
