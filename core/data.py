"""Data: the built-in datasets, ImageFolder directories, torchvision datasets, single images.

Everything becomes an :class:`ImageSet`: float images ``(N, C, H, W)`` in [0, 1] already
resized to the model's size, integer labels, class names and a stable id per image (ids key
per-image results in the store). Datasets this science needs (validation sets of a few
thousand small images) fit in memory, which keeps training and mask loops free of loader
overhead on small machines.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import BadDatasetError, BadImageError, ConfigError, DatasetUnavailableError

__all__ = [
    "IMAGE_EXTENSIONS",
    "expand_image_paths",
    "image_set_from_files",
    "TORCHVISION_DATASETS",
    "ImageSet",
    "DataSplits",
    "load_image",
    "load_images",
    "load_image_folder",
    "load_torchvision_dataset",
    "load_builtin",
    "load_dataset",
    "default_data_root",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")

# name -> (torchvision class name, how its split is chosen)
TORCHVISION_DATASETS = {
    "cifar10": ("CIFAR10", "train"),
    "cifar100": ("CIFAR100", "train"),
    "mnist": ("MNIST", "train"),
    "fashionmnist": ("FashionMNIST", "train"),
    "kmnist": ("KMNIST", "train"),
    "svhn": ("SVHN", "split"),
    "stl10": ("STL10", "split"),
    "imagenette": ("Imagenette", "split"),
}


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
        index = torch.as_tensor(np.asarray(index), dtype=torch.int64)
        return ImageSet(
            images=self.images[index],
            labels=self.labels[index],
            class_names=self.class_names,
            ids=tuple(self.ids[i] for i in index.tolist()),
            name=self.name if name is None else name,
        )

    def balanced_subset(self, per_class: int, seed: int = 0) -> ImageSet:
        """At most ``per_class`` images of each class, chosen at random but reproducibly."""
        generator = torch.Generator().manual_seed(seed)
        chosen = []
        for k in range(self.num_classes):
            rows = torch.nonzero(self.labels == k).flatten()
            chosen.append(rows[torch.randperm(len(rows), generator=generator)[:per_class]])
        return self.subset(torch.cat(chosen).sort().values)


@dataclass
class DataSplits:
    train: ImageSet
    val: ImageSet


def default_data_root() -> Path:
    """Where downloaded datasets live: the platform's user cache folder."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("fourier-masks")) / "datasets"


# --- single images -------------------------------------------------------------------------


def _to_tensor(image, channels: int | None) -> torch.Tensor:
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


def _resize_crop(image: torch.Tensor, size: int | None) -> torch.Tensor:
    """Shorter side to ``size`` (antialiased), then a centre crop to ``size × size``."""
    if size is None:
        return image
    from torchvision.transforms.v2 import functional as TF

    h, w = image.shape[-2:]
    if (h, w) != (size, size):
        image = TF.resize(image, [size], antialias=True)
        image = TF.center_crop(image, [size, size])
    return image.clamp(0, 1)


