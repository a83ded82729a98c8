"""Per-image masks on a Ray cluster (optional: ``pip install -e ".[cluster]"``).

The pending units of a mask group (:mod:`core.units`) are split into chunks of image ids. Each
chunk is a Ray task that learns its masks with the batched engine on its worker's device (a
GPU where the cluster has them) and returns the finished masks with everything a shard holds;
the driver alone writes them into the run store as they arrive, so workers need no shared
filesystem. The model and the group's images go into Ray's object store once and every task
reads them from there.

Exact: a chunk is learned with the slot count the whole group would use locally
(:func:`core.units.group_slots`), and at a fixed slot count an image's mask does not depend
on its batch-mates, so the cluster's masks are the local engine's. Fault tolerant: a task
whose worker dies is run again by Ray elsewhere (``max_retries``); nothing of it was written,
because only the driver writes, once per chunk received; a killed driver resumes as any run
does, by planning the group again, which skips the ids already stored.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .masks import ImageMaskConfig, ImageMaskResult, learn_image_masks
from .models import Classifier
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .store import ResultsStore
from .units import MaskUnit, group_slots, shard_arrays, single_group, stored_image_config

__all__ = ["check_cluster", "connected", "run_mask_units_on_cluster"]

log = logging.getLogger(__name__)

WAIT_S = 0.5  # how often the driver looks at the cancel token while chunks run
MAX_RETRIES = 3  # a chunk whose worker dies is run again this many times


def check_cluster(spec: str) -> str:
    """``spec`` if it names a cluster we can use, else a ConfigError saying what would."""
    if spec not in ("ray", "auto") and not spec.startswith("ray://"):
        raise ConfigError(f"--cluster must be ray, auto or ray://HOST:PORT, not {spec!r}")
    _ray()
    return spec


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            'learning on a cluster needs Ray, an optional extra: pip install -e ".[cluster]" '
            '(or pip install "ray[client]")'
        ) from None
    return ray


@contextmanager
def connected(cluster: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected to ``cluster`` for the duration (a local one started for ``ray``);
    a connection made earlier in the process (e.g. by a notebook) is used as it is."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    address = None if cluster == "ray" else cluster
    ray.init(
        address=address,
        num_cpus=num_cpus if address is None else None,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def run_mask_units_on_cluster(
    store: ResultsStore,
    units: Sequence[MaskUnit],
    model: Classifier,
    *,
    cluster: str,
    chunk_size: int = 0,
    num_cpus: int | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageMaskResult | None:
    """Learn the masks of ``units`` (one group) on Ray workers, writing each chunk's masks
    into ``store`` as it arrives. ``chunk_size``: image ids per task (default: the group's
    slot count on a CPU, one full batch). ``num_cpus`` limits a local cluster (``ray``).

    Progress counts finished masks (``masks_done``; the step budget of each, as the local
    engine counts them). Cancelling cancels the running chunks and keeps every mask already
    received; the result is then marked cancelled. Returns the statistics of the masks
    learned (``masks`` and ``histories`` are None, as for the local engine)."""
    group = single_group(units)
    if group is None:
        return None
    check_cluster(cluster)
    config = stored_image_config(store, group)
    inputs = store.image_mask_inputs(group)
    total = len(inputs["ids"])
    position = {image_id: k for k, image_id in enumerate(inputs["ids"].tolist())}
    pending = [position[u.image_id] for u in units]
    size = chunk_size or group_slots(config, total, torch.device("cpu"), model, tuple(inputs["images"].shape[1:]))
    chunks = [pending[start : start + size] for start in range(0, len(pending), size)]
    reporter = ProgressReporter("image-masks", len(pending) * config.max_steps, on_progress, cancel)
    received: list[ImageMaskResult] = []
    with connected(cluster, num_cpus) as ray:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=MAX_RETRIES)(_learn_chunk)
        model_ref = ray.put(copy.deepcopy(model).cpu())
        inputs_ref = ray.put({k: v for k, v in inputs.items() if k in ("images", "ids", "targets")})
        running = {task.remote(model_ref, inputs_ref, chunk, config, total): chunk for chunk in chunks}
        done = 0
        while running and not reporter.cancelled:
            finished, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
            for ref in finished:
                del running[ref]
                arrays = ray.get(ref)
                ids = arrays.pop("ids")
                store.append_image_masks(group, ids, **arrays)
                received.append(_statistics(ids, arrays, config))
                done += len(ids)
                reporter.report(done * config.max_steps, f"{done}/{len(pending)} masks", masks_done=done, group=group)
        for ref in running:
            ray.cancel(ref, force=True)
    if not received:
        return _statistics([], {}, config, cancelled=True)
    result = ImageMaskResult.concatenate(received, config)
    result = result.subset(np.argsort([position[i] for i in result.ids], kind="stable"))  # the units' order
    result.cancelled = bool(running)
    return result


def _learn_chunk(
    model: Classifier, inputs: dict[str, np.ndarray], rows: list[int], config: ImageMaskConfig, total: int
) -> dict[str, Any]:
    """One Ray task: the masks of ``rows`` of the group's inputs, with what a shard holds."""
    import ray

    threads = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
    torch.set_num_threads(max(1, threads))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    images = torch.from_numpy(inputs["images"][rows])
    targets = torch.from_numpy(inputs["targets"][rows]) if "targets" in inputs else None
    slots = group_slots(config, total, device, model, tuple(images.shape[1:]))
    part = learn_image_masks(
        model,
        images,
        ids=[str(i) for i in inputs["ids"][rows]],
        targets=targets,
        config=config,
        device=device,
        slots=slots,
    )
    log.debug("chunk of %d masks learned in process %d", len(part), os.getpid())
    return {"ids": part.ids, **shard_arrays(part, model, images)}


def _statistics(
    ids: list[str], arrays: dict[str, np.ndarray], config: ImageMaskConfig, cancelled: bool = False
) -> ImageMaskResult:
    """A received chunk as the local engine reports it: statistics, no masks."""

    def column(name: str, dtype) -> np.ndarray:
        return np.asarray(arrays.get(name, np.zeros(0)), dtype=dtype)

    return ImageMaskResult(
        ids=list(ids),
        masks=None,
        targets=column("targets", np.int64),
        steps=column("steps", np.int64),
        converged=column("converged", bool),
        prediction_kept=column("prediction_kept", bool),
        kept_fraction=column("kept_fraction", np.float32),
        final_loss=column("final_loss", np.float32),
        config=config,
        cancelled=cancelled,
    )
