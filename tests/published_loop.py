"""The published single-image mask algorithm, transcribed as the reference code runs it.

One image at a time: ``torch.optim.Adam`` with ``OneCycleLR`` sized for 20 000 × 200 steps,
the mask clamped to [0, 1] after every step, and the published stop rule (prediction
unchanged, invariance change ≤ 1e-6 and kept-fraction change ≤ 1e-5 for 300 steps in a row,
at most 20 000 steps). The engine's tests compare against it, and the benchmarks use it as the
baseline: ``benchmarks/speedup.py`` runs it on the engine's own network copy
(:func:`fourier_masks.core.models.architectures.fused_for_inference`, passed as ``net``), so
the two differ in the algorithm alone.

``component="phase"`` runs the same loop with the mask on the phase instead (METHOD.md §7: the
paper's stated future work, not published code), written out here independently of the
engine's :func:`~fourier_masks.core.spectra.fourier.apply_mask_to_spectrum`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fourier_masks.core.masks.config import PUBLISHED_SCHEDULE_STEPS, ImageMaskConfig
from fourier_masks.core.models.classifier import Classifier

__all__ = ["published_mask"]


def published_mask(
    model: Classifier,
    image: torch.Tensor,
    max_steps: int = 20_000,
    patience: int = 300,
    net: torch.nn.Module | None = None,
    component: str = "magnitude",
) -> dict:
    """Learn one mask for ``image`` ``(1, C, H, W)``; returns the mask and its outcome.

    ``net``: the network to run on the normalised masked image (default ``model.net``, as
    given); the benchmarks pass the engine's fused channels-last copy. ``component``: what the
    mask scales, the magnitude (published) or the phase of each frequency."""
    config = ImageMaskConfig(patience=patience)
    net = model.net if net is None else net
    with torch.no_grad():
        logits = net(model.normalization(image))
        target = logits.argmax(1)
        clean_loss = F.cross_entropy(logits, target)
    mask = torch.ones(1, 1, *image.shape[-2:], device=image.device, dtype=image.dtype, requires_grad=True)
    optimizer = torch.optim.Adam([mask], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=PUBLISHED_SCHEDULE_STEPS, pct_start=config.pct_start
    )
    spectrum = torch.fft.fft2(model.normalization(image))
    calm, previous_invariance, previous_kept = 0, float("inf"), float("inf")
    for step in range(1, max_steps + 1):  # noqa: B007 - read after the loop: the steps taken
        logits = net(_filtered(spectrum, mask, component))
        invariance = torch.exp((F.cross_entropy(logits, target) - clean_loss) ** 2)
        kept = mask.mean()
        loss = invariance + config.lam * kept
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            mask.clamp_(0, 1)
        same = bool(logits.argmax(1) == target)
        inv, kep = invariance.item(), kept.item()
        calm_step = (
            same
            and abs(inv - previous_invariance) <= config.invariance_tol
            and abs(kep - previous_kept) <= config.kept_tol
        )
        calm = calm + 1 if calm_step else 0
        previous_invariance, previous_kept = inv, kep
        if calm >= config.patience:
            break
    with torch.no_grad():
        final = net(_filtered(spectrum, mask, component))
        final_invariance = torch.exp((F.cross_entropy(final, target) - clean_loss) ** 2).item()
    return {
        "mask": mask.detach(),
        "steps": step,
        "kept_fraction": mask.mean().item(),
        "prediction_kept": bool(final.argmax(1) == target),
        "invariance": final_invariance,
    }


def _filtered(spectrum: torch.Tensor, mask: torch.Tensor, component: str) -> torch.Tensor:
    """The masked image: ``Re F⁻¹(M ⊙ F(x))``, or for ``phase`` ``Re F⁻¹(|F(x)| e^{i M ∠F(x)})``
    with the frequencies that are their own mirror (zero, and Nyquist for even sizes) left
    alone: their coefficient is real, and scaling a phase of π would change its magnitude."""
    if component == "magnitude":
        return torch.fft.ifft2(spectrum * mask).real
    assert component == "phase", component
    h, w = spectrum.shape[-2:]
    scale = mask.expand(*spectrum.shape[:-2], h, w).clone()
    for ky in {0, h // 2} if h % 2 == 0 else {0}:
        for kx in {0, w // 2} if w % 2 == 0 else {0}:
            scale[..., ky, kx] = 1.0
    return torch.fft.ifft2(spectrum.abs() * torch.exp(1j * scale * spectrum.angle())).real
