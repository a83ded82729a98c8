"""Cutoff sweeps: accuracy on low-pass and high-pass filtered images as the cutoff radius grows.

For each radius ``r`` (in Nyquist units: 1 is the Nyquist frequency along an axis, √2 the
spectrum's corner) the images are filtered with an ideal disk mask through the same
:func:`~fourier_masks.core.spectra.fourier.filter_images` the masks use, so the filter acts on
the normalised image inside the model exactly where a mask would:

- low-pass keeps the frequencies with radius ≤ r, the zero frequency included;
- high-pass keeps those with radius > r, so it always drops the zero frequency (radius 0).
  The zero frequency is the image's mean, the lowest frequency there is: keeping it would hand
  the high-pass curve the image's brightness, a low-frequency cue. Dropped in the normalised
  image, the mean becomes the normalisation's mean in pixel units (the data set's average
  grey), as for a mask that does not keep it.

The *halving radius* of a curve is where its accuracy falls to half the unfiltered accuracy
(see :func:`halving_radius`). With ``eps``, the images are first attacked with the product's
attack (:func:`~fourier_masks.core.attacks.adversarial.attack_images`) at each ε and the
adversarial images filtered; ε = 0 is the clean images.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..attacks.adversarial import AttackConfig, attack_images
from ..errors import ConfigError
from ..masks.inference import masked_predictions
from ..models.classifier import Classifier
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..tables import Table

KINDS = ("low", "high")


# The farthest frequency from zero, in Nyquist units: the corner of the spectrum.
MAX_RADIUS = math.sqrt(2)


# 16 radii evenly spaced in (0, √2]: the last one keeps the whole spectrum (low-pass).
DEFAULT_RADII = tuple(float(r) for r in np.linspace(MAX_RADIUS / 16, MAX_RADIUS, 16))


# A radius this close to a frequency's own counts as reaching it (float rounding at the corner).
_RADIUS_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CutoffSweepResult:
    """Accuracy on filtered images per kind, ε and radius, and the halving radii.

    ``accuracy[kind]`` is ``(len(eps), len(radii))``; ``unfiltered`` ``(len(eps),)`` is the
    accuracy on the unfiltered (clean or adversarial) images; ``halving[kind]`` ``(len(eps),)``
    is NaN where the curve never falls to half within the grid (see :func:`halving_radius`).
    When cancelled, the ε not finished are left out of ``eps`` and the radii not reached of the
    last ε are NaN. ``table`` is long form (kind, ε, radius, accuracy), ``halving_table`` one
    row per kind and ε.
    """

    radii: tuple[float, ...]
    eps: tuple[float, ...]
    unfiltered: np.ndarray
    accuracy: dict[str, np.ndarray]
    halving: dict[str, np.ndarray]
    table: Table
    halving_table: Table
    cancelled: bool = False


def disk_mask(h: int, w: int, radius: float, kind: str) -> torch.Tensor:
    """``(1, H, W)`` ideal mask in the stored (unshifted) layout: 1 where the frequency's
    radius (Nyquist units) is ≤ ``radius`` (``low``) or > ``radius`` (``high``)."""
    fy = np.fft.fftfreq(h).reshape(-1, 1)
    fx = np.fft.fftfreq(w).reshape(1, -1)
    distance = np.sqrt(fy**2 + fx**2) / 0.5
    inside = distance <= radius + _RADIUS_TOLERANCE
    keep = inside if kind == "low" else ~inside
    return torch.from_numpy(keep.astype(np.float32))[None]


def halving_radius(radii: Sequence[float], accuracy: Sequence[float], unfiltered: float, kind: str) -> float:
    """Where a cutoff curve first falls to half the unfiltered accuracy, walking from its
    unfiltered end (low-pass: from the largest radius down; high-pass: from the smallest up),
    linearly interpolated between the two grid radii around the crossing.

    The low-pass curve is anchored at √2 with the unfiltered accuracy (a disk of radius √2
    keeps everything); the high-pass curve has no such anchor (even its smallest radius drops
    the mean), so a high-pass curve already at or below half at its first radius gives NaN.
    NaN also when the curve never gets there within the grid, or the unfiltered accuracy is 0
    (nothing to halve).
    """
    target = unfiltered / 2
    points = sorted(zip(radii, accuracy))
    if kind == "low":
        points = points[::-1]
        if points[0][0] < MAX_RADIUS:
            points.insert(0, (MAX_RADIUS, unfiltered))
    if unfiltered <= 0 or not points or points[0][1] <= target:
        return math.nan
    for (r0, a0), (r1, a1) in zip(points, points[1:]):
        if a1 <= target:
            return float(r0 + (a0 - target) / (a0 - a1) * (r1 - r0))
    return math.nan


def _check(radii: Sequence[float], eps: Sequence[float]) -> None:
    if len(radii) == 0:  # a numpy array of radii has no truth value
        raise ConfigError("cutoff radii must not be empty; the default is 16 radii evenly spaced in (0, √2]")
    for r in radii:
        if not (np.isfinite(r) and 0 < r <= MAX_RADIUS):
            raise ConfigError(
                f"cutoff radius must be in (0, {MAX_RADIUS:.4g}] × Nyquist (√2 is the spectrum's corner), got {r:g}; "
                "the default is 16 radii evenly spaced in (0, √2]"
            )
    if not eps:
        raise ConfigError("ε (eps) must list at least one value; the default is (0.0,), the clean images")
    for e in eps:
        if not (np.isfinite(e) and 0 <= e <= 1):
            raise ConfigError(f"sweep ε (eps) must be in [0, 1] (pixel units), got {e:g}; the default is 0 (clean)")


def cutoff_sweep(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    radii: Sequence[float] = DEFAULT_RADII,
    eps: Sequence[float] = (0.0,),
    attack: AttackConfig = AttackConfig(),
    batch_size: int = 256,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CutoffSweepResult:
    """Accuracy of ``model`` on low- and high-pass filtered ``images`` for every radius in
    ``radii`` (default :data:`DEFAULT_RADII`), on the clean images (ε = 0) and on ``attack``'s
    adversarial images at each other ε in ``eps`` (``attack``'s own ε is replaced).

    Each filtered set goes through the model in batches of ``batch_size``. A cancel stops
    between radii (or during an attack, whose ε is then left out); the result is marked
    ``cancelled`` and holds what finished.
    """
    _check(radii, eps)
    if images.shape[0] == 0:
        raise ConfigError("no images to sweep the cutoff on")
    radii, eps = tuple(float(r) for r in radii), tuple(float(e) for e in eps)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    h, w = images.shape[-2:]
    accuracy = {kind: np.full((len(eps), len(radii)), np.nan) for kind in KINDS}
    unfiltered = np.full(len(eps), np.nan)
    reporter = ProgressReporter("cutoff-sweep", len(eps) * len(radii), on_progress, cancel)
    done_eps = 0
    cancelled = False

    def score(x: torch.Tensor, mask: torch.Tensor | None = None) -> float:
        predictions = masked_predictions(model, x, mask, batch_size=batch_size)
        return (predictions == labels).float().mean().item()

    for e_index, e in enumerate(eps):
        if reporter.cancelled:
            cancelled = True
            break
        x = images
        if e > 0:
            x = attack_images(model, images, labels, config=dataclasses.replace(attack, eps=e), cancel=cancel)
            if reporter.cancelled:  # the attack stopped early: some rows are still clean
                cancelled = True
                break
        unfiltered[e_index] = score(x)
        for r_index, r in enumerate(radii):
            if reporter.cancelled:
                cancelled = True
                break
            for kind in KINDS:
                accuracy[kind][e_index, r_index] = score(x, disk_mask(h, w, r, kind))
            reporter.report(e_index * len(radii) + r_index + 1, f"ε {e:g}, radius {r:.3g}")
        done_eps = e_index + 1
        if cancelled:
            break
    accuracy = {kind: values[:done_eps] for kind, values in accuracy.items()}
    unfiltered = unfiltered[:done_eps]
    halving = {
        kind: np.array(
            [
                halving_radius(radii, accuracy[kind][k], unfiltered[k], kind)
                if np.isfinite(accuracy[kind][k]).all()
                else math.nan
                for k in range(done_eps)
            ]
        )
        for kind in KINDS
    }
    table, halving_table = _tables(radii, eps[:done_eps], accuracy, unfiltered, halving, attack)
    return CutoffSweepResult(
        radii=radii,
        eps=eps[:done_eps],
        unfiltered=unfiltered,
        accuracy=accuracy,
        halving=halving,
        table=table,
        halving_table=halving_table,
        cancelled=cancelled,
    )


def _tables(
    radii: tuple[float, ...],
    eps: tuple[float, ...],
    accuracy: dict[str, np.ndarray],
    unfiltered: np.ndarray,
    halving: dict[str, np.ndarray],
    attack: AttackConfig,
) -> tuple[Table, Table]:
    filters = (
        "low-pass keeps radius ≤ r × Nyquist (the mean included), high-pass radius > r (the mean dropped); "
        "filtered in the model's normalised space, as masks are."
    )
    attacked = f" ε > 0: {attack.method.upper()} with {attack.steps} steps, ε in pixel units."
    table = Table.build(
        "cutoff_sweep",
        "Accuracy on low- and high-pass filtered images",
        [("filter", ""), ("ε", "px"), ("radius", "Nyquist"), ("accuracy", "%")],
        notes=filters + attacked,
    )
    halving_table = Table.build(
        "cutoff_halving",
        "Halving radius: where accuracy falls to half the unfiltered accuracy",
        [("filter", ""), ("ε", "px"), ("unfiltered accuracy", "%"), ("halving radius", "Nyquist")],
        notes=filters
        + " Linear between grid radii; empty where the curve never falls to half within the grid."
        + attacked,
    )
    for kind in KINDS:
        for k, e in enumerate(eps):
            for r, a in zip(radii, accuracy[kind][k]):
                if np.isfinite(a):
                    table.add_row(f"{kind}-pass", e, r, 100 * float(a))
            radius = float(halving[kind][k])
            halving_table.add_row(
                f"{kind}-pass", e, 100 * float(unfiltered[k]), radius if np.isfinite(radius) else None
            )
    return table, halving_table
