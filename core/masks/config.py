"""Settings of the mask learners (METHOD.md §1–2), with the published defaults, the check
every learner applies to its inputs, and the error a learner raises when its settings make the
optimisation diverge.

Each setting is refused where it is made (the app's dialogs and Python build these configs
too) when it is not a number the learners can use: NaN, infinite, or so large that float32
arithmetic overflows or a step counter leaves int64. The bounds are far above the published
values, so every value an ablation would try passes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.pixels import Pixels
from ..errors import ConfigError, NonFiniteError
from ..models.classifier import Classifier
from ..spectra.fourier import COMPONENTS

OBJECTIVES = ("invariance", "basile")


SCHEDULES = ("published", "nominal", "constant")


# The reference code sizes its single-image one-cycle schedule for 20 000 × 200 steps.
PUBLISHED_SCHEDULE_STEPS = 20_000 * 200


# Sanity bounds (see the module docstring). λ weighs the kept fraction (at most 1) against an
# invariance term that starts at 1, so λ = 100 already empties every mask; a million times the
# published values still leaves the gradients' squares (Adam's second moment) finite in float32.
MAX_LAMBDA = 1e6


# Adam moves a mask value by about the learning rate per step and masks lie in [0, 1]: above 1
# a step already jumps across the whole range (and Adam's lr must fit a float32).
MAX_LEARNING_RATE = 1e3


MAX_STEPS = 10**9  # per-image steps, patience: a billion steps of one mask take days


MAX_EPOCHS = 10**6


MAX_BATCH = 65_536  # masks learned at once: the slot tensors are allocated for all of them


MAX_LOSS_WINDOW = 10_000  # Basile's stop rule keeps this many losses per slot (published 20)


MAX_CHECK_EVERY = 10_000  # steps between host checks (the engine steps this many before each)


MAX_SEED = 2**32 - 1  # what every seeded generator takes (NumPy's legacy seeds are 32-bit)


PUBLISHED_IMAGE = "published: λ 0.07 and lr 0.2; Basile et al.: λ 0.1–0.5, lr 0.01"


PUBLISHED_SET = "published: λ 0.2 and lr 0.001"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _finite_in(value: float, low: float, high: float) -> bool:
    return bool(np.isfinite(value)) and low <= value <= high


def _check_lam_lr(lam: float, lr: float, published: str) -> None:
    _check(
        _finite_in(lam, 0, MAX_LAMBDA),
        f"λ (lam) must be ≥ 0 and ≤ {MAX_LAMBDA:g}, got {lam:g}; {published}",
    )
    _check(
        _finite_in(lr, 0, MAX_LEARNING_RATE) and lr > 0,
        f"learning rate must be > 0 and ≤ {MAX_LEARNING_RATE:g}, got lr = {lr:g}; {published}",
    )


def _check_tolerance(name: str, value: float) -> None:
    _check(_finite_in(value, 0, np.inf), f"{name} must be a finite number ≥ 0, got {value:g}")


def _check_at_most(name: str, value: int, high: int, usual: str) -> None:
    _check(value <= high, f"{name} must be ≤ {high}, got {value}; {usual}")


@dataclass(frozen=True)
class ImageMaskConfig:
    """Settings for single-image masks; defaults are the published ones (METHOD.md §2).

    ``schedule``:
        ``published`` (default) reproduces what the reference code really did: a one-cycle
        schedule sized for 20 000 × 200 steps, so within 20 000 steps it never leaves warm-up
        and the learning rate stays near ``lr / 25`` (0.008 → 0.0092 for lr 0.2), with Adam's
        beta1 near 0.95 as OneCycleLR's momentum cycling sets it. ``nominal`` is the schedule
        the code meant: one cycle over ``max_steps``. ``constant`` keeps ``lr`` throughout
        (the Basile variant).

    Stop rule (``invariance``): the prediction is unchanged, the invariance term changed by at
    most ``invariance_tol`` and the kept fraction by at most ``kept_tol`` since the previous
    step, for ``patience`` steps in a row; or ``max_steps``.
    Stop rule (``basile``): at least ``min_steps`` and the loss within ``loss_tol`` of the mean
    of its last ``loss_window`` values; or ``max_steps``.

    ``component``: what the mask modulates (:data:`fourier_masks.core.spectra.COMPONENTS`): the magnitude
    (the published mask) or the phase.

    ``settle_after``: from this step on the learning rate anneals (cosine) to zero at
    ``max_steps``, so a mask that still jitters around its optimum settles there instead of
    running to the limit; 0 (the published rule) or ``max_steps`` and above never anneal.
    Masks that stop earlier follow exactly the trajectory they would without it.

    Each image's result is its final mask, as the published code returns it, so whether the
    mask keeps the prediction is measured, not guaranteed: ``prediction_kept`` records whether
    the final mask still gives the target, ``converged`` whether the stop rule was met (else
    ``max_steps`` ended it) and ``steps`` how many steps it took. A mask ended by ``max_steps``
    can have lost the prediction, and rarely a converged one too (the rule judged the mask
    before its last update); Basile et al. keep a map only if ``prediction_kept``.

    ``fallback_to_last_kept`` (off by default; NOT the published behaviour) returns instead,
    for a final mask that lost the prediction, the last earlier mask that kept it (at worst
    the all-ones start), so every returned mask keeps the prediction by construction and
    accuracy on ``M(X)`` tells nothing. It costs one more mask per batch slot.
    """

    objective: str = "invariance"
    lam: float = 0.07
    lr: float = 0.2
    schedule: str = "published"
    pct_start: float = 0.1
    max_steps: int = 20_000
    min_steps: int = 0
    patience: int = 300
    invariance_tol: float = 1e-6
    kept_tol: float = 1e-5
    loss_tol: float = 1e-5
    loss_window: int = 20
    per_channel: bool = False
    component: str = "magnitude"
    batch_size: int = 0
    check_every: int = 25
    settle_after: int = 0
    fallback_to_last_kept: bool = False

    def __post_init__(self) -> None:
        _check(self.component in COMPONENTS, f"component must be one of {COMPONENTS}, got {self.component!r}")
        _check(self.objective in OBJECTIVES, f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        _check(self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        _check_lam_lr(self.lam, self.lr, PUBLISHED_IMAGE)
        _check(0 < self.pct_start < 1, f"pct_start must lie in (0, 1), got {self.pct_start}")
        _check(self.max_steps >= 1, f"max_steps must be ≥ 1, got {self.max_steps}")
        _check_at_most("max_steps", self.max_steps, MAX_STEPS, "the published limit is 20 000")
        _check(0 <= self.min_steps <= self.max_steps, "min_steps must lie in [0, max_steps]")
        _check(self.patience >= 1, f"patience must be ≥ 1, got {self.patience}")
        _check_at_most("patience", self.patience, MAX_STEPS, "the published patience is 300 steps")
        _check(self.loss_window >= 1, f"loss_window must be ≥ 1, got {self.loss_window}")
        _check_at_most("loss_window", self.loss_window, MAX_LOSS_WINDOW, "Basile et al. use 20")
        _check(self.batch_size >= 0, f"batch size must be ≥ 0 (0 = automatic), got {self.batch_size}")
        _check_at_most("batch_size", self.batch_size, MAX_BATCH, "give 0 to size it to the memory")
        _check(self.check_every >= 1, f"check_every must be ≥ 1, got {self.check_every}")
        _check_at_most("check_every", self.check_every, MAX_CHECK_EVERY, "the default is 25")
        _check(self.settle_after >= 0, f"settle_after must be ≥ 0, got {self.settle_after}")
        for name in ("invariance_tol", "kept_tol", "loss_tol"):
            _check_tolerance(name, getattr(self, name))

    @classmethod
    def basile(cls, image_size: int, **changes: Any) -> ImageMaskConfig:
        """Basile et al.'s objective and schedule: λ 0.5 below 128 px (their 32×32 value),
        0.1 from 128 px up (their 224×224 value); Adam lr 0.01; 500 to 5000 steps."""
        defaults = dict(
            objective="basile",
            lam=0.5 if image_size < 128 else 0.1,
            lr=0.01,
            schedule="constant",
            min_steps=500,
            max_steps=5000,
        )
        return cls(**{**defaults, **changes})

    @classmethod
    def fast(cls, **changes: Any) -> ImageMaskConfig:
        """The published objective, schedule and stop rule, but masks still learning at step
        2 000 settle (learning rate annealed to zero) by step 3 000 instead of running to 20 000.

        Not the default: the app and the command line run the published rule unless asked
        (``--rule fast``, the app's “Fast” preset).

        Why: with the published rule a few masks jitter around their optimum, above the rule's
        1e-5 tolerance, until the 20 000-step limit, and they cost more than all the others
        together. Masks that stop before step 2 000 are the published ones exactly; the others
        end less sparse. Measured on the built-in shapes (small CNN, 64×64, 64 images;
        ``benchmarks/speedup-cpu-small_cnn.csv``, written by ``benchmarks/speedup.py``): 53 of
        the 64 masks stopped before step 2 000; the other 11 kept 1.00 to 4.85 times the
        published rule's fraction of the spectrum (median 1.07; 7 of them within 10 %, the
        largest ratios among the 7 that the published rule ran to 20 000 steps); 60 of the 64
        (94 %) are within 10 % of the published kept fraction, and the job took 2.3 times fewer
        steps, its longest mask 3 000 instead of 20 000 (see ``docs/performance.md``)."""
        max_steps = changes.get("max_steps", 3000)
        return cls(**{**dict(settle_after=min(2000, 2 * max_steps // 3), max_steps=3000), **changes})

    def replace(self, **changes: Any) -> ImageMaskConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SetMaskConfig:
    """Settings for dataset and class masks; defaults are the published ones.

    Adam with a one-cycle schedule (10 % warm-up) over ``max_epochs`` passes of the set. Stop
    when the masked accuracy is at least ``accuracy_ratio`` of the unmasked accuracy and the
    kept fraction changed by at most ``kept_tol`` per epoch for ``patience`` epochs in a row.
    Masked accuracy is measured over the whole set after each epoch with the current mask.

    If ``max_epochs`` run out before the rule holds, the result is the last end-of-epoch mask
    that met the accuracy criterion (the sparsest such mask, as the kept fraction only falls),
    so a returned mask always preserves performance when any mask did. The result says which
    case happened: ``converged`` (the stop rule was met), ``epoch_kept`` (the epoch whose mask
    was returned) and ``accuracy_met`` (whether any epoch met the accuracy criterion).
    """

    lam: float = 0.2
    lr: float = 1e-3
    pct_start: float = 0.1
    max_epochs: int = 100
    batch_size: int = 128
    accuracy_ratio: float = 0.99
    kept_tol: float = 1e-5
    patience: int = 7
    per_channel: bool = False
    component: str = "magnitude"
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.component in COMPONENTS, f"component must be one of {COMPONENTS}, got {self.component!r}")
        _check_lam_lr(self.lam, self.lr, PUBLISHED_SET)
        _check(0 < self.pct_start < 1, f"pct_start must lie in (0, 1), got {self.pct_start}")
        _check(self.max_epochs >= 1, f"max_epochs must be ≥ 1, got {self.max_epochs}")
        _check_at_most("max_epochs", self.max_epochs, MAX_EPOCHS, "the published limit is 100")
        _check(self.batch_size >= 1, f"batch size must be ≥ 1, got {self.batch_size}")
        _check(0 < self.accuracy_ratio <= 1, "accuracy_ratio must lie in (0, 1]")
        _check(self.patience >= 1, f"patience must be ≥ 1, got {self.patience}")
        _check_tolerance("kept_tol", self.kept_tol)
        _check(0 <= self.seed <= MAX_SEED, f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    def replace(self, **changes: Any) -> SetMaskConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def adam_safe(grad: torch.Tensor) -> torch.Tensor:
    """Per row of ``grad``, whether Adam can take it: finite, and its square too. A gradient
    beyond √max overflows Adam's second moment and freezes the mask without a NaN anywhere
    (NaN compares False, so it is refused here too)."""
    return grad.abs().flatten(1).amax(1) < math.sqrt(torch.finfo(grad.dtype).max)


def diverged(config: ImageMaskConfig | SetMaskConfig, what: str) -> NonFiniteError:
    """The error for an optimisation whose loss, gradient or mask became NaN or Inf (``what``
    says which, and where). Learners check the model on the clean images first (a model
    that is not finite there has corrupt weights, and says so), so what is left is the
    settings that drive each step: λ and the learning rate."""
    published = PUBLISHED_IMAGE if isinstance(config, ImageMaskConfig) else PUBLISHED_SET
    return NonFiniteError(
        f"the mask optimisation diverged at λ (lam) = {config.lam:g}, learning rate (lr) = {config.lr:g} "
        f"({what}; the model's outputs on the clean images are finite, so its weights are fine); "
        f"use a smaller λ or learning rate; {published}"
    )


def check_images(images: torch.Tensor, model: Classifier) -> None:
    info = model.info
    if images.ndim != 4:
        raise ConfigError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if images.shape[1] != info.in_channels:
        raise ConfigError(
            f"the model expects {info.in_channels}-channel images but got {images.shape[1]} channel(s); "
            f"load the images with channels={info.in_channels} (the loaders convert gray and colour)"
        )
    if images.shape[0] == 0:
        raise ConfigError("no images to learn masks for")
    if not isinstance(images, Pixels) and not torch.isfinite(images).all():  # 8-bit pixels always are
        raise NonFiniteError("the images contain NaN or Inf values; check how they were made or loaded")
