"""Per-image mask work as independent units keyed by image id.

A unit is one image of one mask group. A group is declared once in the results store with
everything a worker needs (model name, mask config, the input images and their ids);
finished masks arrive as shards, so any number of workers, on one machine or many, can take
disjoint sets of pending units and write into the same group with nothing but the store and
the model. Resuming after a crash is the same operation: plan again, and only unfinished
ids remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import ImageSet
from .masks import ImageMaskConfig, ImageMaskResult, auto_batch_size, learn_image_masks, slot_count
from .models import Classifier, model_device
from .progress import CancelToken, ProgressCallback
from .store import ResultsStore

__all__ = ["MaskUnit", "plan_image_masks", "run_mask_units"]


@dataclass(frozen=True)
class MaskUnit:
    group: str
    image_id: str


def plan_image_masks(
    store: ResultsStore,
    group: str,
    images: ImageSet,
    *,
    model_name: str,
    config: ImageMaskConfig,
    targets: torch.Tensor | None = None,
    **meta: Any,
) -> list[MaskUnit]:
    """Declare ``group`` with its inputs (first call only) and return the units still to do.

    ``targets`` are the classes each mask must keep; by default the model's own predictions.
    """
    extra = {} if targets is None else {"targets": torch.as_tensor(targets).numpy()}
    store.begin_image_masks(
        group,
        {"model": model_name, "config": config.to_dict(), "class_names": list(images.class_names), **meta},
        images=images.images.numpy(),
        labels=images.labels.numpy(),
        ids=list(images.ids),
        **extra,
    )
    done = store.finished_ids(group)
    return [MaskUnit(group, i) for i in images.ids if i not in done]


def run_mask_units(
    store: ResultsStore,
    units: Sequence[MaskUnit],
    model: Classifier,
    *,
    config: ImageMaskConfig | None = None,
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageMaskResult | None:
    """Learn the masks of ``units`` (all of one group) in one batched job, from the inputs
    stored with the group, saving each mask as it finishes. ``config`` defaults to the
    group's own.

    The batch has as many slots as the whole group would use, however many units are left,
    so a resumed or shared-out job computes every mask exactly as one uninterrupted run
    would. Masks go to the store, not memory: the result carries their statistics only
    (``masks`` is None)."""
    if not units:
        return None
    groups = {u.group for u in units}
    if len(groups) != 1:
        raise ValueError("run_mask_units takes units of one group at a time")
    group = groups.pop()
    if config is None:
        config = ImageMaskConfig(**store.mask_meta(group)["config"])
    inputs = store.image_mask_inputs(group)
    total = len(inputs["ids"])
    device = torch.device(device) if device is not None else model_device(model)
    slots = config.batch_size or slot_count(
        auto_batch_size(device, total, model, tuple(inputs["images"].shape[1:])), total
    )
    position = {image_id: k for k, image_id in enumerate(inputs["ids"].tolist())}
    index = np.array([position[u.image_id] for u in units], dtype=np.int64)
    targets = torch.from_numpy(inputs["targets"][index]) if "targets" in inputs else None

    def save(part: ImageMaskResult) -> None:
        assert part.masks is not None  # on_result sees each part before keep_masks=False drops its masks
        store.append_image_masks(
            group,
            part.ids,
            part.masks,
            targets=part.targets,
            steps=part.steps,
            converged=part.converged,
            prediction_kept=part.prediction_kept,
            kept_fraction=part.kept_fraction,
            final_loss=part.final_loss,
        )

    return learn_image_masks(
        model,
        torch.from_numpy(inputs["images"][index]),
        ids=[u.image_id for u in units],
        targets=targets,
        config=config,
        device=device,
        on_progress=on_progress,
        on_result=save,
        cancel=cancel,
        slots=slots,
        keep_masks=False,
    )
