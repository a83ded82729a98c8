"""The published single-image mask algorithm, transcribed as the reference code runs it.

One image at a time: ``torch.optim.Adam`` with ``OneCycleLR`` sized for 20 000 × 200 steps,
the mask clamped to [0, 1] after every step, and the published stop rule (prediction
unchanged, invariance change ≤ 1e-6 and kept-fraction change ≤ 1e-5 for 300 steps in a row,
at most 20 000 steps). The engine's tests compare against it, and the speed benchmark uses it
as the baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fourier_masks.core.masks.config import PUBLISHED_SCHEDULE_STEPS, ImageMaskConfig
from fourier_masks.core.models.classifier import Classifier

__all__ = ["published_mask"]


def published_mask(model: Classifier, image: torch.Tensor, max_steps: int = 20_000, patience: int = 300) -> dict:
    """Learn one mask for ``image`` ``(1, C, H, W)``; returns the mask and its outcome."""
    config = ImageMaskConfig(patience=patience)
    with torch.no_grad():
        logits = model(image)
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
        logits = model.net(torch.fft.ifft2(spectrum * mask).real)
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
        final = model.net(torch.fft.ifft2(spectrum * mask).real)
        final_invariance = torch.exp((F.cross_entropy(final, target) - clean_loss) ** 2).item()
    return {
        "mask": mask.detach(),
        "steps": step,
        "kept_fraction": mask.mean().item(),
        "prediction_kept": bool(final.argmax(1) == target),
        "invariance": final_invariance,
    }
