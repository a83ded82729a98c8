"""The model wrapper: a network with its normalisation inside and the metadata that says what
it takes and predicts.

Images enter every model as ``(N, C, H, W)`` floats in ``[0, 1]``; the model normalises them
itself (:class:`Normalization`), so attacks work in pixel units and the mask layer can act on
the normalised image exactly where the published code put it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ModelMismatchError, ModelRunError, NonFiniteError
from ..limits import limits
from ..logs import notice_once
from ..preparation import Preparation
from .class_names import IMAGENET_CLASSES, imagenet_categories

# Grayscale ImageNet statistics used by the main paper.
PAPER_MEAN = 0.449


PAPER_STD = 0.226


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


# A model's sizes: (least value, the bound in limits() above which it is refused, unit).
SIZE_FIELDS = {
    "in_channels": (1, "max_channels", ""),
    "num_classes": (2, "max_classes", ""),
    "image_size": (8, "max_image_side", " px"),
    "resize_size": (0, "max_image_side", " px"),
}


def size_problem(name: str, value: Any, *, from_file: bool = False) -> str | None:
    """What is wrong with a model's size ``name`` (a key of :data:`SIZE_FIELDS`) and what to
    do, or None; ``from_file``: the value is a file's metadata (a malformed one means the file
    is damaged).

    Sizes read from a file are untrusted: a claimed 60 000-px input or 10⁹ classes would ask
    for gigabytes before anything else could fail, so each is held to
    :func:`~fourier_masks.core.limits.limits`. The text starts with the field's name, so a
    loader can prefix the file it came from."""
    low, bound, unit = SIZE_FIELDS[name]
    fix = "the file is damaged: save or download it again" if from_file else f"give at least {low}{unit}"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} {value!r} is not a whole number; {fix}"
    if value < low:
        return f"{name} {value} is under {low}{unit}; {fix}"
    bounds = limits()
    high = getattr(bounds, bound)
    if value > high:
        return (
            f"{name} {value} is over the bound of {high}{unit}; if the model really is that large, raise "
            f"{bounds.describe(bound)}"
        )
    return None


@dataclass(frozen=True)
class ModelInfo:
    """Everything needed to rebuild, use and describe a model; stored in checkpoints.

    ``image_size`` is the input the model takes; ``resize_size`` and ``interpolation`` say how
    its authors prepare an image for it (shorter side to ``resize_size``, centre crop of
    ``image_size``; 0 = no crop), as :attr:`preparation`. ``build`` says how to rebuild a
    network from a model zoo (library and name or config); empty for ours and torchvision's."""

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
    resize_size: int = 0
    interpolation: str = "bilinear"
    build: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_sizes()
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ConfigError(
                f"normalisation has {len(self.mean)} mean / {len(self.std)} std values for "
                f"{self.in_channels} channel(s)"
            )
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(f"{len(self.class_names)} class names given for {self.num_classes} classes")
        self.preparation  # noqa: B018 - validates resize_size and interpolation

    def _check_sizes(self) -> None:
        for name in SIZE_FIELDS:
            problem = size_problem(name, getattr(self, name))
            if problem:
                raise ConfigError(problem)

    @property
    def preparation(self) -> Preparation:
        """How an image is made this model's input (:class:`~fourier_masks.core.preparation.Preparation`)."""
        return Preparation(self.image_size, self.resize_size, self.interpolation)

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
    info = getattr(net, "info", None)
    _check_scores(logits, x.shape[0], f"model {info.display_name}" if isinstance(info, ModelInfo) else "the model")
    raise_if_nonfinite(logits, what)
    return logits


def _check_scores(output: Any, batch: int, who: str) -> None:
    """A classifier's output is one tensor of class scores, ``(N, K)``: a model returning a
    tuple or dict (detection heads, Hugging Face outputs, auxiliary logits) or a tensor of
    another shape is named as such, with how to make it one."""
    wrap = "wrap it in a module whose forward returns only the class scores (the logits, shape (N, classes))"
    if isinstance(output, (tuple, list)):
        raise ModelMismatchError(
            f"{who} returns a {type(output).__name__} of {len(output)}, not one tensor of class scores; {wrap}, "
            "e.g. model(x)[0]"
        )
    if isinstance(output, dict):
        keys = ", ".join(map(repr, list(output)[:4]))
        raise ModelMismatchError(
            f"{who} returns a dict (keys {keys}), not one tensor of class scores; {wrap}, e.g. model(x)['logits']"
        )
    if not isinstance(output, torch.Tensor):
        raise ModelMismatchError(f"{who} returns a {type(output).__name__}, not a tensor of class scores; {wrap}")
    if output.ndim != 2 or output.shape[0] != batch:
        raise ModelMismatchError(
            f"{who} outputs a {tuple(output.shape)} tensor for {batch} image(s), not one score per class and "
            f"image; {wrap}"
        )


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


def common_input(infos: Mapping[str, ModelInfo]) -> tuple[Preparation, int]:
    """How to prepare one data set for several models, and its channel count: they must take
    the same image size and channels (a :class:`ConfigError` listing each model's input
    otherwise). Where their authors resize or interpolate differently, the first model's
    preparation is used for all, so every model sees the same images, and a notice says so."""
    shapes = {name: (info.image_size, info.in_channels) for name, info in infos.items()}
    if len(set(shapes.values())) > 1:
        listed = "; ".join(f"{name}: {size} px, {channels} channel(s)" for name, (size, channels) in shapes.items())
        raise ConfigError(f"the models take different images ({listed}), so no one data set fits them all")
    preparations = {name: info.preparation for name, info in infos.items()}
    first_name, first = next(iter(preparations.items()))
    others = [f"{name}: {p.describe()}" for name, p in preparations.items() if p != first]
    if others:
        notice_once(
            f"preparations {sorted(preparations.items(), key=str)}",
            f"the models' authors prepare images differently ({'; '.join(others)}); all are given "
            f"{first_name}'s ({first.describe()}), so they see the same images",
        )
    return first, next(iter(shapes.values()))[1]
