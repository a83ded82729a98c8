"""Benchmark: memory over a long per-image mask job (2 000 images by default).

Learns single-image masks for N built-in images with a small CNN through the results store
(the path the CLI and the app use: masks go to disk as they finish) and records the process's
resident memory before the job, when 10 % and 100 % of the masks are done, and its peak.

    python benchmarks/long_run.py [--images 2000] [--size 16] [--max-steps 1500] [--csv FILE]

Writes ``benchmarks/long-run-cpu.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from speed import ROOT, cpu_machine, record, write_rows


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB, from /proc (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]

    from fourier_masks.core.data.datasets import load_builtin
    from fourier_masks.core.devices import tune_cpu_allocator
    from fourier_masks.core.masks.config import ImageMaskConfig
    from fourier_masks.core.runs.executors import run_mask_units
    from fourier_masks.core.runs.groups import plan_image_masks
    from fourier_masks.core.runs.store import ResultsStore
    from fourier_masks.core.training.train import TrainConfig, train_model

    tune_cpu_allocator()  # as the command line and the app run the engine
    per_class = -(-args.images // 6)
    data = load_builtin("shapes", 300, per_class, size=args.size)
    model = train_model(data.train, data.val, config=TrainConfig(epochs=3, max_lr=3e-3, crop_scale=(0.8, 1.0))).model
    images = data.val.subset(range(args.images))
    store = ResultsStore(Path(tempfile.mkdtemp(prefix="fm-long-")) / "run")
    config = ImageMaskConfig(max_steps=args.max_steps)
    units = plan_image_masks(store, "image/N-clean", images, model_name="N", config=config)
    samples: dict[str, tuple[float, float, float]] = {}
    start = time.perf_counter()
    baseline = rss_mb()

    def on_progress(event) -> None:
        for label, fraction in (("10 %", 0.1), ("100 %", 1.0)):
            if label not in samples and event.done >= fraction * event.total:
                samples[label] = (*rss_mb(), time.perf_counter() - start)

    result = run_mask_units(store, units, model, on_progress=on_progress)
    elapsed = time.perf_counter() - start
    median_steps = int(sorted(result.steps)[len(result) // 2])
    record(
        "small_cnn",
        "masks learned through the results store",
        len(result),
        "masks",
        f"{args.size}×{args.size} px, published rule capped at {args.max_steps} steps; median {median_steps} steps, "
        f"{100 * result.converged.mean():.0f} % converged",
    )
    record("small_cnn", "rate", len(result) / elapsed, "masks/s", f"{elapsed:.0f} s")
    record("small_cnn", "resident memory before the job", baseline[0], "MB")
    for label, (current, peak, at) in samples.items():
        record(
            "small_cnn", f"resident memory at {label} done", current, "MB", f"at {at:.0f} s; peak so far {peak:.0f} MB"
        )
    record("small_cnn", "peak resident memory", rss_mb()[1], "MB", "the process's high-water mark, training included")
    machine = cpu_machine(load)
    write_rows(Path(args.csv) if args.csv else ROOT / "benchmarks" / "long-run-cpu.csv", machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
