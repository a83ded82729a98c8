"""What a per-image mask minimises and when it stops (METHOD.md §2), one class per objective.

``invariance`` (Karantzas et al., the main paper)::

    L(M) = exp((ℓ(Φ(x_M), y) − ℓ(Φ(x), y))²) + λ ‖M‖₁ / ‖M₀‖₁

``basile`` (Basile et al.)::

    L(M) = ℓ(Φ(x_M), y) + λ ‖M‖₁            (un-normalised sum)

The slot engine (:mod:`.engine`) runs every objective the same way: :meth:`Objective.loss`
on a step's outputs, :meth:`Objective.rule_met` after the update, :meth:`Objective.reset` when
a slot takes a new image and :meth:`Objective.compact` when the batch shrinks. An objective's
stop-rule state has one row per batch slot and lives on the device, so stop rules never make
the host wait.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .config import ImageMaskConfig


class Objective:
    """A per-image objective for a batch of ``size`` slots (the state of its stop rule)."""

    STATE: tuple[str, ...] = ()  # per-slot tensors, compacted with the batch

    def __init__(self, config: ImageMaskConfig, size: int, device: torch.device, dtype: torch.dtype) -> None:
        self.config = config

    def loss(
        self, ce: torch.Tensor, clean_loss: torch.Tensor, mask: torch.Tensor, kept: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the loss of each slot, its data term) from the masked cross-entropy ``ce``, the
        clean loss, the mask and its kept fraction (the mean of each slot's mask)."""
        raise NotImplementedError

    def rule_met(
        self,
        term: torch.Tensor,
        loss: torch.Tensor,
        kept: torch.Tensor,
        prediction_kept: torch.Tensor,
        steps: torch.Tensor,
        active: torch.Tensor,
    ) -> torch.Tensor:
        """Per slot, whether the stop rule holds after this step (updating its state for the
        ``active`` slots only); ``min_steps`` and ``max_steps`` are the engine's."""
        raise NotImplementedError

    def reset(self, index: torch.Tensor) -> None:
        """Start the rule afresh for the slots ``index`` (a new image in each)."""

    def compact(self, rows: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Keep the rows of the slots the batch keeps (``rows`` picks them)."""
        for name in self.STATE:
            setattr(self, name, rows(getattr(self, name)))


class Invariance(Objective):
    """The main paper's objective. Stops once the prediction is kept and the invariance term
    and the kept fraction changed by at most ``invariance_tol`` and ``kept_tol`` from one step
    to the next, ``patience`` steps in a row."""

    STATE = ("calm", "previous_term", "previous_kept")

    def __init__(self, config: ImageMaskConfig, size: int, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__(config, size, device, dtype)
        self.calm = torch.zeros(size, dtype=torch.int64, device=device)
        self.previous_term = torch.full((size,), float("inf"), device=device, dtype=dtype)
        self.previous_kept = torch.full((size,), float("inf"), device=device, dtype=dtype)

    def loss(self, ce, clean_loss, mask, kept):
        term = torch.exp((ce - clean_loss) ** 2)
        return term + self.config.lam * kept, term

    def rule_met(self, term, loss, kept, prediction_kept, steps, active):
        config = self.config
        calm = (
            prediction_kept
            & ((term - self.previous_term).abs() <= config.invariance_tol)
            & ((kept - self.previous_kept).abs() <= config.kept_tol)
        )
        self.calm = torch.where(active, torch.where(calm, self.calm + 1, 0), self.calm)
        self.previous_term = torch.where(active, term, self.previous_term)
        self.previous_kept = torch.where(active, kept, self.previous_kept)
        return self.calm >= config.patience

    def reset(self, index):
        self.calm[index] = 0
        self.previous_term[index] = float("inf")
        self.previous_kept[index] = float("inf")


class Basile(Objective):
    """Basile et al.'s objective. Stops once the loss is within ``loss_tol`` of the mean of
    its last ``loss_window`` values."""

    STATE = ("window",)

    def __init__(self, config: ImageMaskConfig, size: int, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__(config, size, device, dtype)
        self.window = torch.zeros((size, config.loss_window), device=device, dtype=dtype)

    def loss(self, ce, clean_loss, mask, kept):
        return ce + self.config.lam * mask.sum(dim=(1, 2, 3)), ce

    def rule_met(self, term, loss, kept, prediction_kept, steps, active):
        rows = torch.arange(len(steps), device=steps.device)
        position = (steps - 1) % self.config.loss_window
        self.window[rows, position] = torch.where(active, loss, self.window[rows, position])
        return (steps >= self.config.loss_window) & ((loss - self.window.mean(dim=1)).abs() <= self.config.loss_tol)

    def reset(self, index):
        self.window[index] = 0


OBJECTIVE_CLASSES: dict[str, type[Objective]] = {"invariance": Invariance, "basile": Basile}
