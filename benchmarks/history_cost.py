"""Benchmark: what the convergence history kept with every per-image mask costs.

Learns the same masks through the store twice, with the history recorded (as always) and with
recording switched off (the engine's ``record_history`` replaced by a no-op, for this
measurement only), alternating ``--repeats`` times, and reports the wall time per mask of
each, and the bytes per mask of the shards: masks and statistics, class probabilities, and
the history (curves and uint8 snapshots).

    python benchmarks/history_cost.py [--images 64] [--size 64] [--max-steps 3000] [--repeats 3]
        [--csv FILE]

Writes ``benchmarks/history-cost-cpu.csv``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from speed import ROOT, cpu_machine, write_rows  # noqa: E402
from speed import record as row  # noqa: E402

from fourier_masks.core.data.datasets import load_builtin  # noqa: E402
from fourier_masks.core.masks.config import ImageMaskConfig  # noqa: E402
from fourier_masks.core.masks.engine import SlotEngine  # noqa: E402
from fourier_masks.core.runs.executors import run_mask_units  # noqa: E402
from fourier_masks.core.runs.groups import PROBABILITIES, plan_image_masks  # noqa: E402
from fourier_masks.core.runs.store import SHARD_WIDE_PREFIX, ResultsStore  # noqa: E402
from fourier_masks.core.training.train import TrainConfig, train_model  # noqa: E402


def learn(model, images, config, record: bool) -> tuple[float, ResultsStore]:
    original = SlotEngine.record_history
    if not record:
        SlotEngine.record_history = lambda self: None  # type: ignore[method-assign]
    try:
        store = ResultsStore(Path(tempfile.mkdtemp()) / "run")
        units = plan_image_masks(store, "image/N-clean", images, model_name="N", config=config)
        start = time.perf_counter()
        run_mask_units(store, units, model)
        return time.perf_counter() - start, store
    finally:
        SlotEngine.record_history = original  # type: ignore[method-assign]


def shard_bytes(store: ResultsStore) -> dict[str, int]:
    """Bytes of each kind of array in the group's shards (as stored, uncompressed)."""
    sizes = {"masks and statistics": 0, "probabilities": 0, "history": 0}
    for shard in (store.root / "masks" / "image" / "N-clean" / "shards").glob("part-*.npz"):
        with np.load(shard) as data:
            for key in data.files:
                kind = (
                    "history"
                    if key.startswith(SHARD_WIDE_PREFIX)
                    else "probabilities"
                    if key in PROBABILITIES
                    else "masks and statistics"
                )
                sizes[kind] += data[key].nbytes
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    torch.manual_seed(0)
    data = load_builtin(size=args.size, channels=1, train_per_class=40, val_per_class=max(2, args.images // 6 + 1))
    model = train_model(data.train, data.val, config=TrainConfig(epochs=2, batch_size=64), name="N").model.eval()
    images = data.val.subset(range(args.images))
    config = ImageMaskConfig.fast(max_steps=args.max_steps)
    times: dict[bool, list[float]] = {True: [], False: []}
    store = None
    for _ in range(args.repeats):
        for record in (False, True):
            seconds, made = learn(model, images, config, record)
            times[record].append(seconds)
            store = made if record else store
    off, on = statistics.median(times[False]), statistics.median(times[True])
    what = f"{args.images} masks, {args.size}×{args.size} px, fast rule (≤ {args.max_steps} steps)"
    row(
        "small_cnn",
        "wall time per mask, history off",
        1000 * off / args.images,
        "ms",
        f"{what}; median of {args.repeats}",
    )
    row("small_cnn", "wall time per mask, history recorded", 1000 * on / args.images, "ms", f"median of {args.repeats}")
    row("small_cnn", "history's share of the wall time", 100 * (on / off - 1), "%", "+: slower with the history")
    assert store is not None
    for kind, size in shard_bytes(store).items():
        row("small_cnn", f"stored per mask: {kind}", size / args.images / 1024, "KiB", "array bytes in the shards")
    machine = cpu_machine(load)
    write_rows(Path(args.csv) if args.csv else ROOT / "benchmarks" / "history-cost-cpu.csv", machine)


if __name__ == "__main__":
    main()
