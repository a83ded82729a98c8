"""Masked inference: class probabilities, predictions and accuracy of a model on ``M(x)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, NonFiniteError
from ..models.classifier import Classifier, frozen, model_device, run_checked
from ..spectra.fourier import filter_images


@torch.no_grad()
def masked_probabilities(
    model: Classifier,
    images: torch.Tensor,
    masks: np.ndarray | torch.Tensor | None = None,
    *,
    component: str = "magnitude",
    batch_size: int = 256,
) -> torch.Tensor:
    """Class probabilities (softmax) of ``model`` on ``M(x)`` (``component``: what the masks
    modulate), ``(N, K)`` on the CPU.

    Shape:
        images ``(N, C, H, W)`` in [0, 1]; masks ``None`` (plain predictions), ``(Cm, H, W)``
        (one mask for all) or ``(N, Cm, H, W)`` (one per image), unshifted layout.
    """
    device = model_device(model)
    if masks is not None:
        masks = torch.as_tensor(np.asarray(masks), dtype=torch.float32)
        if masks.ndim == 3:
            masks = masks.unsqueeze(0)
        if masks.shape[0] not in (1, images.shape[0]):
            raise ConfigError(f"{masks.shape[0]} masks given for {images.shape[0]} images; give one, or one per image")
        if not torch.isfinite(masks).all():
            raise NonFiniteError("the masks contain NaN or Inf values; check where they were learned or loaded from")
    probabilities = []
    with frozen(model):
        for start in range(0, images.shape[0], batch_size):
            clean = images[start : start + batch_size].to(device)
            x = clean
            if masks is not None:
                m = masks if masks.shape[0] == 1 else masks[start : start + batch_size]
                x = filter_images(clean, m.to(device), model.normalization, component)
            try:
                logits = run_checked(model, x, "on the images")
            except NonFiniteError:
                if masks is None:
                    raise
                run_checked(model, clean, "on the clean images")  # corrupt weights say so here
                raise NonFiniteError(
                    "the model's outputs are NaN or Inf on the masked images, though finite on the clean ones: "
                    "these masks take it out of its numerical range; check how they were made"
                ) from None
            probabilities.append(torch.softmax(logits.float(), dim=1).cpu())
    if not probabilities:
        return torch.zeros((0, model.info.num_classes))
    return torch.cat(probabilities)


def masked_predictions(model: Classifier, images: torch.Tensor, masks=None, **options: Any) -> torch.Tensor:
    """Predicted classes of ``model`` on ``M(x)`` (arguments as :func:`masked_probabilities`)."""
    probabilities = masked_probabilities(model, images, masks, **options)
    return probabilities.argmax(1) if len(probabilities) else torch.zeros(0, dtype=torch.int64)


def masked_accuracy(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, masks=None, component: str = "magnitude"
) -> float:
    """Fraction of ``M(x)`` classified as ``labels`` (plain accuracy when ``masks`` is None)."""
    return (
        (masked_predictions(model, images, masks, component=component) == torch.as_tensor(labels)).float().mean().item()
    )


def correctly_classified(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Which images ``model`` classifies as their label (never an unlabelled one, label −1)."""
    return (masked_predictions(model, images) == torch.as_tensor(labels)).numpy()
