"""Data: images as :class:`ImageSet` (``(N, C, H, W)`` floats in [0, 1], labels, class names
and a stable id per image) from files, ImageFolder directories, torchvision datasets and the
built-in synthetic shapes."""

from .datasets import (
    TORCHVISION_DATASETS,
    DataRequest,
    default_data_root,
    load_builtin,
    load_dataset,
    load_image_folder,
    load_torchvision_dataset,
)
from .images import (
    IMAGE_EXTENSIONS,
    DataSplits,
    ImageSet,
    expand_image_paths,
    image_set_from_files,
    load_image,
    load_images,
)
from .synthetic import SHAPE_CLASSES, PlantedBand, make_planted, make_shapes, planted_band

__all__ = [
    "IMAGE_EXTENSIONS",
    "SHAPE_CLASSES",
    "TORCHVISION_DATASETS",
    "DataRequest",
    "DataSplits",
    "ImageSet",
    "PlantedBand",
    "default_data_root",
    "expand_image_paths",
    "image_set_from_files",
    "load_builtin",
    "load_dataset",
    "load_image",
    "load_image_folder",
    "load_images",
    "load_torchvision_dataset",
    "make_planted",
    "make_shapes",
    "planted_band",
]