def load_image(path: str | os.PathLike, channels: int | None = None, size: int | None = None) -> torch.Tensor:
    """Read one image file (PNG, JPEG, TIFF, BMP, ...) as ``(C, H, W)`` in [0, 1].

    ``channels`` 1 converts to grayscale, 3 to RGB, None keeps grayscale images gray and
    makes everything else RGB. ``size`` resizes the shorter side and centre-crops a square.
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
            tensor = _to_tensor(image, channels)
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
    return _resize_crop(tensor, size)


def load_images(
    paths: Sequence[str | os.PathLike], channels: int, size: int, skip_bad: bool = False
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
            found = _image_files(path)
            if not found:
                raise BadDatasetError(f"{path} contains no image files (supported: {', '.join(IMAGE_EXTENSIONS)})")
            files.extend(found)
        else:
            files.append(path)
    return files


def image_set_from_files(
    paths: Sequence[str | os.PathLike], channels: int, size: int, class_names: Sequence[str], name: str = "files"
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


# --- folders -------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def load_image_folder(
    root: str | os.PathLike,
    channels: int = 1,
    size: int = 32,
    max_per_class: int | None = None,
    class_names: Sequence[str] | None = None,
) -> ImageSet:
    """An ImageFolder-style directory (``root/<class>/<image>``) as an :class:`ImageSet`.

    Non-image files are ignored; image files that cannot be decoded are skipped and listed in
    ``ImageSet.skipped``. ``class_names`` forces a class order (e.g. a model's), so labels
    line up with a checkpoint's outputs.
    """
    root = Path(root)
    if not root.exists():
        raise BadDatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise BadDatasetError(f"{root} is a file; expected a folder with one sub-folder per class")
    try:
        found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    except PermissionError:
        raise BadDatasetError(f"{root} cannot be read (permission denied)") from None
    classes = list(class_names) if class_names else found
    if not classes:
        loose = _image_files(root)
        hint = (
            f" It holds {len(loose)} loose image(s): put them in one sub-folder per class, or "
            "open them as single images."
            if loose
            else ""
        )
        raise BadDatasetError(f"{root} has no class sub-folders (expected root/<class>/<image>).{hint}")
    missing = [c for c in classes if c not in found]
    if missing:
        raise BadDatasetError(f"{root} lacks the class folder(s) {', '.join(missing)} the model expects")
    tensors, labels, ids, skipped = [], [], [], []
    for k, name in enumerate(classes):
        files = _image_files(root / name)
        if max_per_class is not None:
            files = files[:max_per_class]
        for path in files:
            try:
                tensors.append(load_image(path, channels, size))
            except BadImageError as exc:
                skipped.append(str(exc))
                continue
            labels.append(k)
            ids.append(path.relative_to(root).as_posix())
    if skipped:
        log.warning("skipped %d unreadable image(s) in %s: %s", len(skipped), root, "; ".join(skipped[:5]))
    if not tensors:
        detail = f" ({len(skipped)} unreadable)" if skipped else ""
        raise BadDatasetError(
            f"{root} contains no readable images{detail} in its class folders {', '.join(classes)}; "
            f"supported files: {', '.join(IMAGE_EXTENSIONS)}"
        )
    return ImageSet(
        images=torch.stack(tensors),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=tuple(classes),
        ids=tuple(ids),
        name=root.name,
        skipped=skipped,
    )


def _split_folder(root: Path, **kwargs) -> DataSplits:
    """``root/train`` + ``root/val`` (or ``test``) if present; else a stable 80/20 split by file name."""
    for val_name in ("val", "valid", "validation", "test"):
        if (root / "train").is_dir() and (root / val_name).is_dir():
            train = load_image_folder(root / "train", **kwargs)
            val = load_image_folder(
                root / val_name,
                class_names=train.class_names,
                **{k: v for k, v in kwargs.items() if k != "class_names"},
            )
            return DataSplits(train, val)
    full = load_image_folder(root, **kwargs)
    in_val = np.array([int(hashlib.sha1(i.encode()).hexdigest(), 16) % 5 == 0 for i in full.ids])
    if in_val.all() or not in_val.any():
        raise BadDatasetError(f"{root} has too few images ({len(full)}) to split into training and validation")
    return DataSplits(full.subset(np.flatnonzero(~in_val)), full.subset(np.flatnonzero(in_val)))


# --- torchvision datasets ------------------------------------------------------------------


def load_torchvision_dataset(
    name: str,
    train: bool,
    channels: int = 1,
    size: int = 32,
    root: str | os.PathLike | None = None,
    download: bool = True,
    limit: int | None = None,
) -> ImageSet:
    """A torchvision dataset by name (CIFAR10, MNIST, FashionMNIST, Imagenette, ...).

    Downloads into :func:`default_data_root` when missing and ``download`` is true; offline,
    or with ``download=False`` and no copy on disk, raises :class:`DatasetUnavailableError`
    saying where to put the files.
    """
    import torchvision

    key = name.lower().replace("-", "").replace("_", "")
    if key not in TORCHVISION_DATASETS:
        raise ConfigError(
            f"unknown torchvision dataset {name!r}; choose one of "
            f"{', '.join(v[0] for v in TORCHVISION_DATASETS.values())}"
        )
    class_name, split_style = TORCHVISION_DATASETS[key]
    root = Path(root) if root else default_data_root()
    kwargs = (
        {"train": train}
        if split_style == "train"
        else {"split": "train" if train else ("val" if key == "imagenette" else "test")}
    )
    try:
        root.mkdir(parents=True, exist_ok=True)
        dataset = getattr(torchvision.datasets, class_name)(str(root), download=download, **kwargs)
    except Exception as exc:  # noqa: BLE001 - torchvision raises many types for "not there"
        how = (
            "it could not be downloaded (no internet connection?)"
            if download
            else "it is not on disk and downloading is off"
        )
        raise DatasetUnavailableError(
            f"{class_name} is unavailable: {how}. Download it on a machine that is online "
            f"into {root} (or pass another data root), or use the built-in dataset. "
            f"Details: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    count = len(dataset) if limit is None else min(limit, len(dataset))
    tensors, labels = [], []
    for i in range(count):
        image, label = dataset[i]
        tensors.append(_resize_crop(_to_tensor(image, channels), size))
        labels.append(int(label))
    classes = tuple(getattr(dataset, "classes", None) or [str(k) for k in range(max(labels) + 1)])
    classes = tuple(c if isinstance(c, str) else c[0] for c in classes)
    split = "train" if train else "val"
    return ImageSet(
        images=torch.stack(tensors),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=classes,
        ids=tuple(f"{class_name}/{split}/{i:06d}" for i in range(count)),
        name=class_name,
    )


# --- built-in datasets and the one entry point -----------------------------------------------


def load_builtin(
    kind: str = "shapes",
    train_per_class: int = 400,
    val_per_class: int = 100,
    size: int = 32,
    channels: int = 1,
    seed: int = 0,
) -> DataSplits:
    """The offline datasets of :mod:`core.synthetic`; train and val use different seeds."""
    from . import synthetic

    makers: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]]] = {
        "shapes": synthetic.make_shapes,
        "planted": synthetic.make_planted,
    }
    if kind not in makers:
        raise ConfigError(f"unknown built-in dataset {kind!r}; choose one of {', '.join(makers)}")
    if not 16 <= size <= 512:
        raise ConfigError(f"built-in images can be 16 to 512 px, got {size}")
    splits = []
    for split, per_class, offset in (("train", train_per_class, 0), ("val", val_per_class, 1)):
        images, labels, names = makers[kind](per_class, image_size=size, channels=channels, seed=2 * seed + offset)
        splits.append(
            ImageSet(
                images=images,
                labels=labels,
                class_names=names,
                ids=tuple(f"{kind}/{split}/{i:06d}" for i in range(len(labels))),
                name=f"builtin:{kind}",
            )
        )
    return DataSplits(*splits)


def load_dataset(
    spec: str,
    size: int = 32,
    channels: int = 1,
    seed: int = 0,
    train_per_class: int = 400,
    val_per_class: int = 100,
    data_root: str | os.PathLike | None = None,
    download: bool = True,
    limit: int | None = None,
) -> DataSplits:
    """Train and validation splits from a spec string.

    ``builtin`` / ``builtin:shapes`` / ``builtin:planted``, ``torchvision:<Name>`` (e.g.
    ``torchvision:CIFAR10``), or a path to an ImageFolder directory (with ``train/`` and
    ``val/`` or ``test/`` inside, or one folder that is split 80/20 by file name).
    """
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    if spec == "builtin" or spec.startswith("builtin:"):
        kind = spec.partition(":")[2] or "shapes"
        return load_builtin(kind, train_per_class, val_per_class, size, channels, seed)
    if spec.startswith(("torchvision:", "tv:")):
        name = spec.partition(":")[2]
        return DataSplits(
            load_torchvision_dataset(name, True, channels, size, data_root, download, limit),
            load_torchvision_dataset(name, False, channels, size, data_root, download, limit),
        )
    return _split_folder(Path(spec).expanduser(), channels=channels, size=size, max_per_class=limit)
