"""The command line's options: numbers checked at parse time, and the groups of options
several commands share (data, model, device, cluster)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..attacks.adversarial import AttackConfig
from ..data.datasets import DataRequest
from ..errors import ConfigError


def int_from(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for whole numbers in a range, so a count or size out of range is
    refused before anything starts instead of being misread (0 as "default", -3 as a slice)."""
    span = f"≥ {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    return parse


def float_in(
    low: float = -math.inf, high: float = math.inf, *, open_low: bool = False, open_high: bool = False
) -> Callable[[str], float]:
    """An argparse ``type`` for finite numbers in a range (NaN and ±inf are refused too)."""
    if math.isfinite(low) and math.isfinite(high):
        span = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    elif math.isfinite(low):
        span = f"{'>' if open_low else '≥'} {low:g}"
    else:
        span = "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {span}, got {text!r}") from None
        above = low < value if open_low else low <= value
        below = value < high if open_high else value <= high
        if not (math.isfinite(value) and above and below):
            raise argparse.ArgumentTypeError(f"must be {span}, got {text}")
        return value

    return parse


positive_int = int_from(1)
non_negative_int = int_from(0)
image_size = int_from(8)  # the smallest input a model takes (ModelInfo)
class_count = int_from(2)
non_negative = float_in(0)
positive = float_in(0, open_low=True)
finite = float_in()
unit_interval = float_in(0, 1)  # ε in [0, 1] pixel units

# The paper's ε (0.06 in normalised units) in [0, 1] pixel units: PGD's default everywhere.
DEFAULT_EPS = AttackConfig().eps


# --- shared groups of options ------------------------------------------------------------------


def add_labelled_images(p, per_class: int) -> None:
    """``--data``, ``--out`` and ``--per-class``: the analyses that run on labelled validation images."""
    add_data(p)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--per-class", type=non_negative_int, default=per_class, help="validation images per class (0 = all)"
    )


def add_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="ray|auto|ray://HOST:PORT",
        help="learn the per-image masks on Ray workers: 'ray' starts a local Ray cluster for the job, 'auto' "
        "attaches to the running one (ray start), ray://HOST:PORT to a remote one; needs the [cluster] extra",
    )


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def add_data(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        required=required,
        help="builtin, builtin:shapes, builtin:planted, torchvision:<Name> (CIFAR10, MNIST, ...) or an ImageFolder path",
    )
    group.add_argument(
        "--size", type=image_size, default=None, help="image size in pixels, ≥ 8 (default: the model's, or 32)"
    )
    group.add_argument(
        "--channels", type=int, choices=(1, 3), default=None, help="1 = grayscale, 3 = RGB (default: the model's, or 1)"
    )
    group.add_argument(
        "--train-per-class",
        type=positive_int,
        default=None,
        help=f"built-in data: training images per class (default {DataRequest.train_per_class})",
    )
    group.add_argument(
        "--val-per-class",
        type=positive_int,
        default=None,
        help=f"built-in data: validation images per class (default {DataRequest.val_per_class})",
    )
    group.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="folders and torchvision data: use at most this many images (per class for folders)",
    )
    group.add_argument("--data-root", default=None, help="where torchvision datasets live (default: the user cache)")
    group.add_argument("--no-download", action="store_true", help="never download datasets")
    group.add_argument("--seed", type=non_negative_int, default=0)


def add_model(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", required=required, help="a checkpoint file, or a model name in --run/--out's models folder"
    )
    group.add_argument("--arch", default=None, help="architecture of a plain state_dict (e.g. resnet18)")
    group.add_argument(
        "--class-names",
        default=None,
        metavar="FILE",
        help="the model's class names: one per line (# comments allowed) or a JSON list; kept with the model in "
        "the run (1000-class models without names get the ImageNet categories)",
    )
    add_model_shapes(group)


def add_model_shapes(group) -> None:
    """What a model file without our metadata cannot say itself; checked against the model."""
    group.add_argument(
        "--model-classes",
        type=class_count,
        default=None,
        help="classes of a TorchScript/export file without metadata (checked against what the model outputs)",
    )
    group.add_argument("--model-channels", type=int, choices=(1, 3), default=None, help="input channels of such a file")
    group.add_argument("--model-size", type=image_size, default=None, help="input size of such a file (≥ 8)")
    group.add_argument(
        "--normalization",
        nargs="+",
        default=None,
        metavar="MEAN STD",
        help="the input normalisation of a file that carries none: per-channel means and standard deviations "
        "as two comma lists (0.485,0.456,0.406 0.229,0.224,0.225), or imagenet, paper (0.449 / 0.226, "
        "grayscale) or none (the model takes [0, 1] pixels); default: ImageNet's for 3 channels, the paper's "
        "for 1. Checked against a file that carries its own",
    )


NAMED_NORMALIZATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "paper": ((0.449,), (0.226,)),
}


def normalization(values: list[str] | None, channels: int | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``--normalization`` as (mean, std), or None when not given. ``none`` is mean 0 and std 1
    for ``channels`` (3 when unknown)."""
    if values is None:
        return None
    usage = "give two comma lists (MEAN STD, one value per channel) or one of imagenet, paper, none"
    if len(values) == 1:
        word = values[0].lower()
        if word == "none":
            count = channels or 3
            return (0.0,) * count, (1.0,) * count
        if word in NAMED_NORMALIZATIONS:
            return NAMED_NORMALIZATIONS[word]
        raise ConfigError(f"--normalization {values[0]!r} is not a known name; {usage}")
    if len(values) != 2:
        raise ConfigError(f"--normalization takes 1 or 2 values, got {len(values)}; {usage}")
    try:
        mean, std = (tuple(float(x) for x in value.split(",")) for value in values)
    except ValueError:
        raise ConfigError(f"--normalization {' '.join(values)}: not numbers; {usage}") from None
    if len(mean) != len(std) or not all(math.isfinite(x) for x in mean + std) or min(std) <= 0:
        raise ConfigError(
            f"--normalization {' '.join(values)}: needs as many means as standard deviations, finite, "
            "with every standard deviation above 0"
        )
    return mean, std
