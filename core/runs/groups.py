"""Mask groups in the results store: per-image work as units keyed by image id, set and class
masks saved with how they were learned, and the convergence histories read back.

A unit is one image of one mask group. A group is declared once in the results store with
everything a worker needs (model name, mask config, the input images and their ids);
finished masks arrive as shards, so any executor (:mod:`.executors`), on one machine or many,
can take disjoint sets of pending units and write into the same group with nothing but the
store and the model. Resuming after a crash is the same operation: plan again, and only
unfinished ids remain.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.images import ImageSet
from ..errors import ConfigError
from ..masks.config import ImageMaskConfig
from ..masks.engine import auto_batch_size, slot_count
from ..masks.inference import masked_probabilities
from ..masks.results import ImageMaskResult, MaskHistory, SetMaskResult
from ..models.classifier import Classifier
from ..spectra.fourier import complement_mask
from .manifest import one_line
from .store import SHARD_REMEDY, SHARD_WIDE_PREFIX, Damage, ResultsStore

# What every per-image shard holds besides the masks: the class probabilities on x, M(x) and
# Mᶜ(x), so any viewer shows predictions without the model.
PROBABILITIES = ("probabilities_x", "probabilities_masked", "probabilities_complement")


@dataclass(frozen=True)
class MaskUnit:
    group: str
    image_id: str


def unused_group_name(store: ResultsStore, stem: str) -> str:
    """``stem`` and the first number not taken (``image/N-drop`` → ``image/N-drop1``): callers
    name a group before its job starts, so they know where its masks will appear. A damaged
    group's folder takes its name too."""
    k = 1
    while store.path(f"masks/{stem}{k}").exists():
        k += 1
    return f"{stem}{k}"


def group_label(group: str) -> str:
    """``image/N-drop1`` → ``N-drop1``: how files that belong to a group are named."""
    return group.split("/", 1)[-1]


def stored_image_config(store: ResultsStore, group: str) -> ImageMaskConfig:
    """The settings a per-image group was declared with: the only source for running it."""
    stored = store.mask_meta(group).get("config") or {}
    try:
        return ImageMaskConfig(**stored)
    except TypeError as exc:
        raise ConfigError(
            f"mask group {group!r} was declared with settings this version does not know ({exc}); "
            "open it with the version that made it"
        ) from None


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


def queue_config(store: ResultsStore, groups: Sequence[str]) -> ImageMaskConfig:
    """The one mask configuration that ``groups`` were declared with; groups that differ
    cannot share a batch."""
    configs = {group: stored_image_config(store, group) for group in groups}
    first = configs[groups[0]]
    for group, config in configs.items():
        if config != first:
            raise ConfigError(
                f"mask groups {groups[0]!r} and {group!r} were declared with different settings; "
                "learn them in separate jobs"
            )
    return first


def queue_image_shape(inputs: dict[str, dict[str, np.ndarray]]) -> tuple[int, ...]:
    shapes = {tuple(arrays["images"].shape[1:]) for arrays in inputs.values()}
    if len(shapes) > 1:
        raise ConfigError(f"mask groups of different image shapes {sorted(shapes)} cannot share a batch")
    return shapes.pop()


def single_group(units: Sequence[MaskUnit]) -> str | None:
    """The one group ``units`` belong to (None for no units); units of several are an error."""
    groups = {u.group for u in units}
    if len(groups) > 1:
        raise ValueError("a cluster job takes units of one group at a time")
    return groups.pop() if groups else None


def group_slots(
    config: ImageMaskConfig, total: int, device: torch.device, model: Classifier, image_shape: tuple[int, ...]
) -> int:
    """How many images a batch learns at once: the slot count for the ``total`` images its
    groups were declared with, however many of their units are left or wherever they run, so
    that every mask comes out as in one uninterrupted local run. A batch size beyond
    ``total`` is cut to it: empty slots would only cost memory."""
    if config.batch_size:
        return min(config.batch_size, total)
    return slot_count(auto_batch_size(device, total, model, image_shape), total)


