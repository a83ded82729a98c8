"""The base of our attacks: what every algorithm needs from the model, done once."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NonFiniteError
from ..models.classifier import frozen


class Attack:
    r"""Base class of the attacks: ``attack(images, labels)`` returns adversarial images.

    Images are in [0, 1] and the model normalises them itself (as :class:`Classifier` does),
    so every ε and step size is in pixel units. The model runs in eval mode, so that
    batch-norm statistics and dropout do not change while it is attacked; its parameters stop
    requiring gradients and gradients are taken with respect to the input only, so attacking
    never writes ``.grad`` on the model. The caller's ``model.training`` and each
    parameter's ``requires_grad`` are restored afterwards (training attacks its model
    between optimiser steps).

    Arguments:
        model (nn.Module): model to attack; takes images in [0, 1], returns logits.

    Shape:
        - images: :math:`(N, C, H, W)` in [0, 1].
        - labels: :math:`(N)` class indices.
        - output: :math:`(N, C, H, W)` in [0, 1].
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._finite: torch.Tensor | None = None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The adversarial images; a :class:`NonFiniteError` if a gradient the attack took
        was NaN or Inf (the sign of NaN is 0 in PyTorch, so the attack would silently stand
        still). The check is one host sync per call, not one per step."""
        self._finite = torch.ones((), dtype=torch.bool, device=images.device)
        # Gradients are needed even when the caller evaluates under torch.no_grad().
        with frozen(self.model), torch.enable_grad():
            adversarial = self.forward(images.detach(), labels.detach()).detach()
        if not bool(self._finite):
            raise NonFiniteError(
                "the model's input gradient is NaN or Inf on the images being attacked, so the attack cannot follow it"
            )
        return adversarial

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The algorithm itself, run by ``__call__`` with the model prepared."""
        raise NotImplementedError

    def checked(self, gradient: torch.Tensor) -> torch.Tensor:
        """``gradient``, noted for the finiteness check of ``__call__``."""
        if self._finite is not None:
            self._finite &= torch.isfinite(gradient).all()
        return gradient

    def loss_gradient(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The gradient of the mean cross-entropy with respect to ``images``."""
        images = images.detach().requires_grad_(True)
        loss = F.cross_entropy(self.model(images), labels)
        return self.checked(torch.autograd.grad(loss, images)[0])
