"""Images as an :class:`ImageSet`: float images ``(N, C, H, W)`` in [0, 1] already resized to
the model's size, integer labels, class names and a stable id per image (ids key per-image
results in the store); loaded from image files and folders of them.

The sets this science needs (validation sets of a few thousand small images) fit in memory,
which keeps training and mask loops free of loader overhead on small machines.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import BadDatasetError, BadImageError, ConfigError
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


def load_image(
    path: str | os.PathLike, channels: int | None = None, size: int | Preparation | None = None
) -> torch.Tensor:
    """Read one image file (PNG, JPEG, TIFF, BMP, ...) as ``(C, H, W)`` in [0, 1].

    ``channels`` 1 converts to grayscale, 3 to RGB, None keeps grayscale images gray and
    makes everything else RGB. ``size`` (pixels, or a model's :class:`Preparation`) resizes the
    shorter side and centre-crops a square (:func:`resize_crop`).
    Raises :class:`BadImageError` naming the file and the problem.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    if not path.exists():
        raise BadImageError(f"{path}: no such file")
    if path.is_dir():
        raise BadImageError(f"{path} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path.name} is empty (0 bytes), not an image; copy or export it again")
    try:
        with Image.open(path) as image:
            image.load()
            if image.width < 1 or image.height < 1:
                raise BadImageError(f"{path.name} has no pixels")
            tensor = to_tensor(image, channels)
    except UnidentifiedImageError:
        raise BadImageError(
            f"{path.name} is not an image that can be read (is it really a "
            f"{path.suffix.lstrip('.').upper() or 'picture'} file?); open it in an image viewer and "
            "save it again as PNG or JPEG"
        ) from None
    except Image.DecompressionBombError as exc:
        raise BadImageError(
            f"{path.name} is too large to open safely ({exc}); downscale it first (masks are learned "
            "at the model's size, typically 32 to 224 px)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(
            f"{path.name} could not be decoded, it is corrupt or truncated ({exc}); export or download it again"
        ) from None
    return resize_crop(tensor, size)


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
    kept, so :func:`load_images` reports it rather than it vanishing silently."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = image_files(path)
            if not found:
                raise BadDatasetError(f"{path} contains no image files (supported: {', '.join(IMAGE_EXTENSIONS)})")
            files.extend(found)
        else:
            files.append(path)
    return files


def image_set_from_files(
    paths: Sequence[str | os.PathLike],
    channels: int,
    size: int | Preparation,
    class_names: Sequence[str],
    name: str = "files",
) -> tuple[ImageSet, list[str]]:
    """Unlabelled images from files and folders (the app's drops, ``masks image --images``),
    with the messages of files that could not be read. Ids are the file names, or the paths
    where two files share a name; ``ImageSet.skipped`` is left empty, the messages returned."""
    images, loaded, problems = load_images(expand_image_paths(paths), channels, size, skip_bad=True)
    names = [Path(p).name for p in loaded]
    ids = names if len(set(names)) == len(names) else [str(p) for p in loaded]
    image_set = ImageSet(
        images=images,
        labels=torch.full((len(ids),), -1, dtype=torch.int64),
        class_names=tuple(class_names),
        ids=tuple(ids),
        name=name,
    )
    return image_set, problems


def image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
