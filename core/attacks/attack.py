"""The base of our attacks: what every algorithm needs from the model, done once."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # Gradients are needed even when the caller evaluates under torch.no_grad().
        with frozen(self.model), torch.enable_grad():
            return self.forward(images.detach(), labels.detach()).detach()

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The algorithm itself, run by ``__call__`` with the model prepared."""
        raise NotImplementedError

    def loss_gradient(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The gradient of the mean cross-entropy with respect to ``images``."""
        images = images.detach().requires_grad_(True)
        loss = F.cross_entropy(self.model(images), labels)
        return torch.autograd.grad(loss, images)[0]
