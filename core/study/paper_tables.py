"""The paper's Tables 1–3: accuracy with the dataset mask, single-image masks on clean and
adversarial images, and the linear probe on single-image masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..masks.inference import correctly_classified, masked_accuracy, masked_predictions
from ..models.classifier import Classifier
from ..spectra.fourier import complement_mask
from ..tables import Table

if TYPE_CHECKING:
    from .probe import ProbeResult


@dataclass(frozen=True)
class DatasetMaskRow:
    """One model of Table 1: its dataset mask and how the mask's learning ended
    (:class:`~fourier_masks.core.masks.SetMaskResult`'s ``converged``, ``epoch_kept`` and ``epochs``)."""

    name: str
    model: Classifier
    mask: np.ndarray
    component: str
    stop_rule_met: bool
    epoch_kept: int
    epochs: int


def table1(rows: Sequence[DatasetMaskRow], images: torch.Tensor, labels: torch.Tensor) -> Table:
    """Table 1: each model's accuracy with and without its dataset mask, over ``images``."""
    table = Table.build(
        "table1",
        "Table 1. Model accuracy with and without its dataset mask",
        [
            ("model", ""),
            ("accuracy", "%"),
            ("masked accuracy", "%"),
            ("masked / unmasked", "%"),
            ("kept fraction", "%"),
            ("stop rule met", ""),
            ("epoch kept", "epoch"),
            ("epochs run", "epoch"),
        ],
        notes=(
            "Masked accuracy: the model on M(x) with its own dataset mask M, over the validation set. "
            "Stop rule: masked accuracy at the bar (a share of the unmasked accuracy) and the kept fraction "
            "steady for a number of epochs in a row. Where it was never met, the mask kept is the last "
            "epoch's that met the accuracy bar (the last epoch's if none did)."
        ),
    )
    for row in rows:
        plain = 100 * masked_accuracy(row.model, images, labels)
        masked = 100 * masked_accuracy(row.model, images, labels, row.mask, row.component)
        table.add_row(
            row.name,
            plain,
            masked,
            100 * masked / plain if plain else float("nan"),
            100 * float(np.mean(row.mask)),
            "yes" if row.stop_rule_met else "no",
            row.epoch_kept,
            row.epochs,
        )
    return table


@dataclass(frozen=True)
class SingleImageEvaluation:
    """Accuracies (fractions) for one model's single-image masks, as in the paper's Table 2:
    over the ``correct`` images (of ``images`` masked) that the model classifies correctly;
    ``attacked`` of them were flipped by the attack."""

    model: str
    images: int
    correct: int
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
    """Accuracy on ``X``, ``M(X)``, ``Mᶜ(X)``, ``X_A``, ``M(X_A)`` with each image's own mask,
    over the images ``model`` classifies correctly (the paper's ``X``; so ``X`` is 100 %).

    The reversal rate counts, among those images whose attack succeeded, the ones whose
    adversarial image filtered by the *clean* image's mask is classified correctly again.
    """
    labels = torch.as_tensor(labels)
    correct = torch.from_numpy(correctly_classified(model, images, labels))
    images, labels, masks = images[correct], labels[correct], np.asarray(masks)[correct.numpy()]

    def accuracy(predictions: torch.Tensor, truth: torch.Tensor) -> float:
        return (predictions == truth).float().mean().item() if len(truth) else float("nan")

    masked = masked_predictions(model, images, masks, component=component)
    complement = masked_predictions(model, images, complement_mask(masks), component=component)
    adv_acc = adv_masked_acc = reversal = float("nan")
    attacked = 0
    if adversarial is not None:
        adv = masked_predictions(model, adversarial[correct])
        adv_masked = masked_predictions(model, adversarial[correct], masks, component=component)
        adv_acc, adv_masked_acc = accuracy(adv, labels), accuracy(adv_masked, labels)
        flipped = adv != labels
        attacked = int(flipped.sum())
        reversal = accuracy(adv_masked[flipped], labels[flipped])
    return SingleImageEvaluation(
        model=name,
        images=len(correct),
        correct=len(labels),
        clean=1.0 if len(labels) else float("nan"),
        masked=accuracy(masked, labels),
        complement=accuracy(complement, labels),
        adversarial=adv_acc,
        adversarial_masked=adv_masked_acc,
        reversal_rate=reversal,
        attacked=attacked,
        mean_kept_fraction=float(masks.mean()) if len(masks) else float("nan"),
    )


def table2(evaluations: Sequence[SingleImageEvaluation]) -> Table:
    table = Table.build(
        "table2",
        "Table 2. Accuracy with single-image masks learned on clean images",
        [
            ("model", ""),
            ("images", "count"),
            ("images (correct)", "count"),
            ("X", "%"),
            ("M(X)", "%"),
            ("Mc(X)", "%"),
            ("X_A", "%"),
            ("M(X_A)", "%"),
            ("attack reversal", "%"),
            ("flipped by attack", "count"),
            ("mean kept fraction", "%"),
        ],
        notes=(
            "Over the images each model classifies correctly ('images (correct)' of the 'images' with "
            "masks), as in the paper, so X is 100 %. M is each image's own final mask, learned to keep "
            "the model's prediction on the clean image: M(X) measures how often it does. "
            "Mc = 1 - 1[M > 1e-8]. X_A: the adversarial counterparts of the same images. Attack "
            "reversal: of the images the attack flipped ('flipped by attack'), the share whose M(x_A) "
            "is classified correctly."
        ),
    )
    for e in evaluations:
        table.add_row(
            e.model,
            e.images,
            e.correct,
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


def table3(results: Sequence[tuple[str, int | str, ProbeResult | str]]) -> Table:
    """Table 3 from (mask group, correctly classified images ("" if unknown), the probe or why
    there is none): a group that cannot be probed gets a row that says why, with no numbers."""
    table = Table.build(
        "table3",
        "Table 3. Linear classifier on single-image masks (class specificity)",
        [
            ("masks", ""),
            ("images (correct)", "count"),
            ("masks used", "count"),
            ("classes", "count"),
            ("test accuracy", "%"),
            ("test accuracy std", "%"),
            ("shuffled-label accuracy", "%"),
            ("shuffled-label std", "%"),
            ("chance", "%"),
            ("note", ""),
        ],
        notes=(
            "Masks of the images the model classifies correctly (for adversarial masks: whose clean "
            "image it does), class-balanced. Labels are the predicted classes; 85 %/15 % stratified "
            "splits, mean ± std over repeats."
        ),
    )
    for name, correct, r in results:
        if isinstance(r, str):
            table.add_row(name, correct, *[""] * 7, r)
            continue
        table.add_row(
            name,
            correct,
            r.samples,
            r.classes,
            100 * r.accuracy,
            100 * r.accuracy_std,
            100 * r.shuffled_accuracy,
            100 * r.shuffled_std,
            100 * r.chance,
            "",
        )
    return table
