"""Datasets: the built-in synthetic shapes, ImageFolder directories and torchvision datasets,
as train and validation :class:`~.images.ImageSet` splits at a model's size and channels;
and :class:`DataRequest`, the data a command or a dialog names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import BadDatasetError, BadImageError, ConfigError, DatasetUnavailableError
from ..limits import shown
from ..preparation import Preparation
from .images import (
    IMAGE_EXTENSIONS,
    DataSplits,
    ImageSet,
    image_files,
    load_image,
    resize_crop,
    to_tensor,
    unreadable_folder,
)
from .pixels import decode_to_disk, float_bytes, streaming_wanted

log = logging.getLogger(__name__)

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


def default_data_root() -> Path:
    """Where downloaded datasets live: the platform's user cache folder."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("fourier-masks")) / "datasets"


def load_image_folder(
    root: str | os.PathLike,
    channels: int = 1,
    size: int | Preparation = 32,
    max_per_class: int | None = None,
    class_names: Sequence[str] | None = None,
    stream: bool | None = None,
) -> ImageSet:
    """An ImageFolder-style directory (``root/<class>/<image>``) as an :class:`ImageSet`.

    Non-image files are ignored; image files that cannot be decoded are skipped and listed in
    ``ImageSet.skipped``. A class folder without any image file is refused (a class with no
    images cannot be learned or measured; remove the folder if it is not a class). Folder and
    file names that are not valid UTF-8 are used, shown with their odd bytes escaped (class
    names and ids). ``class_names`` forces a class order (e.g. a model's), so labels line up
    with a checkpoint's outputs. ``stream``: decode into an 8-bit file on disk read a batch at
    a time (:mod:`.pixels`); None leaves it to :func:`~.pixels.streaming_wanted`.
    """
    root = Path(root)
    if not root.exists():
        raise BadDatasetError(f"{shown(root)}: no such folder")
    if not root.is_dir():
        raise BadDatasetError(f"{shown(root)} is a file; expected a folder with one sub-folder per class")
    folders = _class_folders(root)
    classes = list(class_names) if class_names else list(folders)
    if not classes:
        loose = image_files(root)
        hint = (
            f" It holds {len(loose)} loose image(s): put them in one sub-folder per class, or "
            "open them as single images."
            if loose
            else ""
        )
        raise BadDatasetError(f"{shown(root)} has no class sub-folders (expected root/<class>/<image>).{hint}")
    missing = [c for c in classes if c not in folders]
    if missing:
        raise BadDatasetError(f"{shown(root)} lacks the class folder(s) {', '.join(missing)} the model expects")
    listed: list[tuple[Path, int]] = []
    empty = []
    for k, name in enumerate(classes):
        files = image_files(folders[name])
        empty += [] if files else [name]
        listed += [(path, k) for path in (files[:max_per_class] if max_per_class is not None else files)]
    if listed and empty:
        raise BadDatasetError(
            f"{shown(folders[empty[0]])} holds no image files, so class {empty[0]} would have no images; add "
            f"some (supported: {', '.join(IMAGE_EXTENSIONS)}) or remove the folder"
        )
    prep = Preparation.of(size)
    if stream is None:
        stream = streaming_wanted(float_bytes(len(listed), channels, prep.size))
    images: torch.Tensor | None = None
    if stream and listed:
        pixels, read, skipped = decode_to_disk([path for path, _ in listed], channels, prep, load_image)
        images = pixels if len(read) == len(listed) else pixels.rows(torch.tensor(read, dtype=torch.int64))
    else:
        tensors, read, skipped = [], [], []
        for position, (path, _) in enumerate(listed):
            try:
                tensors.append(load_image(path, channels, prep))
            except BadImageError as exc:
                skipped.append(str(exc))
                continue
            read.append(position)
        images = torch.stack(tensors) if tensors else None
    kept = [listed[k] for k in read]
    labels = [k for _, k in kept]
    ids = [shown(path.relative_to(root).as_posix()) for path, _ in kept]
    if skipped:
        log.warning("skipped %d unreadable image(s) in %s: %s", len(skipped), shown(root), "; ".join(skipped[:5]))
    if images is None or not kept:
        detail = f" ({len(skipped)} unreadable)" if skipped else ""
        raise BadDatasetError(
            f"{shown(root)} contains no readable images{detail} in its class folders {', '.join(classes)}; "
            f"supported files: {', '.join(IMAGE_EXTENSIONS)}"
        )
    present = set(labels)
    for k, name in enumerate(classes):
        if k not in present:  # every image of the class was skipped: its first problem says why
            done = set(read)
            unread = [position for position in range(len(listed)) if position not in done]
            first = next(problem for position, problem in zip(unread, skipped) if listed[position][1] == k)
            raise BadDatasetError(
                f"none of the images of class {name} in {shown(folders[name])} could be read (the first: "
                f"{first}); replace them or remove the folder"
            )
    return ImageSet(
        images=images,
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=tuple(classes),
        ids=tuple(ids),
        name=shown(root.name),
        skipped=skipped,
    )


