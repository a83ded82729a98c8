"""Class names: a model's own, a file the user gives, or ImageNet-1k's from torchvision."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, ModelMismatchError

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


WNID = re.compile(r"^n\d{8}$")


@functools.lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (index 0 is ``n01440764``, tench),
    from the list bundled with the package."""
    from importlib.resources import files

    text = files("fourier_masks.resources").joinpath("imagenet_wnids.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def class_index_map(data_classes: Sequence[str], model_labels: Sequence[str], where: str) -> tuple[int, ...]:
    """The model output each data class is, by position, in a list the data and model share.

    Classes match by name (case, spaces, ``_`` and ``-`` ignored) or, for a 1000-class model,
    by ImageNet WordNet id (an Imagenette folder ``n02102040`` is output 217, "English
    springer"). A data set with as many classes as the model whose names match none of the
    model's is taken in the model's order (folders ``0 … K−1`` or renamed classes); any other
    class that matches nothing, or two that match one output, raise :class:`ModelMismatchError`
    naming them (``where``: the data, for the message)."""
    by_name: dict[str, int] = {}
    for index, label in enumerate(model_labels):
        by_name.setdefault(_key(label), index)
    if len(model_labels) == len(imagenet_wnids()):
        for index, wnid in enumerate(imagenet_wnids()):
            by_name.setdefault(wnid, index)
    found = [by_name.get(_key(name)) for name in data_classes]
    if all(index is None for index in found) and len(data_classes) == len(model_labels):
        return tuple(range(len(data_classes)))
    if len(data_classes) == len(model_labels) and found == list(range(len(model_labels))):
        return tuple(range(len(data_classes)))
    unknown = [name for name, index in zip(data_classes, found) if index is None]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ModelMismatchError(
            f"{where} has class(es) {shown} that the model ({len(model_labels)} classes) does not have by name "
            "or WordNet id; rename the class folders to the model's class names (or give the model its "
            "class names), or use data with the model's classes"
        )
    indices = [int(index) for index in found if index is not None]
    if len(set(indices)) < len(indices):
        raise ModelMismatchError(f"{where} has two classes that are the same class of the model; merge them")
    return tuple(indices)
