"""The command line's options: numbers, names and paths checked at parse time, and the groups
of options several commands share (data, model, device, cluster).

Every value is refused where argparse reads it, with one line naming the option and the range
or form it takes, before anything starts: a count of 10²⁰ would overflow deep in PyTorch, a
learning rate of 1e308 diverge after the data is loaded, an empty ``--out`` write a run into
the current folder."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

from ..attacks.adversarial import AttackConfig
from ..data.datasets import DataRequest
from ..errors import ConfigError
from ..limits import limits
from ..runs.tracking import TrackingTarget

# A bound far above any real value (a seed, an epoch count), or one read from the limits in
# force when the option is parsed: a function giving the bound and how to go beyond it.
Cap = float | Callable[[], tuple[float, str]]

SHOWN_CHARACTERS = 40  # of a refused value, quoted in its message


def shown(text: str) -> str:
    """``text`` as a message quotes it: cut short, so a 100 000-digit number stays one line."""
    return text if len(text) <= SHOWN_CHARACTERS else f"{text[:SHOWN_CHARACTERS]}… ({len(text)} characters)"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


class _Range:
    """The values an option takes, and the words that say so.

    ``high`` is part of the option's meaning (ε in [0, 1], a cycle count below Nyquist), so
    every refusal quotes the whole interval; ``cap`` is a sanity bound far above any real
    value, so a value below the minimum is told just the minimum, and one above the cap the
    whole range and, for a cap read from :func:`~fourier_masks.core.limits.limits` (a
    function, called at parse time so an environment override applies), how to raise it."""

    def __init__(self, low: float, high: float, open_low: bool, open_high: bool, cap: Cap | None) -> None:
        self.low, self.high, self.open_low, self.open_high, self.cap = low, high, open_low, open_high, cap

    def lower(self) -> str:
        """The lower side alone (or the whole interval when its upper end is part of its meaning)."""
        if math.isfinite(self.high):
            return self._interval(self.high, self.open_high)
        if math.isfinite(self.low):
            return f"{'>' if self.open_low else '≥'} {_number(self.low)}"
        return "a finite number"

    def _interval(self, high: float, open_high: bool) -> str:
        if not math.isfinite(self.low):
            return f"a finite number {'<' if open_high else '≤'} {_number(high)}"
        return f"in {'(' if self.open_low else '['}{_number(self.low)}, {_number(high)}{')' if open_high else ']'}"

    def check(self, value: float, text: str) -> None:
        """Refuse ``value`` (typed as ``text``) outside the range: NaN and -inf are below it."""
        below = value <= self.low if self.open_low else value < self.low
        if math.isnan(value) or below or (value == -math.inf):
            raise argparse.ArgumentTypeError(f"must be {self.lower()}, got {shown(text)}")
        if value >= self.high if self.open_high else value > self.high:
            raise argparse.ArgumentTypeError(f"must be {self.lower()}, got {shown(text)}")
        if self.cap is not None:
            cap, beyond = self.cap() if callable(self.cap) else (self.cap, "")
            if value > cap:
                hint = f"; {beyond}" if beyond else ""
                raise argparse.ArgumentTypeError(f"must be {self._interval(cap, False)}, got {shown(text)}{hint}")
        if value == math.inf:
            finite = "" if not math.isfinite(self.low) else f" {self.lower()}"
            raise argparse.ArgumentTypeError(f"must be a finite number{finite}, got {shown(text)}")


def int_from(minimum: int, maximum: int | None = None, *, cap: Cap | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for whole numbers in a range, so a count or size out of range is
    refused before anything starts instead of being misread (0 as "default", -3 as a slice)
    or overflowing deep inside (10²⁰ steps). ``maximum`` and ``cap``: see :class:`_Range`."""
    bounds = _Range(minimum, math.inf if maximum is None else maximum, False, False, cap)

    def parse(text: str) -> int:
        try:
            value: float = int(text)
        except ValueError:
            digits = text.strip().removeprefix("-").removeprefix("+")
            if not (digits.isascii() and digits.isdigit()):
                raise argparse.ArgumentTypeError(
                    f"expected a whole number {bounds.lower()}, got {shown(text)!r}"
                ) from None
            # More digits than Python converts (4 300): beyond every bound, so refused below.
            value = -math.inf if text.strip().startswith("-") else math.inf
        bounds.check(value, text)
        return int(value)

    return parse


def float_in(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
    cap: Cap | None = None,
) -> Callable[[str], float]:
    """An argparse ``type`` for finite numbers in a range (NaN and ±inf are refused too).
    ``high`` and ``cap``: see :class:`_Range`."""
    bounds = _Range(low, high, open_low, open_high, cap)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {bounds.lower()}, got {shown(text)!r}") from None
        bounds.check(value, text)
        return value

    return parse


