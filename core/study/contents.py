"""What a run holds, read from its store: mask groups by model and role, the models, the
validation set it recorded.

Conventions read from mask-group metadata: ``model`` (the model's name in ``models/``),
``role`` (``dataset`` or ``stability`` for set masks; ``essential`` and ``adversarial-map``
for the adversarial-maps analysis, which has tables of its own) and ``inputs`` (``clean`` or
``adversarial`` for per-image groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.images import ImageSet
from ..errors import OutputError
from ..models.checkpoints import inspect_checkpoint, load_model
from ..models.classifier import Classifier
from ..runs.adversarial import load_adversarial_images
from ..runs.classes import fit_classes
from ..runs.store import ResultsStore
from ..spectra.energy import Partition, angular_partition, radial_partition


@dataclass
class RunContents:
    """Which mask groups a run holds, by model."""

    models: list[str]
    dataset_masks: dict[str, str] = field(default_factory=dict)
    stability_masks: dict[str, list[str]] = field(default_factory=dict)
    class_masks: dict[str, str] = field(default_factory=dict)
    clean_image_masks: dict[str, str] = field(default_factory=dict)
    adversarial_image_masks: dict[str, str] = field(default_factory=dict)

    def image_groups(self) -> list[str]:
        return [*self.clean_image_masks.values(), *self.adversarial_image_masks.values()]


def discover(store: ResultsStore) -> RunContents:
    contents = RunContents(models=store.model_names())
    for group in store.mask_groups():
        meta = store.mask_meta(group)
        model, kind = meta.get("model"), meta.get("kind")
        if model is None or meta.get("role") in ("essential", "adversarial-map"):
            continue  # the adversarial-maps analysis has tables of its own
        if kind == "set" and meta.get("role", "dataset") == "dataset":
            contents.dataset_masks.setdefault(model, group)
        elif kind == "set":
            contents.stability_masks.setdefault(model, []).append(group)
        elif kind == "class":
            contents.class_masks.setdefault(model, group)
        elif kind == "image" and meta.get("inputs") == "adversarial":
            contents.adversarial_image_masks.setdefault(model, group)
        elif kind == "image":
            contents.clean_image_masks.setdefault(model, group)
    return contents


def validation_set(store: ResultsStore) -> ImageSet | None:
    """The run's validation set, rebuilt from the data recorded in ``run.json`` (if any) and
    labelled as the run's models' outputs (:func:`~fourier_masks.core.runs.classes.fit_classes`)."""
    record = store.manifest.data
    if record is None:
        return None
    val = record.request().validation(record.preparation, record.channels)
    summaries = {name: inspect_checkpoint(store.model_path(name)).info for name in store.model_names()}
    infos = {name: info for name, info in summaries.items() if info is not None}
    return fit_classes(val, infos) if infos else val


class RunModels:
    """Loads the run's models on first use."""

    _cache: dict[str, Classifier]

    def __init__(self, store: ResultsStore, device) -> None:
        self.store, self.device, self._cache = store, device, {}

    def __getitem__(self, name: str) -> Classifier:
        if name not in self._cache:
            if not self.store.has_model(name):
                raise OutputError(
                    f"the run has masks for model {name!r} but no {self.store.root / 'models' / name}.safetensors "
                    "(nor .pt, .pt2); put the model file back, or remove its masks"
                )
            self._cache[name] = load_model(self.store.model_path(name), device=self.device)
        return self._cache[name]


def reference_first(names, reference: str) -> list[str]:
    return sorted(names, key=lambda n: (n != reference, n))


def mask_component(store: ResultsStore, group: str) -> str:
    """What a group's masks modulate (older runs: the magnitude)."""
    return (store.mask_meta(group).get("config") or {}).get("component", "magnitude")


def aligned_image_masks(store: ResultsStore, group: str) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Inputs and finished masks of a group, aligned (only finished images)."""
    stored = store.load_image_masks(group)
    inputs = store.image_mask_inputs(group)
    position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
    index = np.array([position[i] for i in stored.ids], dtype=np.int64)
    aligned = {k: v[index] for k, v in inputs.items()}
    aligned.update({f"mask_{k}": v for k, v in stored.arrays.items()})
    return stored.masks, aligned, stored.meta


def adversarial_images(store: ResultsStore, contents: RunContents, model: str, ids) -> torch.Tensor | None:
    """Adversarial versions of images ``ids`` against ``model``: those the run keeps
    (:mod:`..runs.adversarial`), else the inputs of the model's adversarial mask group; None
    when not all are there."""
    ids = list(ids)
    kept = load_adversarial_images(store, model)
    rows = kept.rows(ids) if kept is not None else None
    if rows is None and model in contents.adversarial_image_masks:
        inputs = store.image_mask_inputs(contents.adversarial_image_masks[model])
        position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
        if all(i in position for i in ids):
            rows = inputs["images"][[position[i] for i in ids]]
    return None if rows is None else torch.from_numpy(rows)


def partitions(store: ResultsStore, contents: RunContents, bands: int) -> tuple[Partition, Partition]:
    some = next(iter(contents.dataset_masks.values()), None) or next(iter(contents.image_groups()), None)
    if some is None:
        raise OutputError("the run has no masks yet")
    meta = store.mask_meta(some)
    shape = tuple(meta["shape"][-2:]) if "shape" in meta else store.load_image_masks(some).masks.shape[-2:]
    return radial_partition(shape, bands), angular_partition(shape, bands)
