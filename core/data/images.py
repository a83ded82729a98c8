"""Images as an :class:`ImageSet`: float images ``(N, C, H, W)`` in [0, 1] already resized to
the model's size, integer labels, class names and a stable id per image (ids key per-image
results in the store); loaded from image files and folders of them.

The sets this science needs (validation sets of a few thousand small images) fit in memory,
which keeps training and mask loops free of loader overhead on small machines.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from ..errors import BadDatasetError, BadImageError, ConfigError
from ..limits import limits, open_input, shown
from ..logs import notice_once
from ..preparation import Preparation
from .pixels import Pixels

log = logging.getLogger(__name__)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")


@dataclass
class ImageSet:
    """Images in [0, 1] with labels (−1 where unknown), class names and ids."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    ids: tuple[str, ...]
    name: str = ""
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.labels.shape != (n,) or len(self.ids) != n:
            raise ValueError("images, labels and ids must have the same length")
        if len(set(self.ids)) != n:
            raise ValueError("image ids must be unique")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: Sequence[int] | torch.Tensor | np.ndarray, name: str | None = None) -> ImageSet:
        """The images ``index`` (streamed images stay 8-bit: :class:`~.pixels.Pixels`)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.int64)
        return ImageSet(
            images=self.images.rows(index) if isinstance(self.images, Pixels) else self.images[index],
            labels=self.labels[index],
            class_names=self.class_names,
            ids=tuple(self.ids[i] for i in index.tolist()),
            name=self.name if name is None else name,
        )

    def in_model_classes(self, indices: Sequence[int], model_labels: Sequence[str]) -> ImageSet:
        """The same images with each label ``k`` replaced by the model output ``indices[k]`` and
        the model's class names (unlabelled images stay −1): a data set of a few of a large
        model's classes, labelled as the model sees them."""
        lookup = torch.tensor(list(indices) + [-1], dtype=torch.int64)
        return ImageSet(
            images=self.images,
            labels=lookup[self.labels],  # −1 indexes the appended −1
            class_names=tuple(model_labels),
            ids=self.ids,
            name=self.name,
            skipped=self.skipped,
        )

    @property
    def present_classes(self) -> list[int]:
        """The labels that occur (without −1), ascending."""
        return sorted(k for k in torch.unique(self.labels).tolist() if k >= 0)

    def balanced_subset(self, per_class: int, seed: int = 0) -> ImageSet:
        """At most ``per_class`` images of each class, chosen at random but reproducibly."""
        generator = torch.Generator().manual_seed(seed)
        chosen = []
        for k in self.present_classes:
            rows = torch.nonzero(self.labels == k).flatten()
            chosen.append(rows[torch.randperm(len(rows), generator=generator)[:per_class]])
        return self.subset(torch.cat(chosen).sort().values)

    def halves(self, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """Two disjoint halves, stratified by class and chosen reproducibly at random: one to
        learn a set mask on, one to measure it on (a mask judged on the images it was fitted to
        cannot disagree). Unlabelled images count as one class; an odd count gives the first
        half the extra image."""
        generator = torch.Generator().manual_seed(seed)
        first, second = [], []
        for label in torch.unique(self.labels).tolist():
            rows = torch.nonzero(self.labels == label).flatten()
            rows = rows[torch.randperm(len(rows), generator=generator)]
            cut = (len(rows) + 1) // 2
            first.append(rows[:cut])
            second.append(rows[cut:])
        if len(self) < 2 or not torch.cat(second).numel():
            raise ConfigError(f"{self.name or 'the image set'} has {len(self)} image(s); halves need two per class")
        return self.subset(torch.cat(first).sort().values), self.subset(torch.cat(second).sort().values)


@dataclass
class DataSplits:
    train: ImageSet
    val: ImageSet


def to_tensor(image, channels: int | None) -> torch.Tensor:
    """A PIL image of any common mode to ``(C, H, W)`` float in [0, 1]."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = torch.from_numpy(np.clip(array / top, 0, 1)).unsqueeze(0)
        return gray.repeat(3, 1, 1) if channels == 3 else gray
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        span = float(array.max() - array.min()) or 1.0
        gray = torch.from_numpy((array - array.min()) / span).unsqueeze(0)
        return gray.repeat(3, 1, 1) if channels == 3 else gray
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite transparent pixels over black, as most viewers' export does.
        rgba = image.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(backdrop, rgba)
    if channels is None:
        channels = 1 if image.mode in ("1", "L", "LA", "I", "F") else 3
    image = image.convert("L" if channels == 1 else "RGB")
    array = np.asarray(image, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).float().div_(255)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def resize_crop(image: torch.Tensor, size: int | Preparation | None) -> torch.Tensor:
    """The model's input from an image: shorter side to the preparation's resize (antialiased,
    with its interpolation), then a centre crop of its size; an ``int`` resizes the shorter side
    to that size and crops the square."""
    if size is None:
        return image
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    prep = Preparation.of(size)
    h, w = image.shape[-2:]
    if (h, w) != (prep.size, prep.size) or prep.resize_to != prep.size:
        if min(h, w) != prep.resize_to:
            mode = InterpolationMode(prep.interpolation)
            image = TF.resize(image, [prep.resize_to], interpolation=mode, antialias=True)
        image = TF.center_crop(image, [prep.size, prep.size])
    return image.clamp(0, 1)


# Pillow's warning of an image over its bound, as it opens it; ours refuses such an image with
# one line as soon as the header is read, so the warning would only repeat that in Pillow's words.
_BOMB_WARNING = r"Image size \(\d+ pixels\) exceeds limit"


def _pillow():
    """Pillow's ``Image`` module with its decompression-bomb bound set to
    ``limits().max_image_pixels`` (the same value from every thread, so setting it races with
    nothing; frames whose size only shows while decoding are held to it too) and its warning
    of images over it silenced. The filter is checked at each call, not set once at import:
    a ``catch_warnings`` block around the import or an earlier call would take it away."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits().max_image_pixels
    if not any(f[0] == "ignore" and f[1] is not None and f[1].pattern == _BOMB_WARNING for f in warnings.filters):
        warnings.filterwarnings("ignore", message=_BOMB_WARNING, module=r"PIL\.")
    return Image


def load_image(
    path: str | os.PathLike, channels: int | None = None, size: int | Preparation | None = None
) -> torch.Tensor:
    """Read one image file (PNG, JPEG, TIFF, BMP, ...) as ``(C, H, W)`` in [0, 1].

    ``channels`` 1 converts to grayscale, 3 to RGB, None keeps grayscale images gray and
    makes everything else RGB. ``size`` (pixels, or a model's :class:`Preparation`) resizes the
    shorter side and centre-crops a square (:func:`resize_crop`). An animated or multi-page
    file gives its first frame.
    Raises :class:`BadImageError` naming the file and the problem: unreadable, not an image,
    corrupt, over ``limits().max_image_pixels`` (checked from the header, before decoding), or
    holding NaN or infinite values (a floating-point TIFF).
    """
    from PIL import UnidentifiedImageError

    Image = _pillow()
    path = Path(path)
    name = shown(path.name)
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    handle, nbytes = open_input(path, BadImageError, "an image file")
    with handle:
        if nbytes == 0:
            raise BadImageError(f"{name} is empty (0 bytes), not an image; copy or export it again")
        try:
            with Image.open(handle) as image:
                _check_pixels(image.width, image.height, name)
                image.load()
                tensor = to_tensor(image, channels)
        except UnidentifiedImageError:
            raise BadImageError(
                f"{name} is not an image that can be read (is it really a "
                f"{path.suffix.lstrip('.').upper() or 'picture'} file?); open it in an image viewer and "
                "save it again as PNG or JPEG"
            ) from None
        except Image.DecompressionBombError as exc:  # over twice the bound: Pillow refuses it first
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            _refuse_pixels(f"{int(claimed.group(1)):,} pixels" if claimed else "more than twice that", name)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise BadImageError(
                f"{name} could not be decoded, it is corrupt or truncated ({exc}); export or download it again"
            ) from None
    if not torch.isfinite(tensor).all():
        raise BadImageError(
            f"{name} has NaN or infinite pixel values (a floating-point image); replace them (e.g. with 0) "
            "and save it again"
        )
    return resize_crop(tensor, size)


def _check_pixels(width: int, height: int, name: str) -> None:
    """Refuse an image by the size its header claims, before any pixel is decoded: a 140 KB
    PNG can claim 12 000 × 12 000 pixels, 2 GB once decoded."""
    if width < 1 or height < 1:
        raise BadImageError(f"{name} has no pixels ({width} × {height}); export it again")
    if width * height > limits().max_image_pixels:
        _refuse_pixels(f"{width} × {height} = {width * height:,} pixels", name)


def _refuse_pixels(claimed: str, name: str) -> NoReturn:
    bounds = limits()
    raise BadImageError(
        f"{name} is too large to open safely ({claimed}, over the bound of {bounds.max_image_pixels:,}); "
        "downscale it first (masks are learned at the model's size, typically 32 to 224 px), or raise "
        f"{bounds.describe('max_image_pixels')}"
    )


def load_images(
    paths: Sequence[str | os.PathLike], channels: int, size: int | Preparation, skip_bad: bool = False
) -> tuple[torch.Tensor, list[str], list[str]]:
    """Several image files stacked to ``(N, C, size, size)``.

    Returns the images, the paths that loaded, and messages for files that did not (only when
    ``skip_bad``; otherwise the first bad file raises).
    """
    tensors, loaded, problems = [], [], []
    for path in paths:
        try:
            tensors.append(load_image(path, channels, size))
            loaded.append(str(path))
        except BadImageError as exc:
            if not skip_bad:
                raise
            problems.append(str(exc))
    if not tensors:
        detail = f": {problems[0]}" if problems else ""
        raise BadDatasetError(f"none of the {len(paths)} file(s) could be read as an image{detail}")
    return torch.stack(tensors), loaded, problems


def expand_image_paths(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, and every image file inside the folders given (hidden files and other
    suffixes left out). A folder without images is an error; a file that is not an image is
    kept, so :func:`load_images` reports it rather than it vanishing silently. A file given
    twice (or also inside a folder given) is kept once, with a note."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = image_files(path)
            if not found:
                raise BadDatasetError(
                    f"{shown(path)} contains no image files (supported: {', '.join(IMAGE_EXTENSIONS)})"
                )
            files.extend(found)
        else:
            files.append(path)
    return _once_each(files)


def _once_each(files: list[Path]) -> list[Path]:
    """``files`` without repeats of one file (by device and inode, so ``a.png``, ``./a.png``
    and a link to it are one file), in order; a note names each repeated file."""
    kept: list[Path] = []
    seen: dict[tuple[int, int] | str, Path] = {}
    for path in files:
        try:
            info = path.stat()
            key: tuple[int, int] | str = (info.st_dev, info.st_ino)
        except OSError:
            key = os.path.abspath(path)  # unreadable: load_image says why
        if key not in seen:
            seen[key] = path
            kept.append(path)
        else:
            first = seen[key]
            same = "" if first == path else f" (as {shown(path)})"
            notice_once(f"image given twice {key}", f"{shown(first)} was given more than once{same}; it is used once")
    return kept


def file_ids(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Ids for image files: their names, or the paths as given where two files share a name
    (``cats/a.png`` and ``dogs/a.png``); bytes of a name that are not UTF-8 escaped
    (:func:`~fourier_masks.core.limits.shown`). Distinct files (:func:`expand_image_paths`
    keeps each once) have distinct paths; only escaping could make two alike, and a suffix
    tells those apart."""
    names = [shown(Path(p).name) for p in paths]
    ids = names if len(set(names)) == len(names) else [shown(p) for p in paths]
    seen: dict[str, int] = {}
    unique = []
    for text in ids:
        seen[text] = seen.get(text, 0) + 1
        unique.append(text if seen[text] == 1 else f"{text}#{seen[text]}")
    return unique


def image_set_from_files(
    paths: Sequence[str | os.PathLike],
    channels: int,
    size: int | Preparation,
    class_names: Sequence[str],
    name: str = "files",
) -> tuple[ImageSet, list[str]]:
    """Unlabelled images from files and folders (the app's drops, ``masks image --images``),
    with the messages of files that could not be read. Ids are made by :func:`file_ids`;
    ``ImageSet.skipped`` is left empty, the messages returned."""
    images, loaded, problems = load_images(expand_image_paths(paths), channels, size, skip_bad=True)
    ids = file_ids(loaded)
    image_set = ImageSet(
        images=images,
        labels=torch.full((len(ids),), -1, dtype=torch.int64),
        class_names=tuple(class_names),
        ids=tuple(ids),
        name=name,
    )
    return image_set, problems


def image_files(folder: Path) -> list[Path]:
    """The image files in ``folder`` and its sub-folders, sorted (hidden files and other
    suffixes left out; links to folders are not followed, so a link loop ends). A folder that
    cannot be listed raises :class:`BadDatasetError` naming it, rather than looking empty."""

    def refuse(error: OSError) -> None:
        raise unreadable_folder(Path(error.filename or folder), error)

    found = []
    for parent, _, names in os.walk(folder, onerror=refuse):
        for file_name in names:
            path = Path(parent, file_name)
            if path.suffix.lower() in IMAGE_EXTENSIONS and not file_name.startswith(".") and path.is_file():
                found.append(path)
    return sorted(found)


def unreadable_folder(folder: Path, error: OSError) -> BadDatasetError:
    """The error for a folder that cannot be listed, saying why."""
    if isinstance(error, PermissionError):
        return BadDatasetError(
            f"cannot read {shown(folder)}: permission denied; give yourself read access to the folder, or copy "
            "the images somewhere you can read"
        )
    return BadDatasetError(f"cannot read {shown(folder)}: {error.strerror or error}")