def shard_arrays(part: ImageMaskResult, model: Classifier, images: torch.Tensor) -> dict[str, np.ndarray]:
    """What a shard stores for finished masks ``part`` of ``images``: the masks and their
    statistics, the class probabilities on x, M(x) and Mᶜ(x) (named by
    :data:`PROBABILITIES`), and the convergence histories (``history_*``)."""
    assert part.masks is not None  # callers see each part before keep_masks=False drops its masks
    x, masked, complement = (
        masked_probabilities(model, images, m, component=part.config.component)
        for m in (None, part.masks, complement_mask(part.masks))
    )
    return {
        "masks": part.masks,
        "targets": part.targets,
        "steps": part.steps,
        "converged": part.converged,
        "prediction_kept": part.prediction_kept,
        "kept_fraction": part.kept_fraction,
        "final_loss": part.final_loss,
        **{name: p.numpy().astype(np.float32) for name, p in zip(PROBABILITIES, (x, masked, complement))},
        **_packed_histories(part.histories or []),
    }


_CURVES = ("steps", "invariance", "kept_fraction", "preserved")


def _packed_histories(histories: Sequence[MaskHistory]) -> dict[str, np.ndarray]:
    """A shard's histories as flat arrays (``history_*``): lengths, then everything concatenated."""
    if not histories:
        return {}
    packed = {f"{SHARD_WIDE_PREFIX}length": np.array([len(h) for h in histories], dtype=np.int32)}
    for name in _CURVES:
        packed[f"{SHARD_WIDE_PREFIX}{name}"] = np.concatenate([getattr(h, name) for h in histories])
    packed[f"{SHARD_WIDE_PREFIX}snapshot_count"] = np.array([len(h.snapshot_steps) for h in histories], np.int32)
    packed[f"{SHARD_WIDE_PREFIX}snapshot_steps"] = np.concatenate([h.snapshot_steps for h in histories])
    frames = [h.snapshots for h in histories if len(h.snapshots)]
    snapshots = np.concatenate(frames) if frames else np.zeros((0, 1, 1, 1), dtype=np.uint8)
    # Snapshots of a converging mask are mostly saturated: zlib shrinks them several-fold.
    packed[f"{SHARD_WIDE_PREFIX}snapshot_shape"] = np.array(snapshots.shape, dtype=np.int64)
    packed[f"{SHARD_WIDE_PREFIX}snapshots_zlib"] = np.frombuffer(zlib.compress(snapshots.tobytes(), 1), np.uint8)
    return packed


def image_mask_history(store: ResultsStore, group: str, image_id: str, source: str | None = None) -> MaskHistory | None:
    """How one image's mask converged, or None (masks of older runs, or not finished).
    ``source``: the shard holding it (:attr:`.store.StoredImageMasks.sources`), which
    spares a search through the group's shards."""
    if source is None:
        stored = store.load_image_masks(group)
        if image_id not in stored.ids:
            return None
        source = stored.sources[stored.ids.index(image_id)]
    arrays = store.shard_arrays(group, source)
    lengths = arrays.get(f"{SHARD_WIDE_PREFIX}length")
    ids = arrays["ids"].tolist()
    if lengths is None or image_id not in ids:
        return None
    try:
        return _unpacked_history(arrays, ids.index(image_id))
    except (KeyError, ValueError, TypeError, IndexError, OverflowError, zlib.error) as exc:
        path = store.path(f"masks/{group}/shards/{source}")
        raise Damage(path, f"its convergence histories: {one_line(exc, 80)}", SHARD_REMEDY, group).error() from None


