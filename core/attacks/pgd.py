"""PGD: signed-gradient steps projected back onto the ε-ball around the image."""

from __future__ import annotations

import torch
from torch import nn

from .attack import Attack


class PGD(Attack):
    r"""PGD, from 'Towards Deep Learning Models Resistant to Adversarial Attacks'
    [https://arxiv.org/abs/1706.06083]: from a uniformly random point of the ε-ball, ``steps``
    steps of ``alpha`` along the sign of the loss gradient, each projected back onto the
    ε-ball and into [0, 1].

    Distance measure: L∞.

    Arguments:
        model (nn.Module): model to attack.
        eps (float): radius of the ball, the most any pixel changes (pixel units). (Default: 8/255)
        alpha (float): step size (pixel units). (Default: 2/255)
        steps (int): number of steps. (Default: 10)
        random_start (bool): start from a uniformly random point of the ball instead of the
            image itself. (Default: True)

    Shape:
        - images: :math:`(N, C, H, W)` in [0, 1].
        - labels: :math:`(N)` class indices.
        - output: :math:`(N, C, H, W)` in [0, 1].

    Examples:
        >>> attack = PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)
        >>> adversarial = attack(images, labels)
    """

    def __init__(
        self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10, random_start: bool = True
    ) -> None:
        super().__init__(model)
        self.eps = eps
        self.alpha = alpha
        self.steps = steps
        self.random_start = random_start

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        adversarial = images
        if self.random_start:
            adversarial = (images + torch.empty_like(images).uniform_(-self.eps, self.eps)).clamp(0, 1)
        for _ in range(self.steps):
            stepped = adversarial + self.alpha * self.loss_gradient(adversarial, labels).sign()
            delta = (stepped - images).clamp(-self.eps, self.eps)
            adversarial = (images + delta).clamp(0, 1)
        return adversarial
