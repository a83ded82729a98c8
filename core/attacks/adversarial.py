"""Adversarial attacks (our PGD, FGSM and DeepFool) configured with ε in pixel units.

Models take images in [0, 1] and normalise inside, so ε, the step size and the clipping to
[0, 1] are all in *pixel* units. The published ε of 0.06 was in normalised units;
:func:`pixel_eps` converts (0.06 × 0.226 ≈ 0.0136). The attacks differentiate with respect
to the input only, so attacking never writes ``.grad`` on the model's parameters; their
results equal torchattacks' (the reference the tests compare against).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, NonFiniteError
from ..models.classifier import PAPER_STD, Classifier, model_device, predict
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from .attack import Attack
from .deepfool import DeepFool
from .fgsm import FGSM
from .pgd import PGD

ATTACKS = ("pgd", "fgsm", "deepfool")


MAX_STEPS = 10_000_000  # far beyond the published 10 (PGD) and 50 (DeepFool)


MAX_SEED = 2**32 - 1  # what every seeded generator takes (NumPy's legacy seeds are 32-bit)


def pixel_eps(eps_normalised: float, std: float = PAPER_STD) -> float:
    """An ε given in normalised units (as in the published code) in [0, 1] pixel units."""
    return eps_normalised * std


@dataclass(frozen=True)
class AttackConfig:
    """An attack; the default is PGD as in the published adversarial training: 10 steps of
    ε/8 from a random start.

    ``method``: ``pgd``, ``fgsm`` (one step of ε) or ``deepfool`` (minimal perturbation,
    unbounded by ε; ``steps`` iterations, overshoot 0.02). ``eps`` and ``alpha`` are in
    [0, 1] pixel units; ``alpha`` 0 means ``eps / 8``.
    """

    eps: float = pixel_eps(0.06)
    alpha: float = 0.0
    steps: int = 10
    random_start: bool = True
    seed: int = 0
    method: str = "pgd"

    def __post_init__(self) -> None:
        if self.method not in ATTACKS:
            raise ConfigError(f"attack must be one of {', '.join(ATTACKS)}, got {self.method!r}")
        if not (np.isfinite(self.eps) and 0 <= self.eps <= 1):
            raise ConfigError(f"PGD ε must lie in [0, 1] (pixel units), got {self.eps}")
        if not (np.isfinite(self.alpha) and 0 <= self.alpha <= 1):
            raise ConfigError(
                f"PGD step size (alpha) must be in [0, 1] pixel units, got {self.alpha:g}; 0 takes ε/8, the published step"
            )
        if self.steps < 1:
            raise ConfigError(f"PGD needs at least 1 step, got {self.steps}")
        if self.steps > MAX_STEPS:
            raise ConfigError(f"steps must be ≤ {MAX_STEPS}, got {self.steps}; PGD's published count is 10")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    @property
    def step_size(self) -> float:
        return self.alpha or self.eps / 8

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def make_attack(model: torch.nn.Module, config: AttackConfig) -> Attack:
    """The attack ``config`` describes, against ``model``."""
    if config.method == "fgsm":
        return FGSM(model, eps=config.eps)
    if config.method == "deepfool":
        return DeepFool(model, steps=config.steps, overshoot=0.02)
    return PGD(model, eps=config.eps, alpha=config.step_size, steps=config.steps, random_start=config.random_start)


def attack_images(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: AttackConfig = AttackConfig(),
    batch_size: int = 256,
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """Untargeted adversarial examples of ``images`` (in [0, 1]) against ``labels``.

    Returns a CPU tensor the shape of ``images``; rows not reached before a cancel are
    the clean images (check ``cancel`` afterwards).
    """
    device = torch.device(device) if device is not None else model_device(model)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    adversarial = images.clone()
    reporter = ProgressReporter("attack", images.shape[0], on_progress, cancel)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        model.to(device)
        attack = make_attack(model, config)
        for start in range(0, images.shape[0], batch_size):
            if reporter.cancelled:
                break
            stop = start + batch_size
            clean = images[start:stop].to(device)
            try:
                attacked = attack(clean, labels[start:stop].to(device))
            except NonFiniteError:
                raise _not_finite(
                    model,
                    clean,
                    config,
                    "met a NaN or Inf input gradient",
                    "check its layers, each must have a finite gradient",
                ) from None
            try:  # so that whoever classifies these images next gets finite outputs
                predict(model, attacked)
            except NonFiniteError:
                raise _not_finite(
                    model, clean, config, "made images on which the model's outputs are NaN or Inf", "try a smaller ε"
                ) from None
            adversarial[start:stop] = attacked.cpu()
            reporter.report(min(stop, images.shape[0]), config.method.upper())
    return adversarial


def _not_finite(model: Classifier, clean: torch.Tensor, config: AttackConfig, what: str, why: str) -> NonFiniteError:
    """The error for an attack that ``what`` (met a NaN gradient, or made images the model is
    not finite on). A model that is not finite on the clean images has corrupt weights, and
    :func:`predict` says so; otherwise ``why`` says what is to blame (the attack's steps are
    bounded: ε and α lie in [0, 1])."""
    predict(model, clean)
    settings = {
        "pgd": f"ε (eps) = {config.eps:g}, step size (alpha) = {config.step_size:g}",
        "fgsm": f"ε (eps) = {config.eps:g}",
        "deepfool": f"{config.steps} steps",
    }[config.method]
    return NonFiniteError(
        f"the {config.method.upper()} attack ({settings}) {what}, though the model's outputs on the clean images "
        f"are finite: {why}"
    )


@dataclass(frozen=True)
class AttackResult:
    """Clean and adversarial accuracy, and the success rate on correctly classified images."""

    clean_accuracy: float
    adversarial_accuracy: float
    success_rate: float
    attacked: int


@torch.no_grad()
def attack_success(
    model: Classifier, clean: torch.Tensor, adversarial: torch.Tensor, labels: torch.Tensor
) -> AttackResult:
    labels = torch.as_tensor(labels, dtype=torch.int64)
    clean_pred = predict(model, clean)[1]
    adv_pred = predict(model, adversarial)[1]
    correct = clean_pred == labels
    flipped = correct & (adv_pred != labels)
    return AttackResult(
        clean_accuracy=correct.float().mean().item(),
        adversarial_accuracy=(adv_pred == labels).float().mean().item(),
        success_rate=(flipped.sum() / correct.sum().clamp(min=1)).item(),
        attacked=int(correct.sum()),
    )