def _unpacked_history(arrays: dict[str, np.ndarray], k: int) -> MaskHistory:
    """Image ``k``'s history from a shard's packed ``history_*`` arrays (:func:`_packed_histories`),
    checked: ValueError when they do not fit together."""
    lengths, counts = (arrays[f"{SHARD_WIDE_PREFIX}{name}"].astype(np.int64) for name in ("length", "snapshot_count"))
    if len(lengths) != len(arrays["ids"]) or len(counts) != len(lengths) or (lengths < 0).any() or (counts < 0).any():
        raise ValueError("lengths that do not fit the images")
    start, end = int(lengths[:k].sum()), int(lengths[: k + 1].sum())
    first, last = int(counts[:k].sum()), int(counts[: k + 1].sum())
    curves = {name: arrays[f"{SHARD_WIDE_PREFIX}{name}"][start:end] for name in _CURVES}
    steps = arrays[f"{SHARD_WIDE_PREFIX}snapshot_steps"][first:last]
    shape = tuple(int(n) for n in arrays[f"{SHARD_WIDE_PREFIX}snapshot_shape"].tolist())
    if any(len(c) != end - start for c in curves.values()) or len(steps) != last - first:
        raise ValueError("curves shorter than their lengths say")
    if len(shape) != 4 or min(shape) < 0:
        raise ValueError(f"snapshots of shape {shape}")
    size = math.prod(shape)
    packed = zlib.decompressobj()
    snapshots = np.frombuffer(
        packed.decompress(arrays[f"{SHARD_WIDE_PREFIX}snapshots_zlib"].tobytes(), size + 1), np.uint8
    )
    if len(snapshots) != size or shape[0] < last:
        raise ValueError(f"{len(snapshots)} snapshot bytes for snapshots {shape}")
    return MaskHistory(unit="step", snapshot_steps=steps, snapshots=snapshots.reshape(shape)[first:last], **curves)


def save_set_mask_result(
    store: ResultsStore,
    group: str,
    result: SetMaskResult,
    *,
    model_name: str,
    class_names: Sequence[str],
    learned_on: Sequence[str],
    role: str = "dataset",
) -> None:
    """A learned set mask with what says how it was learned (stop information, per-epoch
    curves and mask snapshots, the ids of the images it was ``learned_on``, so a report can
    measure it on others): the one way every entry point stores a set mask."""
    store.save_set_mask(
        group,
        result.mask,
        {
            "model": model_name,
            "role": role,
            "config": result.config.to_dict(),
            **result.summary(),
            "class_names": list(class_names),
            "learned_on": list(learned_on),
        },
    )
    history = result.mask_history()
    store.save_set_mask_history(
        group,
        **{name: getattr(history, name) for name in _CURVES},
        snapshot_steps=history.snapshot_steps,
        snapshots=history.snapshots,
    )


def save_class_mask_results(
    store: ResultsStore,
    group: str,
    results: Mapping[int, SetMaskResult],
    *,
    model_name: str,
    class_names: Sequence[str],
) -> None:
    """Learned class masks, with how each was learned (masked accuracy, kept fraction,
    whether its stop rule was met, which epoch's mask it is): the one way every entry point
    stores class masks."""
    first = next(iter(results.values()))
    store.save_class_masks(
        group,
        {k: r.mask for k, r in results.items()},
        {
            "model": model_name,
            "config": first.config.to_dict(),
            "class_names": list(class_names),
            "masked_accuracy": {k: r.masked_accuracy for k, r in results.items()},
            "kept_fraction": {k: r.kept_fraction for k, r in results.items()},
            "converged": {k: r.converged for k, r in results.items()},
            "epoch_kept": {k: r.epoch_kept for k, r in results.items()},
        },
    )


def set_mask_history(store: ResultsStore, group: str) -> MaskHistory | None:
    """How a set mask converged (per epoch), or None for set masks of older runs."""
    arrays = store.set_mask_history(group)  # checked: every curve has one value per epoch
    if arrays is None:
        return None
    return MaskHistory(unit="epoch", **{name: arrays[name] for name in (*_CURVES, "snapshot_steps", "snapshots")})
