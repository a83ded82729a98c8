"""FGSM: one signed-gradient step of size ε."""

from __future__ import annotations

import torch
from torch import nn

from .attack import Attack


class FGSM(Attack):
    r"""FGSM, from 'Explaining and Harnessing Adversarial Examples'
    [https://arxiv.org/abs/1412.6572]: the image moved by ε along the sign of the loss
    gradient, then clipped to [0, 1].

    Distance measure: L∞.

    Arguments:
        model (nn.Module): model to attack.
        eps (float): the step, the most any pixel changes (pixel units). (Default: 8/255)

    Shape:
        - images: :math:`(N, C, H, W)` in [0, 1].
        - labels: :math:`(N)` class indices.
        - output: :math:`(N, C, H, W)` in [0, 1].

    Examples:
        >>> attack = FGSM(model, eps=8 / 255)
        >>> adversarial = attack(images, labels)
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255) -> None:
        super().__init__(model)
        self.eps = eps

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        step = self.eps * self.loss_gradient(images, labels).sign()
        return (images + step).clamp(0, 1)