def _path_limits() -> tuple[int, int]:
    """Bytes in one name and in a whole path this system takes (Linux: 255 and 4096)."""
    try:
        return os.pathconf("/", "PC_NAME_MAX"), os.pathconf("/", "PC_PATH_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows)
        return 255, 4096


def given(what: str) -> Callable[[str], str]:
    """An argparse ``type`` for a path, a data spec or a name: refused when empty or blank (an
    empty ``--data`` would scan the current folder, an empty ``--out`` write a run into it),
    when it holds a NUL character or bytes that are not UTF-8 (no file name, log or table can
    keep them), or when it is longer than a path this system takes. ``what`` says what to
    give instead."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"must not be empty; give {what}")
        if "\0" in text:
            raise argparse.ArgumentTypeError(f"{shown(text)!r} holds a NUL character; give {what}")
        try:
            encoded = text.encode("utf-8")
        except UnicodeEncodeError:
            raise argparse.ArgumentTypeError(
                f"{shown(text)!r} holds bytes that are not UTF-8 text; rename it or give {what} with a UTF-8 name"
            ) from None
        name_max, path_max = _path_limits()
        longest = max(len(part) for part in encoded.replace(b"\\", b"/").split(b"/"))
        if len(encoded) >= path_max or longest > name_max:
            raise argparse.ArgumentTypeError(
                f"{shown(text)!r} is longer than this system takes ({path_max - 1} bytes in a path, {name_max} in "
                f"one name); give a shorter one"
            )
        return text

    return parse


MAX_NAME = 100  # characters of a model or mask group name, which becomes part of file names


def name_in_run(what: str) -> Callable[[str], str]:
    """Like :func:`given`, for a name the run keeps (a model's, a mask group's): at most
    ``MAX_NAME`` characters, as it becomes part of longer file names (``training-<name>.json``)."""
    text_of = given(what)

    def parse(text: str) -> str:
        text = text_of(text)
        if len(text) > MAX_NAME:
            raise argparse.ArgumentTypeError(
                f"{shown(text)!r} is longer than a name may be ({MAX_NAME} characters); give a shorter one"
            )
        return text

    return parse


def _image_side() -> tuple[float, str]:
    bounds = limits()
    return bounds.max_image_side, f"set {bounds.describe('max_image_side')} to allow larger images"


def _bands() -> tuple[float, str]:
    bounds = limits()
    return bounds.max_bands, f"set {bounds.describe('max_bands')} to allow more bands"


def _classes() -> tuple[float, str]:
    bounds = limits()
    return bounds.max_classes, f"set {bounds.describe('max_classes')} to allow more classes"


# Counts: each capped far above any real use, so a value that would overflow or never finish
# is refused at once rather than deep inside.
MAX_SEED = 2**32 - 1  # what every seeded generator takes (NumPy's legacy seeds are 32-bit)
MAX_EPOCHS = 100_000
MAX_STEPS = 10_000_000  # optimisation or attack steps
MAX_BATCH = 65_536
MAX_BUILTIN_PER_CLASS = 100_000  # built-in images are made in memory: 600 000 at 32 px take 2.4 GB
MAX_IMAGES = 1_000_000_000  # more images than any dataset holds
MAX_PERMUTATIONS = 10_000_000

seed = int_from(0, cap=MAX_SEED)
epochs = int_from(1, cap=MAX_EPOCHS)
steps = int_from(1, cap=MAX_STEPS)
batch_size = int_from(1, cap=MAX_BATCH)
mask_batch_size = int_from(0, cap=MAX_BATCH)  # 0 = automatic
builtin_per_class = int_from(1, cap=MAX_BUILTIN_PER_CLASS)
image_count = int_from(1, cap=MAX_IMAGES)
images_per_class = int_from(0, cap=MAX_IMAGES)  # 0 = all
permutations = int_from(0, cap=MAX_PERMUTATIONS)
image_size = int_from(8, cap=_image_side)  # 8: the smallest input a model takes (ModelInfo)
band_count = int_from(1, cap=_bands)
class_count = int_from(2, cap=_classes)

# Real numbers: each within what a researcher would try, so 1e308 is refused before it diverges.
learning_rate = float_in(0, open_low=True, cap=10.0)
sparsity = float_in(0, cap=100.0)  # λ of the masks (published 0.07 and 0.2)
unit_interval = float_in(0, 1)  # ε in [0, 1] pixel units
pixel_step = float_in(0, cap=1.0)  # a PGD step in [0, 1] pixel units
pixel_std = float_in(0, cap=10.0)  # a noise level in [0, 1] pixel units

# The paper's ε (0.06 in normalised units) in [0, 1] pixel units: PGD's default everywhere.
DEFAULT_EPS = AttackConfig().eps


# --- shared groups of options ------------------------------------------------------------------


def add_labelled_images(p, per_class: int) -> None:
    """``--data``, ``--out`` and ``--per-class``: the analyses that run on labelled validation images."""
    add_data(p)
    p.add_argument("--out", required=True, type=given("a run folder"), help="run folder")
    p.add_argument(
        "--per-class", type=images_per_class, default=per_class, help="validation images per class (0 = all)"
    )


def add_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="ray|auto|ray://HOST:PORT",
        help="learn the per-image masks on Ray workers: 'ray' starts a local Ray cluster for the job, 'auto' "
        "attaches to the running one (ray start), ray://HOST:PORT to a remote one; needs the [cluster] extra. "
        "A cluster that does not answer within FOURIER_MASKS_CLUSTER_TIMEOUT seconds (default 10) is refused "
        "before any work starts",
    )


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        type=given("cpu, cuda, cuda:N, mps or auto"),
        help="cpu, cuda, cuda:N, mps or auto (default: auto)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--log",
        action="append",
        type=tracker,
        default=None,
        metavar="tensorboard:DIR|wandb:PROJECT",
        help="also log the curves, masks and options to TensorBoard (event files in DIR) or Weights & Biases; "
        "may be repeated; needs the [tracking] extra (docs/tracking.md)",
    )


def tracker(text: str) -> TrackingTarget:
    """``--log``: a tracker of a known kind whose library is installed (checked, not imported)."""
    try:
        target = TrackingTarget.parse(text)
        target.check_installed()
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return target


def add_data(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        required=required,
        type=given("builtin, torchvision:<Name> or an image folder"),
        help="builtin, builtin:shapes, builtin:planted, torchvision:<Name> (CIFAR10, MNIST, ...) or an ImageFolder path",
    )
    group.add_argument(
        "--size",
        type=image_size,
        default=None,
        help="image size in pixels, ≥ 8 and at most FOURIER_MASKS_MAX_IMAGE_SIDE (4096) (default: the model's, or 32)",
    )
    group.add_argument(
        "--channels", type=int, choices=(1, 3), default=None, help="1 = grayscale, 3 = RGB (default: the model's, or 1)"
    )
    group.add_argument(
        "--train-per-class",
        type=builtin_per_class,
        default=None,
        help=f"built-in data: training images per class (default {DataRequest.train_per_class}, "
        f"at most {MAX_BUILTIN_PER_CLASS})",
    )
    group.add_argument(
        "--val-per-class",
        type=builtin_per_class,
        default=None,
        help=f"built-in data: validation images per class (default {DataRequest.val_per_class}, "
        f"at most {MAX_BUILTIN_PER_CLASS})",
    )
    group.add_argument(
        "--limit",
        type=image_count,
        default=None,
        help="folders and torchvision data: use at most this many images (per class for folders)",
    )
    group.add_argument(
        "--data-root",
        default=None,
        type=given("a folder"),
        help="where torchvision datasets live (default: the user cache)",
    )
    group.add_argument("--no-download", action="store_true", help="never download datasets")
    group.add_argument("--seed", type=seed, default=0, help=f"random seed, 0 to {MAX_SEED} (default 0)")


def add_model(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        required=required,
        type=given("a model file or name"),
        help="a checkpoint file, or a model name in --run/--out's models folder",
    )
    group.add_argument(
        "--arch",
        default=None,
        type=given("an architecture such as resnet18"),
        help="architecture of a plain state_dict (e.g. resnet18)",
    )
    group.add_argument(
        "--class-names",
        default=None,
        metavar="FILE",
        type=given("a file of class names"),
        help="the model's class names: one per line (# comments allowed) or a JSON list; kept with the model in "
        "the run (1000-class models without names get the ImageNet categories)",
    )
    add_model_shapes(group)


def add_named_models(parser: argparse.ArgumentParser, what: str) -> None:
    """A repeated ``--model [NAME=]SPEC`` (``args.models``) for commands that compare models,
    with ``--arch`` and the model shapes."""
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="[NAME=]SPEC",
        type=given("a model: NAME=SPEC or SPEC"),
        help=f"a model to {what} (repeat for each): a checkpoint file, a model name in --out, timm:NAME, "
        "torchvision:NAME, a timm or transformers folder; NAME= names it (default: the file's name)",
    )
    parser.add_argument(
        "--arch",
        default=None,
        type=given("an architecture such as resnet18"),
        help="architecture of plain state_dicts (e.g. resnet18)",
    )
    add_model_shapes(parser)


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

# A normalisation of [0, 1] pixels: a model taking 0–255 inputs has std 1/255; beyond these,
# the normalised pixels overflow float32 or vanish.
MAX_MEAN = 1000.0
STD_RANGE = (1e-6, 1000.0)


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
        raise ConfigError(f"--normalization {shown(values[0])!r} is not a known name; {usage}")
    typed = shown(" ".join(values))
    if len(values) != 2:
        raise ConfigError(f"--normalization takes 1 or 2 values, got {len(values)}; {usage}")
    try:
        mean, std = (tuple(float(x) for x in value.split(",")) for value in values)
    except ValueError:
        raise ConfigError(f"--normalization {typed}: not numbers; {usage}") from None
    if len(mean) != len(std) or not all(math.isfinite(x) for x in mean + std) or min(std) <= 0:
        raise ConfigError(
            f"--normalization {typed}: needs as many means as standard deviations, finite, "
            "with every standard deviation above 0"
        )
    low, high = STD_RANGE
    if max(abs(m) for m in mean) > MAX_MEAN or not all(low <= s <= high for s in std):
        raise ConfigError(
            f"--normalization {typed}: means must be in [-{MAX_MEAN:g}, {MAX_MEAN:g}] and standard deviations in "
            f"[{low:g}, {high:g}] (of [0, 1] pixels: a model taking 0–255 inputs has std {1 / 255:.4g})"
        )
    return mean, std
