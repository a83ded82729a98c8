"""The paper's Tables 1–3: accuracy with the dataset mask, single-image masks on clean and
adversarial images, and the linear probe on single-image masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.images import ImageSet
from ..data.pixels import take_rows
from ..masks.inference import correctly_classified, masked_accuracy, masked_predictions
from ..models.classifier import Classifier
from ..spectra.fourier import complement_mask
from ..tables import Table

if TYPE_CHECKING:
    from .probe import ProbeResult


@dataclass(frozen=True)
class DatasetMaskRow:
    """One model of Table 1: its dataset mask, how the mask's learning ended
    (:class:`~fourier_masks.core.masks.SetMaskResult`'s ``converged``, ``epoch_kept`` and
    ``epochs``; None: not recorded, as for a mask saved with only its model named) and the ids
    of the images it was learned on (None: not recorded, as in runs made before masks were held
    out, which learned on the whole validation set)."""

    name: str
    model: Classifier
    mask: np.ndarray
    component: str
    stop_rule_met: bool | None
    epoch_kept: int | None
    epochs: int | None
    learned_on: frozenset[str] | None


NOT_RECORDED = "not recorded"


def table1(rows: Sequence[DatasetMaskRow], val: ImageSet) -> Table:
    """Table 1: each model's accuracy with and without its dataset mask on the validation images
    the mask was *not* learned on (held out), and, labelled so, on those it was."""
    table = Table.build(
        "table1",
        "Table 1. Model accuracy with and without its dataset mask (held-out images)",
        [
            ("model", ""),
            ("held-out images", "count"),
            ("accuracy", "%"),
            ("masked accuracy", "%"),
            ("masked / unmasked", "%"),
            ("learning images", "count"),
            ("masked / unmasked (learning images)", "%"),
            ("kept fraction", "%"),
            ("stop rule met", ""),
            ("epoch kept", "epoch"),
            ("epochs run", "epoch"),
        ],
        notes=(
            "Each dataset mask is learned on one half of the validation set (stratified by class) and "
            "measured on the other half: 'accuracy', 'masked accuracy' and 'masked / unmasked' are over "
            "those held-out images; the learning images' ratio is shown beside for contrast (the mask was "
            "fitted to them, so that figure cannot disagree). Masked accuracy: the model on M(x) with its own "
            "dataset mask M. Stop rule: masked accuracy at the bar (a share of the unmasked accuracy) and the "
            "kept fraction steady for a number of epochs in a row. Where it was never met, the mask kept is "
            "the last epoch's that met the accuracy bar on the learning images (the last epoch's if none "
            "did). A mask with no record of its learning images was learned on every validation image: "
            "it has no held-out figure."
        ),
    )
    for row in rows:
        learning = np.array([i in row.learned_on for i in val.ids]) if row.learned_on is not None else None
        held_out = ~learning if learning is not None else np.zeros(len(val), dtype=bool)
        plain, masked, ratio = _masked_ratio(row, val, held_out)
        _, _, learning_ratio = _masked_ratio(row, val, learning if learning is not None else ~held_out)
        table.add_row(
            row.name,
            int(held_out.sum()),
            plain,
            masked,
            ratio,
            int(learning.sum()) if learning is not None else len(val),
            learning_ratio,
            100 * float(np.mean(row.mask)),
            NOT_RECORDED if row.stop_rule_met is None else "yes" if row.stop_rule_met else "no",
            NOT_RECORDED if row.epoch_kept is None else row.epoch_kept,
            NOT_RECORDED if row.epochs is None else row.epochs,
        )
    return table


def _masked_ratio(row: DatasetMaskRow, val: ImageSet, chosen: np.ndarray) -> tuple[float, float, float]:
    """Unmasked and masked accuracy (%) over the ``chosen`` images, and their ratio (NaN for none)."""
    if not chosen.any():
        return float("nan"), float("nan"), float("nan")
    index = torch.from_numpy(np.flatnonzero(chosen))
    images, labels = take_rows(val.images, torch.as_tensor(index)), val.labels[index]
    plain = 100 * masked_accuracy(row.model, images, labels)
    masked = 100 * masked_accuracy(row.model, images, labels, row.mask, row.component)
    return plain, masked, 100 * masked / plain if plain else float("nan")


@dataclass(frozen=True)
class SingleImageEvaluation:
    """Accuracies (fractions) for one model's single-image masks, as in the paper's Table 2:
    over the ``correct`` images (of ``images`` masked) that the model classifies correctly;
    ``attacked`` of them were flipped by the attack, and ``adversarial_masked`` is over those."""

    model: str
    images: int
    correct: int
    clean: float
    masked: float
    complement: float
    adversarial: float
    adversarial_masked: float
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
    """Accuracy on ``X``, ``M(X)``, ``Mᶜ(X)`` and ``X_A`` with each image's own mask, over the
    images ``model`` classifies correctly (the paper's ``X``; so ``X`` is 100 %), and on
    ``M(X_A)`` over those whose attack succeeded (the paper's ``X_A`` are all misclassified):
    the share whose adversarial image, filtered by the *clean* image's mask, is classified
    correctly again (the attack reversal rate).
    """
    labels = torch.as_tensor(labels)
    correct = torch.from_numpy(correctly_classified(model, images, labels))
    images, labels, masks = images[correct], labels[correct], np.asarray(masks)[correct.numpy()]

    def accuracy(predictions: torch.Tensor, truth: torch.Tensor) -> float:
        return (predictions == truth).float().mean().item() if len(truth) else float("nan")

    masked = masked_predictions(model, images, masks, component=component)
    complement = masked_predictions(model, images, complement_mask(masks), component=component)
    adv_acc = adv_masked_acc = float("nan")
    attacked = 0
    if adversarial is not None:
        adv = masked_predictions(model, adversarial[correct])
        flipped = adv != labels
        attacked = int(flipped.sum())
        adv_acc = accuracy(adv, labels)
        if attacked:
            adv_masked = masked_predictions(
                model, adversarial[correct][flipped], masks[flipped.numpy()], component=component
            )
            adv_masked_acc = accuracy(adv_masked, labels[flipped])
    return SingleImageEvaluation(
        model=name,
        images=len(correct),
        correct=len(labels),
        clean=1.0 if len(labels) else float("nan"),
        masked=accuracy(masked, labels),
        complement=accuracy(complement, labels),
        adversarial=adv_acc,
        adversarial_masked=adv_masked_acc,
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
            ("flipped by attack", "count"),
            ("M(X_A)", "%"),
            ("mean kept fraction", "%"),
        ],
        notes=(
            "Over the images each model classifies correctly ('images (correct)' of the 'images' with "
            "masks), as in the paper, so X is 100 %. M is each image's own final mask, learned to keep "
            "the model's prediction on the clean image: M(X) measures how often it does. "
            "Mc = 1 - 1[M > 1e-8]. X_A: the adversarial counterparts of the same images; 'flipped by attack' "
            "of them are misclassified. M(X_A): over those flipped images only (the paper's X_A are all "
            "misclassified), the share whose x_A filtered by the clean image's mask is classified correctly "
            "again: the attack reversal rate. The 'controls' table measures the same with other masks."
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
            e.attacked,
            100 * e.adversarial_masked,
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
            ("p-value", "1"),
            ("permutations", "count"),
            ("out-of-fold accuracy", "%"),
            ("chance", "%"),
            ("note", ""),
        ],
        notes=(
            "Masks of the images the model classifies correctly (for adversarial masks: whose clean "
            "image it does), class-balanced. Labels are the predicted classes. Test accuracy: mean ± std "
            "over repeated 85 %/15 % stratified splits. Shuffled-label accuracy: the same splits with the "
            "labels permuted, mean ± std over the permutations; p-value: the share of permutations scoring at "
            "least the test accuracy (scikit-learn's permutation_test_score; its smallest value is "
            "1/(permutations + 1)). Out-of-fold accuracy: of the scores the Figure 8 UMAP embeds, each from a "
            "probe that never saw the mask."
        ),
    )
    for name, correct, r in results:
        if isinstance(r, str):
            table.add_row(name, correct, *[""] * 10, r)
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
            r.pvalue,
            r.permutations,
            100 * r.out_of_fold_accuracy,
            100 * r.chance,
            "",
        )
    return table