def _class_folders(root: Path) -> dict[str, Path]:
    """The class folders of an ImageFolder by class name (hidden ones left out), sorted; a
    name that is not valid UTF-8 is shown with its odd bytes escaped."""
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise unreadable_folder(root, exc) from None
    return {shown(d.name): d for d in entries if not d.name.startswith(".") and d.is_dir()}


VALIDATION_FOLDERS = ("val", "valid", "validation", "test")


def is_split_folder(root: Path) -> bool:
    """Whether an ImageFolder has its own ``train/`` and ``val/`` (or ``test/``) splits."""
    return (root / "train").is_dir() and any((root / name).is_dir() for name in VALIDATION_FOLDERS)


def _split_folder(root: Path, **kwargs) -> DataSplits:
    """``root/train`` + ``root/val`` (or ``test``) if present; else a stable 80/20 split by file name."""
    for val_name in VALIDATION_FOLDERS:
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


def load_torchvision_dataset(
    name: str,
    train: bool,
    channels: int = 1,
    size: int | Preparation = 32,
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
        tensors.append(resize_crop(to_tensor(image, channels), size))
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


def load_builtin(
    kind: str = "shapes",
    train_per_class: int = 400,
    val_per_class: int = 100,
    size: int = 32,
    channels: int = 1,
    seed: int = 0,
) -> DataSplits:
    """The offline datasets of :mod:`.synthetic`; train and val use different seeds."""
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


@dataclass(frozen=True)
class DataRequest:
    """Which labelled images to load, at whatever size and channels a model takes: a dataset
    (:func:`load_dataset`'s ``spec``) and the options that choose its images. The command
    line and the app both describe their data this way, so they load the same images.

    ``per_class`` > 0 keeps that many validation images per class (a balanced subset chosen
    by ``seed``); 0 keeps them all. ``whole``: a folder without ``train/`` and ``val/`` is all
    validation images (models from elsewhere, evaluated only), not split 80/20 (the split a
    model trained here on the folder was trained on 80 % of)."""

    spec: str = "builtin"
    seed: int = 0
    train_per_class: int = 1000
    val_per_class: int = 200
    limit: int | None = None
    data_root: str | None = None
    download: bool = True
    per_class: int = 0
    whole: bool = False

    def load(self, size: int | Preparation, channels: int) -> DataSplits:
        """Both splits, at ``size`` px (or prepared as a model's :class:`Preparation` says) and
        ``channels`` channels."""
        return load_dataset(
            self.spec,
            size=size,
            channels=channels,
            seed=self.seed,
            train_per_class=self.train_per_class,
            val_per_class=self.val_per_class,
            data_root=self.data_root,
            download=self.download,
            limit=self.limit,
        )

    def validation(self, size: int | Preparation, channels: int) -> ImageSet:
        """The validation images (``per_class`` of each class when set). The built-in data's
        validation split does not depend on its training split, so none is made."""
        folder = Path(self.spec).expanduser()
        if self.whole and folder.is_dir() and not is_split_folder(folder):
            val = load_image_folder(folder, channels=channels, size=size, max_per_class=self.limit)
            return val.balanced_subset(self.per_class, seed=self.seed) if self.per_class else val
        val = dataclasses.replace(self, train_per_class=1).load(size, channels).val
        return val.balanced_subset(self.per_class, seed=self.seed) if self.per_class else val


def load_dataset(
    spec: str,
    size: int | Preparation = 32,
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
        return load_builtin(kind, train_per_class, val_per_class, Preparation.of(size).size, channels, seed)
    if spec.startswith(("torchvision:", "tv:")):
        name = spec.partition(":")[2]
        return DataSplits(
            load_torchvision_dataset(name, True, channels, size, data_root, download, limit),
            load_torchvision_dataset(name, False, channels, size, data_root, download, limit),
        )
    return _split_folder(Path(spec).expanduser(), channels=channels, size=size, max_per_class=limit)
