"""Benchmark: per-image masks on a local Ray cluster with 1 and 2 workers, and the cost of a chunk.

On one machine, for the small CNN trained briefly on the built-in shapes:

1. **masks per second**: the same group learned by the local engine (one process, all cores'
   threads) and on a local Ray cluster with 1 and with 2 worker processes (one CPU each),
   each from a fresh store; the cluster's start-up (and each worker's first import of torch,
   done by a warm-up job) is left out and reported apart;
2. **the cost of a chunk**: chunks of a 1-step job, so that learning costs next to nothing,
   sent to the cluster: the wall time per chunk is what shipping a chunk costs (task dispatch,
   the object store, serialising the results, the driver writing the shard), and the bytes of a
   chunk's results are given. Choose a chunk size whose learning time dwarfs this.

    python benchmarks/cluster.py [--images 64] [--size 32] [--chunk-size 16] [--max-steps 3000]
        [--csv FILE]

Needs the [cluster] extra (Ray). Writes ``benchmarks/cluster-cpu.csv``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch
from speed import ROOT, cpu_machine, record, write_rows

from fourier_masks.core.data.datasets import load_builtin  # noqa: E402
from fourier_masks.core.masks.config import ImageMaskConfig  # noqa: E402
from fourier_masks.core.runs.executors import RayExecutor, run_mask_units  # noqa: E402
from fourier_masks.core.runs.groups import plan_image_masks  # noqa: E402
from fourier_masks.core.runs.store import ResultsStore  # noqa: E402
from fourier_masks.core.training.train import TrainConfig, train_model  # noqa: E402


def planned(images, config):
    store = ResultsStore(Path(tempfile.mkdtemp()) / "run")
    return store, plan_image_masks(store, "image/N-clean", images, model_name="N", config=config)


def warm(model, images, config, workers: int, chunk_size: int) -> None:
    """A 1-step job with a chunk per worker: each worker process imports torch and the engine
    once, which would otherwise count as learning time."""
    store, units = planned(images, config.replace(max_steps=1))
    RayExecutor("ray", chunk_size=chunk_size).run_group(store, units[: workers * chunk_size], model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    torch.manual_seed(0)
    data = load_builtin(size=args.size, channels=1, train_per_class=40, val_per_class=args.images // 6 + 1)
    model = train_model(data.train, data.val, config=TrainConfig(epochs=2, batch_size=64), name="N").model.eval()
    images = data.val.subset(range(args.images))
    config = ImageMaskConfig.fast(max_steps=args.max_steps, batch_size=args.chunk_size)
    print(
        f"{args.images} masks, small CNN, {args.size}x{args.size}, fast rule (<= {args.max_steps} steps), "
        f"chunks of {args.chunk_size}, slots {args.chunk_size}"
    )

    local_store, units = planned(images, config)
    start = time.perf_counter()
    local = run_mask_units(local_store, units, model)
    seconds = time.perf_counter() - start
    what = (
        f"{args.images} masks, small CNN, {args.size}×{args.size} px, fast rule (≤ {args.max_steps} steps), "
        f"chunks of {args.chunk_size}"
    )
    local_rate = len(local) / seconds
    record(
        "small_cnn", "local engine, one process", local_rate, "masks/s", f"{what}; {torch.get_num_threads()} threads"
    )
    rates = {}

    for workers in (1, 2):
        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        started = time.perf_counter() - start
        warm(model, images, config, workers, args.chunk_size)
        store, units = planned(images, config)
        start = time.perf_counter()
        result = RayExecutor("ray", chunk_size=args.chunk_size).run_group(store, units, model)
        seconds = time.perf_counter() - start
        same = np.array_equal(
            store.load_image_masks("image/N-clean").masks, local_store.load_image_masks("image/N-clean").masks
        )
        rates[workers] = len(result) / seconds
        record(
            "small_cnn",
            f"Ray, {workers} worker(s) (1 CPU each)",
            rates[workers],
            "masks/s",
            f"{seconds:.1f} s, warmed up; cluster start {started:.1f} s left out; masks identical to the local "
            f"engine's: {'yes' if same else 'NO'}"
            + (f"; {rates[2] / rates[1]:.2f}× one worker" if workers == 2 else ""),
        )
        if workers == 2:
            trivial = config.replace(max_steps=1)
            store, units = planned(images, trivial)
            chunks = -(-len(units) // args.chunk_size)
            start = time.perf_counter()
            RayExecutor("ray", chunk_size=args.chunk_size).run_group(store, units, model)
            per_chunk = (time.perf_counter() - start) / chunks
            shard = next((store.root / "masks" / "image" / "N-clean" / "shards").glob("part-*.npz"))
            record(
                "small_cnn",
                "cost of a chunk (a 1-step job)",
                1000 * per_chunk,
                "ms per chunk",
                f"{chunks} chunks of {args.chunk_size} on 2 workers; results {shard.stat().st_size / 1024:.0f} KiB per "
                f"chunk; model {len(pickle.dumps(model)) / 1024:.0f} KiB and images "
                f"{images.images.numpy().nbytes / 1024:.0f} KiB sent once",
            )
        ray.shutdown()
    machine = cpu_machine(load, ray=ray.__version__)
    write_rows(Path(args.csv) if args.csv else ROOT / "benchmarks" / "cluster-cpu.csv", machine)


if __name__ == "__main__":
    main()
