"""Data scored by models whose classes it may name differently, or be a few of: labels moved
onto the models' outputs (:func:`~fourier_masks.core.models.class_names.class_index_map`).

Accuracy is then the argmax over all of a model's outputs, as a user of the whole model sees
it (an Imagenette dog taken for any of ImageNet's 999 other classes is wrong), and the mask
objectives use the mapped label: the cross-entropy over all outputs keeps the true class's
score high against every other class the model knows."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from ..data.datasets import DataRequest
from ..data.images import ImageSet
from ..errors import ModelMismatchError
from ..logs import NOTICES
from ..masks.inference import correctly_classified
from ..models.class_names import class_index_map
from ..models.classifier import Classifier, ModelInfo


def evaluation_request(request: DataRequest, infos: Mapping[str, ModelInfo]) -> DataRequest:
    """``request`` for scoring ``infos``' models: a folder without its own splits is used whole
    unless one of them was trained by this product on a folder of that name (training takes
    80 % of such a folder, and :attr:`ModelInfo.training` records the folder's name), so no
    image a model learned from is scored."""
    folder = Path(request.spec).expanduser().name
    trained_on_it = any(info.training.get("dataset") == folder for info in infos.values())
    return dataclasses.replace(request, whole=not trained_on_it)


def fit_classes(images: ImageSet, infos: Mapping[str, ModelInfo]) -> ImageSet:
    """``images`` labelled as the models' outputs (they must agree); a data set labelled in the
    models' own classes already comes back as it is. Raises :class:`ModelMismatchError` with
    one line when a class is not the models' or when channels differ."""
    mapped: dict[str, tuple[int, ...]] = {}
    for name, info in infos.items():
        if images.channels != info.in_channels:
            raise ModelMismatchError(
                f"{info.display_name} takes {info.in_channels}-channel images but the data has {images.channels} channel(s)"
            )
        if images.num_classes > info.num_classes:
            raise ModelMismatchError(
                f"{images.name or 'the data'} has {images.num_classes} classes but model {name} has "
                f"{info.num_classes}; use data with at most the model's classes"
            )
        mapped[name] = class_index_map(images.class_names, info.labels(), images.name or "the data")
    first_name, first = next(iter(mapped.items()))
    for name, indices in mapped.items():
        if indices != first or infos[name].num_classes != infos[first_name].num_classes:
            raise ModelMismatchError(
                f"models {first_name} and {name} put the data's classes on different outputs; compare "
                "models with the same classes"
            )
    labels = infos[first_name].labels()
    if first == tuple(range(images.num_classes)) and images.num_classes == len(labels):
        return images
    return images.in_model_classes(first, labels)


def say_clean_accuracy(model: Classifier, name: str, images: ImageSet) -> None:
    """A note with the model's accuracy on the labelled images it is about to be measured on:
    a wrong preprocessing or class order shows here, before any work."""
    labelled = (images.labels >= 0).numpy()
    if not labelled.any():
        return
    correct = correctly_classified(model, images.images, images.labels)[labelled]  # in batches
    NOTICES.warning(
        f"model {name}: clean accuracy {100 * correct.mean():.1f} % on {int(labelled.sum())} labelled images "
        "(if this is far below what the model should reach, check its preprocessing and classes)"
    )
