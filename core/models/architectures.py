"""The networks a classifier can be built from: the small CNN of the study and torchvision's
classifiers (first convolution adapted to the input channels), and the fused, channels-last
copy the mask learners run."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from ..errors import ConfigError
from ..logs import notice_once
from .classifier import Classifier, ModelInfo

log = logging.getLogger(__name__)


class SmallCNN(nn.Module):
    """Four conv–BN–ReLU blocks and global average pooling: trains in seconds on a CPU.

    About 3 M multiply-adds per 32×32 image, so a whole study runs on a laptop; the design
    keeps the frequency behaviour of a real CNN (strided pooling, non-linearities).
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        widths = (width, 2 * width, 4 * width, 4 * width)
        layers: list[nn.Module] = []
        channels = in_channels
        for i, out in enumerate(widths):
            layers += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def adapt_input_channels(net: nn.Module, in_channels: int) -> nn.Module:
    """Replace the first ``Conv2d`` so the network takes ``in_channels`` input channels."""
    for parent in net.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != in_channels:
                    setattr(
                        parent,
                        child_name,
                        nn.Conv2d(
                            in_channels,
                            child.out_channels,
                            # typed tuple[int, ...] on _ConvNd; always pairs on a Conv2d
                            kernel_size=cast("tuple[int, int]", child.kernel_size),
                            stride=cast("tuple[int, int]", child.stride),
                            padding=cast("str | tuple[int, int]", child.padding),
                            dilation=cast("tuple[int, int]", child.dilation),
                            groups=1,
                            bias=child.bias is not None,
                        ),
                    )
                return net
    raise ConfigError(f"{type(net).__name__} has no Conv2d layer to adapt to {in_channels} channels")


def _torchvision_builder(arch: str) -> Callable[[int, int], nn.Module]:
    def build(in_channels: int, num_classes: int) -> nn.Module:
        import torchvision

        try:
            net = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
        except ValueError as exc:
            raise ConfigError(f"torchvision has no classification model named {arch!r}") from exc
        return adapt_input_channels(net, in_channels)

    return build


ARCHITECTURES: dict[str, Callable[[int, int], nn.Module]] = {
    "small_cnn": lambda c, k: SmallCNN(c, k),
    "vgg11_bn": _torchvision_builder("vgg11_bn"),
    "resnet18": _torchvision_builder("resnet18"),
}


def build_network(arch: str, in_channels: int, num_classes: int) -> nn.Module:
    """A freshly initialised network: one of :data:`ARCHITECTURES` or any torchvision name."""
    builder = ARCHITECTURES.get(arch) or _torchvision_builder(arch)
    return builder(in_channels, num_classes)


def build_classifier(info: ModelInfo) -> Classifier:
    """A fresh classifier for ``info``, run once on blank images of its size: a network whose
    pooling shrinks a small image to nothing (vgg11_bn at 16 px) is refused here, in words,
    rather than at its first training batch."""
    net = build_network(info.arch, info.in_channels, info.num_classes)
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, info.in_channels, info.image_size, info.image_size))
    except RuntimeError as exc:
        raise ConfigError(
            f"{info.arch} cannot take {info.image_size}-px images ({str(exc).strip().splitlines()[-1][:200]}); "
            "give a larger image size, or an architecture made for small images (small_cnn)"
        ) from None
    return Classifier(net.train(), info)


class _ChannelsLast(nn.Module):
    """Runs ``net`` on channels-last (NHWC) tensors, the layout fast convolution kernels want."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))


def fused_for_inference(net: nn.Module) -> nn.Module:
    """A frozen, faster copy of ``net`` for the tens of thousands of passes of mask learning:
    each Conv2d+BatchNorm pair folded into one convolution, and channels-last memory layout.

    Both are exact up to float rounding. Forward+backward at a batch of 64, 64×64, 2 CPU cores
    (``benchmarks/speed-cpu-small_cnn.csv`` and ``speed-cpu-resnet18.csv``, written by
    ``benchmarks/speed.py``): the small CNN 1 145 → 2 153 images/s, ResNet18 281 → 321.
    Networks that torch.fx cannot trace (TorchScript, dynamic control flow) are used as they
    are, and the user is told once per network class, since that costs them time (the callers
    build many of these copies per run).
    """
    from torch.fx.experimental.optimization import fuse

    try:
        fused = fuse(copy.deepcopy(net).eval())
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "use the original"
        # A TorchScript module's own class is RecursiveScriptModule; original_name is the scripted class.
        name = getattr(net, "original_name", None) or type(net).__name__
        log.debug("torch.fx cannot trace %s: %s", name, exc)
        notice_once(
            f"unfused:{name}",
            f"torch.fx cannot trace the network {name}, so mask learning runs it unfused (slower, same results)",
        )
        return net
    for p in fused.parameters():
        p.requires_grad_(False)
    return _ChannelsLast(fused).eval()
