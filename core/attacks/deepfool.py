"""DeepFool: repeated steps to the nearest decision boundary of the linearised model."""

from __future__ import annotations

import torch
from torch import nn

from .attack import Attack


class DeepFool(Attack):
    r"""DeepFool, from 'DeepFool: A Simple and Accurate Method to Fool Deep Neural Networks'
    [https://arxiv.org/abs/1511.04599]: a minimal perturbation, not bounded by an ε.

    Each step linearises the model at the current image, finds the wrong class whose
    boundary is nearest, :math:`\hat l = \arg\min_k |f'_k| / \|w'_k\|_2` with
    :math:`f'_k = f_k - f_y` and :math:`w'_k = \nabla f_k - \nabla f_y`, and moves the image
    :math:`(1 + \text{overshoot})\,|f'_{\hat l}|\, w'_{\hat l} / \|w'_{\hat l}\|_2^2`, clipped
    to [0, 1]. An image stops as soon as the model misclassifies it, or after ``steps``
    steps. As in torchattacks, each step starts from the previous (clipped) image; the
    images of a batch are stepped together.

    Distance measure: L2.

    Arguments:
        model (nn.Module): model to attack.
        steps (int): most steps per image. (Default: 50)
        overshoot (float): how far past the linearised boundary each step goes, so that
            the image crosses the real one. (Default: 0.02)

    Shape:
        - images: :math:`(N, C, H, W)` in [0, 1].
        - labels: :math:`(N)` class indices.
        - output: :math:`(N, C, H, W)` in [0, 1].

    Examples:
        >>> attack = DeepFool(model, steps=50, overshoot=0.02)
        >>> adversarial = attack(images, labels)
    """

    def __init__(self, model: nn.Module, steps: int = 50, overshoot: float = 0.02) -> None:
        super().__init__(model)
        self.steps = steps
        self.overshoot = overshoot

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        adversarial = images.clone()
        active = torch.arange(len(images), device=images.device)  # still classified right
        for _ in range(self.steps):
            x = adversarial[active].requires_grad_(True)
            logits = self.model(x)
            right = logits.argmax(1) == labels[active]
            if not right.any():
                break
            step = self._boundary_step(x, logits, labels[active])
            active = active[right]
            adversarial[active] = (x.detach() + step)[right].clamp(0, 1)
        return adversarial

    def _boundary_step(self, x: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each image's step past its nearest linearised boundary.

        One backward pass per class gives that class's gradient for every image at once; the
        nearest boundary is tracked as the classes go, so memory stays that of a few batches
        of images instead of a Jacobian per image (1000 of them for an ImageNet model).
        """
        rows = torch.arange(len(x), device=x.device)
        label_logit = logits[rows, labels]
        label_grad = self.checked(torch.autograd.grad(label_logit.sum(), x, retain_graph=True)[0])
        nearest = torch.full_like(label_logit, torch.inf)
        nearest_f = torch.zeros_like(label_logit)
        nearest_w = torch.zeros_like(x)
        nearest_norm = torch.zeros_like(label_logit)
        classes = logits.shape[1]
        for k in range(classes):
            f = (logits[:, k] - label_logit).detach()
            w = self.checked(torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k + 1 < classes)[0]) - label_grad
            norm = w.flatten(1).norm(dim=1)
            distance = (f.abs() / norm).masked_fill(labels == k, torch.inf)
            # Strictly nearer only: on a tie the lowest class wins, as with torch.min.
            nearer = distance < nearest
            nearest = torch.where(nearer, distance, nearest)
            nearest_f = torch.where(nearer, f, nearest_f)
            nearest_norm = torch.where(nearer, norm, nearest_norm)
            nearest_w = torch.where(nearer.view(-1, 1, 1, 1), w, nearest_w)
        # An image whose every class gradient equals its label's (a flat or saturated model)
        # has no boundary in reach: it stays where it is instead of becoming 0/0 = NaN.
        norm = nearest_norm.view(-1, 1, 1, 1)
        reachable = norm > 0
        delta = nearest_f.abs().view(-1, 1, 1, 1) * nearest_w / torch.where(reachable, norm, 1.0) ** 2
        return (1 + self.overshoot) * torch.where(reachable, delta, 0.0)
