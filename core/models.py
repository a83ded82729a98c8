"""Classifier architectures and the model wrapper that carries normalisation and metadata.

Images enter every model as ``(N, C, H, W)`` floats in ``[0, 1]``; the model normalises them
itself (:class:`Normalization`), so attacks work in pixel units and the mask layer can act on
the normalised image exactly where the published code put it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from .errors import ConfigError, ModelRunError, NonFiniteError

__all__ = [
    "ARCHITECTURES",
    "IMAGENET_CLASSES",
    "PAPER_MEAN",
    "PAPER_STD",
    "ModelInfo",
    "Normalization",
    "Classifier",
    "SmallCNN",
    "build_network",
    "build_classifier",
    "adapt_input_channels",
    "frozen",
    "fused_for_inference",
    "imagenet_categories",
    "read_class_names",
    "predict",
    "raise_if_nonfinite",
    "model_device",
    "run_checked",
]

# Grayscale ImageNet statistics used by the main paper.
PAPER_MEAN = 0.449
PAPER_STD = 0.226

# A model with this many outputs and no class names of its own is taken to be an ImageNet-1k
# classifier (every torchvision ImageNet model, most foreign checkpoints).
IMAGENET_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k category names in class-index order (index 285 is "Egyptian cat"),
    from the metadata torchvision ships with its weight descriptions: nothing is downloaded.
    Empty when torchvision is missing or has no such metadata."""
    try:
        from torchvision.models import ResNet18_Weights

        categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    except (ImportError, AttributeError, KeyError):
        return ()
    names = tuple(str(name) for name in categories)
    return names if len(names) == IMAGENET_CLASSES else ()


def read_class_names(path: str | os.PathLike, num_classes: int) -> tuple[str, ...]:
    """The class names in a text file, in class-index order, checked against ``num_classes``.

    Either one name per line (blank lines and lines starting with ``#`` are skipped; names are
    stripped, and may repeat), or JSON: a list of names, or an object from class index to
    name (or to ``[id, name]``, like Keras' ``imagenet_class_index.json``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read class names from {path}: {reason}") from None
    if text.lstrip().startswith(("[", "{")):
        names = _json_class_names(text, path)
    else:
        lines = (line.strip() for line in text.splitlines())
        names = tuple(line for line in lines if line and not line.startswith("#"))
    if len(names) != num_classes:
        raise ConfigError(f"{path.name} holds {len(names)} class names, but the model has {num_classes} classes")
    return names


def _json_class_names(text: str, path: Path) -> tuple[str, ...]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(data, dict):
        try:
            ordered = sorted(data.items(), key=lambda item: int(item[0]))
        except ValueError:
            raise ConfigError(f"{path.name}: a JSON object of class names needs class indices as keys") from None
        if [int(key) for key, _ in ordered] != list(range(len(ordered))):
            raise ConfigError(f"{path.name}: the class indices must run from 0 without gaps")
        data = [value[-1] if isinstance(value, list) and value else value for _, value in ordered]
    if not isinstance(data, list) or not all(isinstance(name, str) and name.strip() for name in data):
        raise ConfigError(f"{path.name}: expected a JSON list of non-empty class names")
    return tuple(name.strip() for name in data)


class Normalization(nn.Module):
    """Per-channel ``(x − mean) / std`` with its inverse."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ConfigError("normalisation mean and std must have one value per channel")
        if any(s <= 0 for s in std):
            raise ConfigError(f"normalisation std must be positive, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


@dataclass(frozen=True)
class ModelInfo:
    """Everything needed to rebuild, use and describe a model; stored in checkpoints."""

    arch: str
    in_channels: int
    num_classes: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = ()
    name: str = ""
    source: str = "fourier-masks"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.in_channels < 1:
            raise ConfigError(f"in_channels must be positive, got {self.in_channels}")
        if self.num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        if self.image_size < 8:
            raise ConfigError(f"image_size must be at least 8 pixels, got {self.image_size}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ConfigError(
                f"normalisation has {len(self.mean)} mean / {len(self.std)} std values for "
                f"{self.in_channels} channel(s)"
            )
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(f"{len(self.class_names)} class names given for {self.num_classes} classes")

    @property
    def display_name(self) -> str:
        return self.name or self.arch

    def labels(self) -> tuple[str, ...]:
        """Class names: the recorded ones; else, for a 1000-class model, the ImageNet-1k
        categories (:func:`imagenet_categories`); else ``class 0 … class K−1``."""
        if self.class_names:
            return self.class_names
        if self.num_classes == IMAGENET_CLASSES and (imagenet := imagenet_categories()):
            return imagenet
        return tuple(f"class {k}" for k in range(self.num_classes))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("mean", "std", "class_names"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ModelInfo:
        return dataclasses.replace(self, **changes)


class Classifier(nn.Module):
    """A network with its normalisation in front: ``forward(x) = net(normalization(x))``."""

    def __init__(self, net: nn.Module, info: ModelInfo) -> None:
        super().__init__()
        self.net = net
        self.normalization = Normalization(info.mean, info.std)
        self.info = info

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalization(x))


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
    return Classifier(build_network(info.arch, info.in_channels, info.num_classes), info)


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode with parameter gradients off; the caller's state is restored after."""
    was_training = model.training
    requires = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), requires):
            p.requires_grad_(flag)
        model.train(was_training)


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

    Both are exact up to float rounding (~1e-7 relative). Measured on 2 CPU cores at 64×64
    (``tests/benchmarks/speed.py``): the small CNN's forward+backward goes from 68 to 30 ms per
    batch of 64; ResNet18's changes little. Networks that torch.fx cannot trace (TorchScript,
    dynamic control flow) are used as they are.
    """
    from torch.fx.experimental.optimization import fuse

    try:
        fused = fuse(copy.deepcopy(net).eval())
    except Exception:  # noqa: BLE001 - any tracing failure means "use the original"
        return net
    for p in fused.parameters():
        p.requires_grad_(False)
    return _ChannelsLast(fused).eval()


def raise_if_nonfinite(logits: torch.Tensor, what: str) -> None:
    if not torch.isfinite(logits).all():
        raise NonFiniteError(
            f"the model produced NaN or Inf outputs {what}; its weights are probably corrupt "
            "(check the checkpoint, or retrain)"
        )


def run_checked(net: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    """``net(x)``, with a model's own failure (a TorchScript graph that raises, a shape it
    does not accept) and NaN/Inf outputs turned into errors that say what happened."""
    try:
        logits = net(x)
    except (RuntimeError, ValueError, TypeError, AssertionError, torch.jit.Error) as exc:
        first = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        raise ModelRunError(
            f"the model failed when run {what} (input {tuple(x.shape)}): {first}. Check that it takes "
            "images of this size and channel count, and that the file is the model you meant"
        ) from None
    raise_if_nonfinite(logits, what)
    return logits


@torch.no_grad()
def predict(
    model: Classifier, images: torch.Tensor, *, batch_size: int = 256, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``model`` for ``images`` (in [0,1]), batched, on CPU; checks for NaN/Inf."""
    device = device or model_device(model)
    outputs = []
    with frozen(model):
        for start in range(0, images.shape[0], batch_size):
            logits = run_checked(model, images[start : start + batch_size].to(device), "on the given images")
            outputs.append(logits.float().cpu())
    logits = torch.cat(outputs)
    return logits, logits.argmax(dim=1)


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for an empty model)."""
    for tensor in model.parameters():
        return tensor.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")
