"""Per-slot Adam and one-cycle schedule for learning many independent masks in one batch.

``torch.optim.Adam`` + ``OneCycleLR`` drive a single schedule for all parameters. Learning a
batch of per-image masks where each slot starts when its image enters the batch (finished
masks are replaced by waiting images) needs a schedule position per slot, so we replicate the
two algorithms element-wise with a step counter per slot. The arithmetic follows PyTorch's
implementations (including OneCycleLR's beta1 cycling); tests check the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import PUBLISHED_SCHEDULE_STEPS, ImageMaskConfig


def wide_float(device: torch.device) -> torch.dtype:
    """float64 for schedule arithmetic, except on Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


@dataclass(frozen=True)
class OneCycle:
    """PyTorch's two-phase cosine ``OneCycleLR`` as a pure function of the step index.

    ``lr_beta1(step)`` returns the learning rate and Adam ``beta1`` used for the optimiser
    step that follows ``step`` scheduler steps (0 for the first update), as ``OneCycleLR``
    with ``cycle_momentum=True`` sets them.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.1
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def lr_beta1(self, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        step = step.to(wide_float(step.device)).clamp(max=self.total_steps)
        initial_lr = self.max_lr / self.div_factor
        min_lr = initial_lr / self.final_div_factor
        warm_end = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        in_warmup = step <= warm_end
        pct = torch.where(in_warmup, step / warm_end, (step - warm_end) / (last - warm_end))
        cos_out = torch.cos(math.pi * pct) + 1

        def anneal(start: float | torch.Tensor, end: float | torch.Tensor) -> torch.Tensor:
            return end + (start - end) / 2.0 * cos_out

        lr = torch.where(in_warmup, anneal(initial_lr, self.max_lr), anneal(self.max_lr, min_lr))
        beta1 = torch.where(
            in_warmup,
            anneal(self.max_momentum, self.base_momentum),
            anneal(self.base_momentum, self.max_momentum),
        )
        return lr, beta1


class BatchedAdam:
    """Adam over a ``(B, ...)`` parameter where each slot ``b`` has its own step count.

    Slots update only where ``active`` is true, so a finished mask stays exactly as it was
    until it is harvested, and a new image can take its slot via :meth:`reset`.
    """

    def __init__(self, param: torch.Tensor, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.param = param
        self.beta2 = beta2
        self.eps = eps
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = torch.zeros(param.shape[0], dtype=torch.int64, device=param.device)

    def reset(self, slots: torch.Tensor, value: float = 1.0) -> None:
        """Start fresh optimisation in ``slots`` with the parameter filled with ``value``."""
        self.param[slots] = value
        self.exp_avg[slots] = 0
        self.exp_avg_sq[slots] = 0
        self.steps[slots] = 0

    @torch.no_grad()
    def step(
        self,
        grad: torch.Tensor,
        lr: torch.Tensor,
        beta1: torch.Tensor,
        active: torch.Tensor,
    ) -> None:
        """One update of the active slots; ``lr``, ``beta1`` and ``active`` have shape ``(B,)``."""
        view = (-1,) + (1,) * (self.param.ndim - 1)
        act = active.view(view)
        self.steps += active.to(self.steps.dtype)
        wide = wide_float(self.param.device)
        t = self.steps.clamp(min=1).to(wide)
        b1 = beta1.view(view).to(self.param.dtype)
        new_avg = self.exp_avg.lerp(grad, 1 - b1)
        new_sq = self.exp_avg_sq * self.beta2 + (1 - self.beta2) * grad * grad
        self.exp_avg = torch.where(act, new_avg, self.exp_avg)
        self.exp_avg_sq = torch.where(act, new_sq, self.exp_avg_sq)
        bias1 = 1 - beta1.to(wide) ** t
        bias2_sqrt = torch.sqrt(1 - self.beta2**t)
        step_size = (lr.to(wide) / bias1).to(self.param.dtype).view(view)
        denom = self.exp_avg_sq.sqrt() / bias2_sqrt.to(self.param.dtype).view(view) + self.eps
        update = step_size * self.exp_avg / denom
        self.param.sub_(torch.where(act, update, torch.zeros_like(update)))


def schedule_for(config: ImageMaskConfig) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    if config.schedule == "constant":

        def constant(steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            ones = torch.ones_like(steps, dtype=wide_float(steps.device))
            return ones * config.lr, ones * 0.9

        return constant
    total = PUBLISHED_SCHEDULE_STEPS if config.schedule == "published" else config.max_steps
    cycle = OneCycle(config.lr, max(total, 2), config.pct_start).lr_beta1
    if not 0 < config.settle_after < config.max_steps:
        return cycle
    start, length = config.settle_after, config.max_steps - config.settle_after

    def settling(steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lr, beta1 = cycle(steps)
        progress = ((steps.to(lr.dtype) - start) / length).clamp(0.0, 1.0)
        return lr * (1 + torch.cos(math.pi * progress)) / 2, beta1

    return settling
