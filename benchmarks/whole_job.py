"""Benchmark: the whole-job rate of per-image masks against the full-batch rate.

A job's masks stop at different steps, so its last masks run in a small batch (the draining
tail). The engine keeps the batch full across the end of one mask group and the start of the
next when they share a queue (:func:`fourier_masks.core.runs.run_mask_units`). For each job size this
learns the masks of a model's clean images and of their PGD adversarial images (two groups,
half the images each, fast rule, through the results store as the command line does):

- in one queue, and (up to ``--sequential-up-to`` images) one group after the other;
- the whole job's image-steps per second (every optimiser step of every mask, over the job's
  wall time: refills, the draining tail, harvests, and each shard's class probabilities and
  writing included) as a fraction of the masked step's rate at a full batch.

    python benchmarks/whole_job.py [--model resnet18] [--size 64] [--images 64 512]
        [--checkpoint FILE] [--csv FILE]

Writes ``benchmarks/whole-job-<device>-<model>.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from speed import ROOT, full_batch_step_rate, record, sync, trained_model, write_rows  # noqa: E402

from fourier_masks.core.attacks.adversarial import attack_images
from fourier_masks.core.devices import resolve_device, tune_cpu_allocator
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.masks.engine import auto_batch_size
from fourier_masks.core.runs.executors import run_mask_units
from fourier_masks.core.runs.groups import plan_image_masks
from fourier_masks.core.runs.store import ResultsStore


def whole_job(model, clean, adversarial, config, device, queued: bool) -> tuple[float, int]:
    """(seconds, image-steps) of learning both groups' masks into a fresh run."""
    with tempfile.TemporaryDirectory() as folder:
        store = ResultsStore(Path(folder) / "run")
        units = plan_image_masks(store, "image/m-clean", clean, model_name="m", config=config)
        second = plan_image_masks(store, "image/m-adversarial", adversarial, model_name="m", config=config)
        sync(device)
        start = time.perf_counter()
        if queued:
            results = [run_mask_units(store, units + second, model, device=device)]
        else:
            results = [run_mask_units(store, group, model, device=device) for group in (units, second)]
        sync(device)
        seconds = time.perf_counter() - start
    return seconds, int(sum(r.steps.sum() for r in results if r is not None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, nargs="+", default=[64, 512], help="job sizes (both groups together)")
    parser.add_argument("--sequential-up-to", type=int, default=64)
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--steady-steps", type=int, default=100)
    parser.add_argument("--checkpoint", default=None, help="reuse the model trained into this file (else save it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    tune_cpu_allocator()
    machine = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    print("machine:", json.dumps(machine), flush=True)
    arch = args.model
    args.images, sizes = max(args.images) // 2, args.images  # trained_model loads enough validation images
    model, data, _ = trained_model(arch, args, device)
    config = ImageMaskConfig.fast()
    val = data.val
    batch = auto_batch_size(device, max(sizes), model, tuple(val.images.shape[1:]))
    full_rate = full_batch_step_rate(model, val.images[:batch].to(device), batch, args.steady_steps, device)
    record(arch, "engine masked step, full batch", full_rate, "image-steps/s", f"batch {batch}")
    for n in sizes:
        clean = val.subset(torch.arange(n // 2))
        adversarial_images = attack_images(model, clean.images, clean.labels, device=device).cpu()
        adversarial = dataclasses.replace(clean, images=adversarial_images)
        runs = [True] + ([False] if n <= args.sequential_up_to else [])
        for queued in runs:
            seconds, steps = whole_job(model, clean, adversarial, config, device, queued)
            how = "clean and adversarial groups in one queue" if queued else "one group after the other"
            record(
                arch,
                f"whole job, {n} images, {how}",
                steps / seconds,
                "image-steps/s",
                f"{n / seconds:.3f} masks/s, {steps} steps in {seconds:.0f} s",
            )
            record(arch, f"whole job / full batch, {n} images, {how}", 100 * steps / seconds / full_rate, "%")

    target = Path(args.csv) if args.csv else ROOT / "benchmarks" / f"whole-job-{device.type}-{arch}.csv"
    write_rows(target, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
