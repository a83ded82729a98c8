"""Controls for the single-image findings: M(X), Mᶜ(X) and the attack reversal M(X_A) measured
with masks that are *not* the image's own, so a finding credits the image's own mask only with
what other masks do not also do.

A mask keeping ~1 % of the spectrum removes most of a broadband perturbation whatever image it
came from, and removing the lowest frequencies hurts any image; the controls measure how much of
an effect is the image's own mask. For each image ``x`` the model classifies correctly, with its
own mask ``M_x``:

- **same class**: the mask of another correctly classified image of ``x``'s class;
- **other class**: the mask of a correctly classified image of another class;
- **low-pass disk**: a centred disk of the lowest frequencies. For ``M(x)`` and ``M(x_A)`` it
  keeps as many frequencies as ``M_x`` does (its kept fraction, the mean of ``M_x``); for
  ``Mᶜ(x)`` it has ``M_x``'s support (``1[M_x > 1e-8]``), so its complement removes as many
  frequencies as ``Mᶜ_x`` does.

The borrowed masks are drawn at random (seeded), one per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..masks.inference import correctly_classified, masked_predictions
from ..models.classifier import Classifier
from ..spectra.fourier import COMPLEMENT_THRESHOLD, complement_mask
from ..tables import Table
from .findings import wilson_interval

OWN, SAME_CLASS, OTHER_CLASS, LOW_PASS = "own", "same class", "other class", "low-pass disk"
SOURCES = (OWN, SAME_CLASS, OTHER_CLASS, LOW_PASS)


def low_pass_disks(fractions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One centred low-pass disk per entry of ``fractions`` (unshifted layout, ``shape`` =
    ``(Cm, H, W)``), each keeping the ``round(fraction · H · W)`` lowest frequencies (at least the
    zero frequency); frequencies at the cut radius are all kept, so the disk stays symmetric."""
    height, width = shape[-2:]
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(height) * height, np.fft.fftfreq(width) * width, indexing="ij"))
    ordered = np.sort(radius.ravel())
    counts = np.clip(np.rint(np.asarray(fractions, dtype=np.float64) * radius.size).astype(int), 1, radius.size)
    disks = radius[None] <= ordered[counts - 1][:, None, None]
    return np.broadcast_to(disks[:, None], (len(counts), *shape)).astype(np.float32)


def borrowed_masks(
    masks: np.ndarray, labels: np.ndarray, *, same_class: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """For each mask, another image's mask of the same class (``same_class``) or of another
    class, and which images had one to borrow."""
    chosen = np.zeros(len(labels), dtype=np.int64)
    found = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(labels):
        pool = np.flatnonzero((labels == label) if same_class else (labels != label))
        pool = pool[pool != i]
        if len(pool):
            chosen[i], found[i] = rng.choice(pool), True
    return masks[chosen], found


@dataclass(frozen=True)
class ControlRow:
    """Counts for one model and one kind of mask, over the images it classifies correctly
    (``images``) and, for the reversal, those its attack flipped (``flipped``)."""

    model: str
    source: str
    images: int
    masked_correct: int
    complement_correct: int
    flipped: int
    reversed: int


def control_evaluation(
    name: str,
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    masks: np.ndarray,
    adversarial: torch.Tensor | None = None,
    *,
    component: str = "magnitude",
    seed: int = 0,
) -> list[ControlRow]:
    """M(X), Mᶜ(X) and M(X_A) with each image's own mask and with the three controls, over the
    images ``model`` classifies correctly (labels there = the clean prediction)."""
    labels = torch.as_tensor(labels)
    correct = correctly_classified(model, images, labels)
    images, labels, masks = images[torch.from_numpy(correct)], labels[correct], np.asarray(masks)[correct]
    truth = labels.numpy()
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(truth), dtype=bool)
    if adversarial is not None:
        adversarial = adversarial[torch.from_numpy(correct)]
        flipped = masked_predictions(model, adversarial).numpy() != truth
    per_mask = int(np.prod(masks.shape[1:]))  # not -1: no image may be classified correctly
    kept = masks.reshape(len(masks), per_mask).mean(axis=1)
    support = (masks > COMPLEMENT_THRESHOLD).reshape(len(masks), per_mask).mean(axis=1)
    same, same_found = borrowed_masks(masks, truth, same_class=True, rng=rng)
    other, other_found = borrowed_masks(masks, truth, same_class=False, rng=rng)
    everyone = np.ones(len(truth), dtype=bool)
    shape = masks.shape[1:]
    sources = {
        OWN: (masks, complement_mask(masks), everyone),
        SAME_CLASS: (same, complement_mask(same), same_found),
        OTHER_CLASS: (other, complement_mask(other), other_found),
        LOW_PASS: (low_pass_disks(kept, shape), 1 - low_pass_disks(support, shape), everyone),
    }
    rows = []
    for source, (kept_masks, removed_masks, usable) in sources.items():
        rows.append(
            _count(
                name, source, model, images, adversarial, truth, kept_masks, removed_masks, usable, flipped, component
            )
        )
    return rows


def _count(name, source, model, images, adversarial, truth, kept_masks, removed_masks, usable, flipped, component):
    index = torch.from_numpy(np.flatnonzero(usable))
    if not len(index):
        return ControlRow(name, source, 0, 0, 0, 0, 0)
    take = index.numpy()

    def hits(inputs: torch.Tensor, chosen: np.ndarray, masks: np.ndarray) -> int:
        if not len(chosen):
            return 0
        predicted = masked_predictions(model, inputs[torch.from_numpy(chosen)], masks[chosen], component=component)
        return int((predicted.numpy() == truth[chosen]).sum())

    attacked = take[flipped[take]]
    return ControlRow(
        model=name,
        source=source,
        images=len(take),
        masked_correct=hits(images, take, kept_masks),
        complement_correct=hits(images, take, removed_masks),
        flipped=len(attacked),
        reversed=hits(adversarial, attacked, kept_masks) if adversarial is not None else 0,
    )


def controls_table(rows: list[ControlRow]) -> Table:
    """The per-image quantities with the image's own mask and with each control, with 95 %
    Wilson intervals (the findings compare them)."""
    table = Table.build(
        "controls",
        "Single-image masks against controls: the image's own mask, another image's, a low-pass disk",
        [
            ("model", ""),
            ("mask", ""),
            ("images", "count"),
            ("M(X)", "%"),
            ("M(X) low", "%"),
            ("M(X) high", "%"),
            ("Mc(X)", "%"),
            ("Mc(X) low", "%"),
            ("Mc(X) high", "%"),
            ("flipped by attack", "count"),
            ("M(X_A)", "%"),
            ("M(X_A) low", "%"),
            ("M(X_A) high", "%"),
        ],
        notes=(
            "Over the images each model classifies correctly; M(X_A) over those its attack flipped (the attack "
            "reversal). Masks: 'own' = the image's mask; 'same class' / 'other class' = the mask of another "
            "correctly classified image of the same / another class (drawn at random, seeded); 'low-pass disk' = "
            "a centred disk keeping as many of the lowest frequencies as the own mask's kept fraction (for Mc: its "
            "support, so the complement removes as many frequencies). low/high: 95 % Wilson interval."
        ),
    )
    for row in rows:
        table.add_row(
            row.model,
            row.source,
            row.images,
            *_rate(row.masked_correct, row.images),
            *_rate(row.complement_correct, row.images),
            row.flipped,
            *_rate(row.reversed, row.flipped),
        )
    return table


def _rate(successes: int, trials: int) -> tuple[float, float, float]:
    if trials == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = wilson_interval(successes, trials)
    return 100 * successes / trials, 100 * low, 100 * high
