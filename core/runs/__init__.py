"""Runs: one folder per run, written as results are produced (the results store) by one job at
a time (its write lock); mask groups declared in it and learned as units by a local or a Ray
executor, resumable after a crash; damaged files named, never read as good ones."""

from .executors import LocalExecutor, RayExecutor, check_cluster, run_mask_units
from .export import ExportedMasks, export_mask_group, read_exported_masks
from .groups import (
    PROBABILITIES,
    MaskUnit,
    group_label,
    image_mask_history,
    plan_image_masks,
    save_set_mask_result,
    set_mask_history,
    unused_group_name,
)
from .lock import RunLock
from .manifest import RUN_FORMAT, DataRecord, RunManifest
from .provenance import Provenance
from .store import Damage, ResultsStore, StoredImageMasks
from .tracking import ProgressTracker, TrackingTarget, fan_out, open_tracker
from .workflows import (
    CHECKPOINT_SUFFIXES,
    ImageMaskJob,
    LoadedModels,
    attack_group_into_run,
    keep_model,
    learn_class_masks_into_run,
    learn_file_masks_into_run,
    learn_image_masks_into_run,
    learn_set_mask_into_run,
    load_models_into_run,
    sort_dropped_paths,
    train_into_run,
    train_variants_into_run,
)

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "ImageMaskJob",
    "LoadedModels",
    "attack_group_into_run",
    "keep_model",
    "learn_class_masks_into_run",
    "learn_file_masks_into_run",
    "learn_image_masks_into_run",
    "learn_set_mask_into_run",
    "load_models_into_run",
    "sort_dropped_paths",
    "train_into_run",
    "train_variants_into_run",
    "LocalExecutor",
    "RayExecutor",
    "PROBABILITIES",
    "RUN_FORMAT",
    "DataRecord",
    "Damage",
    "RunLock",
    "RunManifest",
    "MaskUnit",
    "ResultsStore",
    "StoredImageMasks",
    "check_cluster",
    "ProgressTracker",
    "TrackingTarget",
    "fan_out",
    "open_tracker",
    "ExportedMasks",
    "export_mask_group",
    "read_exported_masks",
    "Provenance",
    "group_label",
    "image_mask_history",
    "plan_image_masks",
    "run_mask_units",
    "save_set_mask_result",
    "set_mask_history",
    "unused_group_name",
]
