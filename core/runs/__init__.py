"""Runs: one folder per run, written as results are produced (the results store); mask groups
declared in it and learned as units by a local or a Ray executor, resumable after a crash."""

from .executors import LocalExecutor, RayExecutor, check_cluster, run_mask_units
from .groups import (
    PROBABILITIES,
    MaskUnit,
    image_mask_history,
    plan_image_masks,
    save_set_mask_result,
    set_mask_history,
    unused_group_name,
)
from .manifest import RUN_FORMAT, DataRecord, RunManifest
from .store import ResultsStore, StoredImageMasks

__all__ = [
    "LocalExecutor",
    "RayExecutor",
    "PROBABILITIES",
    "RUN_FORMAT",
    "DataRecord",
    "RunManifest",
    "MaskUnit",
    "ResultsStore",
    "StoredImageMasks",
    "check_cluster",
    "image_mask_history",
    "plan_image_masks",
    "run_mask_units",
    "save_set_mask_result",
    "set_mask_history",
    "unused_group_name",
]
