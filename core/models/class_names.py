"""Class names: a model's own, a file the user gives, or ImageNet-1k's from torchvision."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, ModelMismatchError
from ..limits import limits, open_input, shown, size_text
from ..logs import notice_once

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
    stripped), or JSON: a list of names, or an object from class index to name (or to
    ``[id, name]``, like Keras' ``imagenet_class_index.json``). Only a regular file of at most
    ``limits().max_class_names_bytes`` is read (a pipe would wait forever, ``/dev/zero``
    never end). Names may repeat (the widely copied ImageNet list names "crane" and "maillot"
    twice each): a note says which, since data folders of such a name cannot be matched to one
    class (:func:`class_index_map` refuses them).
    """
    path = Path(path)
    where = f"cannot read class names from {shown(path)}"
    handle, size = open_input(path, ConfigError, "a text file of class names", role="class names from ")
    bound = limits().max_class_names_bytes
    with handle:
        data = handle.read(bound + 1) if size <= bound else b""
    if size > bound or len(data) > bound:
        raise ConfigError(
            f"{where}: it is over {size_text(bound)}, far more than any list of class names; give the right "
            f"file (or raise {limits().describe('max_class_names_bytes')})"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}: it is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    if text.lstrip().startswith(("[", "{")):
        names = _json_class_names(text, path)
    else:
        lines = (line.strip() for line in text.splitlines())
        names = tuple(line for line in lines if line and not line.startswith("#"))
    if not names:
        raise ConfigError(
            f"{shown(path.name)} holds 0 class names; give one name per line (or a JSON list), in class-index order"
        )
    if len(names) != num_classes:
        raise ConfigError(f"{shown(path.name)} holds {len(names)} class names, but the model has {num_classes} classes")
    where_named: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        where_named.setdefault(name, []).append(index)
    repeated = [(name, indices) for name, indices in where_named.items() if len(indices) > 1]
    if repeated:
        listed = "; ".join(f"{name!r} (classes {', '.join(map(str, indices))})" for name, indices in repeated[:5])
        notice_once(
            f"repeated class names {path.resolve()}",
            f"{shown(path.name)} names some classes alike: {listed}; they are told apart by index only",
        )
    return names


def _json_class_names(text: str, path: Path) -> tuple[str, ...]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{shown(path.name)} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise ConfigError(f"{shown(path.name)} is JSON nested too deeply to be a list of class names") from None
    if isinstance(data, dict):
        try:
            ordered = sorted(data.items(), key=lambda item: int(item[0]))
        except ValueError:
            raise ConfigError(f"{shown(path.name)}: a JSON object of class names needs class indices as keys") from None
        if [int(key) for key, _ in ordered] != list(range(len(ordered))):
            raise ConfigError(f"{shown(path.name)}: the class indices must run from 0 without gaps")
        data = [value[-1] if isinstance(value, list) and value else value for _, value in ordered]
    if not isinstance(data, list) or not all(isinstance(name, str) and name.strip() for name in data):
        raise ConfigError(f"{shown(path.name)}: expected a JSON list of non-empty class names")
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
    class that matches nothing, two that match one output, or one whose name the model gives
    two outputs, raise :class:`ModelMismatchError` naming them (``where``: the data, for the
    message). Data whose class names are exactly the model's is the model's own, by position."""
    if list(data_classes) == list(model_labels):
        return tuple(range(len(data_classes)))  # the data the model was made from (its names may repeat)
    by_name: dict[str, list[int]] = {}
    for index, label in enumerate(model_labels):
        by_name.setdefault(_key(label), []).append(index)
    if len(model_labels) == len(imagenet_wnids()):
        for index, wnid in enumerate(imagenet_wnids()):
            by_name.setdefault(wnid, [index])
    for name in data_classes:
        outputs = by_name.get(_key(name), [])
        if len(outputs) > 1:
            raise ModelMismatchError(
                f"{where}'s class {name} names {len(outputs)} classes of the model (outputs "
                f"{', '.join(map(str, outputs[:5]))}); rename its folder to one of them, or give the model "
                "class names that tell them apart (--class-names)"
            )
    found = [by_name[_key(name)][0] if _key(name) in by_name else None for name in data_classes]
    if all(index is None for index in found) and len(data_classes) == len(model_labels):
        return tuple(range(len(data_classes)))
    if len(data_classes) == len(model_labels) and found == list(range(len(model_labels))):
        return tuple(range(len(data_classes)))
    unknown = [name for name, index in zip(data_classes, found) if index is None]
    if unknown:
        listed = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ModelMismatchError(
            f"{where} has class(es) {listed} that the model ({len(model_labels)} classes) does not have by name "
            "or WordNet id; rename the class folders to the model's class names (or give the model its "
            "class names), or use data with the model's classes"
        )
    indices = [int(index) for index in found if index is not None]
    for index in sorted(set(indices)):
        alike = [name for name, other in zip(data_classes, indices) if other == index]
        if len(alike) > 1:
            raise ModelMismatchError(
                f"{where}'s classes {' and '.join(alike[:3])} are the same class of the model, "
                f"{model_labels[index]} (by name or WordNet id, ignoring case, spaces, '_' and '-'); merge those "
                "folders or rename them"
            )
    return tuple(indices)
