"""Evaluations behind the paper's tables (METHOD.md §3 and §6).

- :func:`masked_accuracy` — accuracy of a model on images filtered by a mask (one mask for
  all, or one per image).
- :func:`table1` — accuracy of each model with and without its dataset mask.
- :func:`single_image_evaluation` / :func:`table2` — accuracy on ``X``, ``M(X)``, ``Mᶜ(X)``,
  ``X_A``, ``M(X_A)`` and the attack-reversal rate.
- :func:`table3` — the linear probe on single-image masks next to its shuffled-label control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .fourier import complement_mask, filter_images
from .models import Classifier, frozen, model_device, run_checked
from .tables import Table

if TYPE_CHECKING:
    from .clusters import ProbeResult

__all__ = [
    "masked_accuracy",
    "masked_predictions",
    "SingleImageEvaluation",
    "single_image_evaluation",
    "table1",
    "table2",
    "table3",
]


@torch.no_grad()
def masked_predictions(
    model: Classifier,
    images: torch.Tensor,
    masks: np.ndarray | torch.Tensor | None = None,
    *,
    component: str = "magnitude",
    batch_size: int = 256,
) -> torch.Tensor:
    """Predicted classes of ``model`` on ``M(x)`` (``component``: what the masks modulate).

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
            raise ValueError(f"{masks.shape[0]} masks for {images.shape[0]} images")
    predictions = []
    with frozen(model):
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            if masks is not None:
                m = masks if masks.shape[0] == 1 else masks[start : start + batch_size]
                x = filter_images(x, m.to(device), model.normalization, component)
            logits = run_checked(model, x, "on the filtered images")
            predictions.append(logits.argmax(1).cpu())
    return torch.cat(predictions)


def masked_accuracy(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, masks=None, component: str = "magnitude"
) -> float:
    """Fraction of ``M(x)`` classified as ``labels`` (plain accuracy when ``masks`` is None)."""
    return (
        (masked_predictions(model, images, masks, component=component) == torch.as_tensor(labels)).float().mean().item()
    )


def table1(
    rows: Sequence[tuple[str, Classifier, np.ndarray, float, str]], images: torch.Tensor, labels: torch.Tensor
) -> Table:
    """Table 1: ``rows`` of (model name, model, dataset mask, kept fraction, mask component)."""
    table = Table.build(
        "table1",
        "Table 1. Model accuracy with and without its dataset mask",
        [
            ("model", ""),
            ("accuracy", "%"),
            ("masked accuracy", "%"),
            ("masked / unmasked", "%"),
            ("kept fraction", "%"),
        ],
        notes="Masked accuracy: the model on M(x) with its own dataset mask M, over the validation set.",
    )
    for name, model, mask, kept, component in rows:
        plain = 100 * masked_accuracy(model, images, labels)
        masked = 100 * masked_accuracy(model, images, labels, mask, component)
        table.add_row(name, plain, masked, 100 * masked / plain if plain else float("nan"), 100 * kept)
    return table


@dataclass(frozen=True)
class SingleImageEvaluation:
    """Accuracies (fractions) for one model's single-image masks, as in the paper's Table 2."""

    model: str
    images: int
    clean: float
    masked: float
    complement: float
    adversarial: float
    adversarial_masked: float
    reversal_rate: float
    attacked: int
    mean_kept_fraction: float


def single_image_evaluation(
    name: str,
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    masks: np.ndarray,
    adversarial: torch.Tensor | None = None,
    component: str = "magnitude",
) -> SingleImageEvaluation:
    """Accuracy on ``X``, ``M(X)``, ``Mᶜ(X)``, ``X_A``, ``M(X_A)`` with each image's own mask.

    The reversal rate counts, among images classified correctly whose attack succeeded, those
    whose adversarial image filtered by the *clean* image's mask is classified correctly again.
    """
    labels = torch.as_tensor(labels)
    masks = np.asarray(masks)
    clean = masked_predictions(model, images)
    masked = masked_predictions(model, images, masks, component=component)
    complement = masked_predictions(model, images, complement_mask(masks), component=component)
    nan = float("nan")
    adv_acc = adv_masked_acc = reversal = nan
    attacked = 0
    if adversarial is not None:
        adv = masked_predictions(model, adversarial)
        adv_masked = masked_predictions(model, adversarial, masks, component=component)
        adv_acc = (adv == labels).float().mean().item()
        adv_masked_acc = (adv_masked == labels).float().mean().item()
        flipped = (clean == labels) & (adv != labels)
        attacked = int(flipped.sum())
        reversal = (adv_masked[flipped] == labels[flipped]).float().mean().item() if attacked else nan
    return SingleImageEvaluation(
        model=name,
        images=len(labels),
        clean=(clean == labels).float().mean().item(),
        masked=(masked == labels).float().mean().item(),
        complement=(complement == labels).float().mean().item(),
        adversarial=adv_acc,
        adversarial_masked=adv_masked_acc,
        reversal_rate=reversal,
        attacked=attacked,
        mean_kept_fraction=float(masks.mean()),
    )


def table2(evaluations: Sequence[SingleImageEvaluation]) -> Table:
    table = Table.build(
        "table2",
        "Table 2. Accuracy with single-image masks learned on clean images",
        [
            ("model", ""),
            ("images", "count"),
            ("X", "%"),
            ("M(X)", "%"),
            ("Mc(X)", "%"),
            ("X_A", "%"),
            ("M(X_A)", "%"),
            ("attack reversal", "%"),
            ("attacks reversed of", "count"),
            ("mean kept fraction", "%"),
        ],
        notes=(
            "M is each image's own mask, learned to keep the model's prediction on the clean image; "
            "Mc = 1 - 1[M > 1e-8]. Attack reversal: share of successfully attacked, correctly "
            "classified images whose M(x_A) is classified correctly."
        ),
    )
    for e in evaluations:
        table.add_row(
            e.model,
            e.images,
            100 * e.clean,
            100 * e.masked,
            100 * e.complement,
            100 * e.adversarial,
            100 * e.adversarial_masked,
            100 * e.reversal_rate,
            e.attacked,
            100 * e.mean_kept_fraction,
        )
    return table


def table3(results: Sequence[tuple[str, ProbeResult]]) -> Table:
    table = Table.build(
        "table3",
        "Table 3. Linear classifier on single-image masks (class specificity)",
        [
            ("masks", ""),
            ("masks used", "count"),
            ("classes", "count"),
            ("test accuracy", "%"),
            ("test accuracy std", "%"),
            ("shuffled-label accuracy", "%"),
            ("shuffled-label std", "%"),
            ("chance", "%"),
        ],
        notes="Labels are the predicted classes; 85 %/15 % stratified splits, mean ± std over repeats.",
    )
    for name, r in results:
        table.add_row(
            name,
            r.samples,
            r.classes,
            100 * r.accuracy,
            100 * r.accuracy_std,
            100 * r.shuffled_accuracy,
            100 * r.shuffled_std,
            100 * r.chance,
        )
    return table
