"""Benchmark: single-image masks against the published one-image-at-a-time algorithm.

In one run, on one machine, for each model (the small CNN and ResNet18, 64×64 grayscale,
trained briefly on the built-in shapes):

1. **baseline vs engine**: masks per second of a faithful transcription of the published
   algorithm (one image at a time: ``torch.optim.Adam`` + ``OneCycleLR`` sized for
   20 000 × 200 steps, clamp, the published stop rule, at most 20 000 steps) on the first
   ``--baseline-images`` images, against the engine (batched, slots refilled, fused
   channels-last network, :meth:`ImageMaskConfig.fast` rule) on ``--images`` images that
   include them; with the outcome compared on the shared images (every prediction kept,
   invariance term within 1e-3 of 1, median kept fraction within 10 %, and the share of
   images individually within 10 %), and the published rule's own noise floor: the same
   algorithm run batched by the engine (it differs only by float rounding) on those images;
2. **the limit**: the frozen network's own forward+backward throughput at the engine's batch
   size (as given, and fused/channels-last like the engine runs it), and the engine's
   image-steps per second as a fraction of it, both at a full batch (the masked step) and over
   the whole job (refills, the draining tail and harvests included);
3. **set masks**: the time of one set-mask epoch against one plain forward+backward pass over
   the same set;
4. **memory**: peak memory against batch size, and the batch size the engine picks.

    python benchmarks/speed.py [--models small_cnn resnet18] [--images 128]
        [--baseline-images 8] [--device auto] [--csv FILE] [--quick]

Prints a table and writes it as CSV (default ``benchmarks/speed-<device>.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
# The published loop is transcribed in the test tree, which checks the engine against it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from published_loop import published_mask  # noqa: E402

from fourier_masks.core.data.datasets import load_builtin  # noqa: E402
from fourier_masks.core.devices import resolve_device, tune_cpu_allocator  # noqa: E402
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig  # noqa: E402
from fourier_masks.core.masks.engine import auto_batch_size, learn_image_masks  # noqa: E402
from fourier_masks.core.masks.set_masks import learn_set_mask  # noqa: E402
from fourier_masks.core.models.architectures import fused_for_inference  # noqa: E402
from fourier_masks.core.models.checkpoints import load_model, save_checkpoint  # noqa: E402
from fourier_masks.core.models.classifier import frozen  # noqa: E402
from fourier_masks.core.training.train import TrainConfig, train_model  # noqa: E402

ROWS: list[dict] = []


def record(model: str, metric: str, value: float, unit: str, note: str = "") -> None:
    ROWS.append({"model": model, "metric": metric, "value": value, "unit": unit, "note": note})
    print(f"  {metric:58s} {value:12.4g} {unit:18s} {note}", flush=True)


def cpu_machine(load_before: float, **extra) -> dict:
    """The CPU a measurement ran on, with the 1-minute load average before and after it (it counts
    the benchmark's own threads: more than their number means other work shared the cores)."""
    return {
        "device": "cpu",
        **extra,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load average before": round(load_before, 1),
        "after": round(os.getloadavg()[0], 1),
    }


def write_rows(target: Path, machine: dict) -> None:
    """The recorded rows as CSV, with the machine they were measured on as a last comment line."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["model", "metric", "value", "unit", "note"])
        writer.writeheader()
        writer.writerows(ROWS)
        handle.write(f"# {json.dumps(machine)}\n")
    print(f"\nwritten {target}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- measurements ----------------------------------------------------------------------------------


def forward_backward_rate(net: torch.nn.Module, x: torch.Tensor, repeats: int, device: torch.device) -> float:
    """Images per second of one forward and one input-gradient backward pass."""
    y = torch.zeros(len(x), dtype=torch.long, device=device)

    def once() -> None:
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(net(xi), y, reduction="sum"), xi)

    for _ in range(2):
        once()
    best = float("inf")
    for _ in range(3):  # best of three: the machine's noise only ever slows a run down
        sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            once()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return repeats * len(x) / best


def peak_memory_mb(arch: str, batch: int, size: int, device: torch.device) -> float:
    """Peak memory of a few engine steps at ``batch``: on the CPU the rise of the process's
    resident high-water mark (reset just before, Linux), on a GPU the allocator's peak."""
    code = f"""
import sys, torch
from pathlib import Path

def rss(key):
    line = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key)][0]
    return int(line.split()[1]) / 1024

from fourier_masks.core.models import ModelInfo, build_classifier
from fourier_masks.core.devices import tune_cpu_allocator
from fourier_masks.core.masks import ImageMaskConfig, learn_image_masks
tune_cpu_allocator()
device = torch.device({str(device)!r})
model = build_classifier(ModelInfo(arch={arch!r}, in_channels=1, num_classes=6, image_size={size}, mean=(0.5,), std=(0.25,))).to(device)
images = torch.rand({batch}, 1, {size}, {size})
Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current size
before = rss("VmRSS")
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats(device)
learn_image_masks(model, images, config=ImageMaskConfig(max_steps=5, patience=10**6, batch_size={batch}, check_every=5), device=device)
if device.type == "cuda":
    print(torch.cuda.max_memory_allocated(device) / 2**20)
else:
    print(rss("VmHWM") - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def trained_model(arch: str, args, device: torch.device):
    """A model trained briefly on the built-in shapes (``args.size``, grayscale), its data
    splits, and the first ``args.images`` validation images on ``device``."""
    print(f"\n== {arch}, {args.size}×{args.size} grayscale, {device} ==", flush=True)
    data = load_builtin("shapes", args.train_per_class, max(args.images // 6 + 1, 20), size=args.size)
    train = TrainConfig(arch=arch, epochs=args.epochs, max_lr=getattr(args, "max_lr", 3e-3), crop_scale=(0.8, 1.0))
    started = time.perf_counter()
    kept = getattr(args, "checkpoint", None)  # a model trained by an earlier run, reused
    if kept and Path(kept).exists():
        model = load_model(kept, device=device).eval()
    else:
        model = train_model(data.train, data.val, config=train, device=device).model.to(device).eval()
        if kept:
            save_checkpoint(model, kept)
    print(
        f"  (trained in {time.perf_counter() - started:.0f} s, validation accuracy "
        f"{100 * model.info.metrics['val_accuracy']:.1f} %)",
        flush=True,
    )
    return model, data, data.val.images[: args.images].to(device)


def full_batch_step_rate(model, images: torch.Tensor, batch: int, steady_steps: int, device) -> float:
    """Image-steps per second of the engine's masked step at a full batch (FFTs, Adam and the
    stop rule included): the difference of a 5-step and a ``steady_steps``-step job in which
    no mask stops, after a warm-up."""
    full = images[torch.arange(batch) % len(images)]
    steady = ImageMaskConfig.fast(max_steps=steady_steps, patience=10**9, batch_size=batch)
    seconds = []
    for steps in (5, 5, steady_steps):
        sync(device)
        start = time.perf_counter()
        learn_image_masks(model, full, config=steady.replace(max_steps=steps), device=device)
        sync(device)
        seconds.append(time.perf_counter() - start)
    return batch * (steady_steps - 5) / (seconds[2] - seconds[1])


def benchmark(arch: str, args, device: torch.device) -> None:
    model, data, images = trained_model(arch, args, device)
    subset = images[: args.baseline_images]

    # 1. the published algorithm, one image at a time
    baseline = []
    with frozen(model):
        sync(device)
        start = time.perf_counter()
        for k in range(len(subset)):
            baseline.append(published_mask(model, subset[k : k + 1]))
        sync(device)
        baseline_seconds = time.perf_counter() - start
    baseline_rate = len(subset) / baseline_seconds
    steps = np.array([b["steps"] for b in baseline])
    record(
        arch,
        "published one-at-a-time: masks per second",
        baseline_rate,
        "masks/s",
        f"{len(subset)} images, median {int(np.median(steps))} steps, {int((steps >= 20_000).sum())} hit 20 000",
    )

    # 1. the engine, fast rule, all images
    config = ImageMaskConfig.fast()
    learn_image_masks(model, images[:4], config=config.replace(max_steps=5), device=device)  # warm-up
    sync(device)
    start = time.perf_counter()
    ours = learn_image_masks(model, images, config=config, device=device)
    sync(device)
    ours_seconds = time.perf_counter() - start
    ours_rate = len(images) / ours_seconds
    record(
        arch,
        "engine (batched, refilled, fast rule): masks per second",
        ours_rate,
        "masks/s",
        f"{len(images)} images, median {int(np.median(ours.steps))} steps",
    )
    record(arch, "speed-up over the published algorithm", ours_rate / baseline_rate, "x")

    # outcome on the shared images
    shared = ours.subset(range(len(subset)))
    base_kept = np.array([b["kept_fraction"] for b in baseline])
    relative = np.abs(shared.kept_fraction - base_kept) / np.maximum(base_kept, 1e-9)
    record(
        arch,
        "outcome: predictions kept (published / engine)",
        100 * np.mean([b["prediction_kept"] for b in baseline]),
        "%",
        f"engine {100 * shared.prediction_kept.mean():.0f} %",
    )
    record(
        arch,
        "outcome: worst invariance term |inv - 1| (published / engine)",
        max(abs(b["invariance"] - 1) for b in baseline),
        "1",
        f"engine {np.abs(shared.final_loss - 1).max():.2g}",
    )
    record(
        arch,
        "outcome: median kept fraction, engine / published",
        np.median(shared.kept_fraction) / np.median(base_kept),
        "ratio",
        f"published {100 * np.median(base_kept):.2f} %, engine {100 * np.median(shared.kept_fraction):.2f} %",
    )
    record(arch, "outcome: images whose kept fractions are within 10 %", 100 * np.mean(relative <= 0.1), "%")

    # the published rule's own reproducibility: the same algorithm batched (float rounding only)
    if args.skip_noise_floor:
        return record_the_rest(arch, args, device, model, data, images, ours, ours_seconds)
    sync(device)
    start = time.perf_counter()
    same_rule = learn_image_masks(model, subset, config=ImageMaskConfig(), device=device)
    sync(device)
    record(
        arch,
        "engine, published rule, same images: masks per second",
        len(subset) / (time.perf_counter() - start),
        "masks/s",
        f"{len(subset)} images, median {int(np.median(same_rule.steps))} steps",
    )
    floor = np.abs(same_rule.kept_fraction - base_kept) / np.maximum(base_kept, 1e-9)
    record(
        arch,
        "noise floor: published rule batched vs one-at-a-time, within 10 %",
        100 * np.mean(floor <= 0.1),
        "%",
        f"median kept-fraction ratio {np.median(same_rule.kept_fraction) / np.median(base_kept):.3f}",
    )
    record_the_rest(arch, args, device, model, data, images, ours, ours_seconds)


def record_the_rest(arch, args, device, model, data, images, ours, ours_seconds) -> None:
    """Measurements 2-4: the network's own limit, set masks and memory."""
    # 2. the limit
    batch = auto_batch_size(device, len(images), model, tuple(images.shape[1:]))
    x = torch.rand(batch, *images.shape[1:], device=device)
    with frozen(model):
        plain = forward_backward_rate(model, x, args.repeats, device)
        fused = forward_backward_rate(fused_for_inference(model.net), model.normalization(x), args.repeats, device)
    step_rate = full_batch_step_rate(model, images, batch, args.steady_steps, device)
    engine_steps = ours.steps.sum() / ours_seconds
    record(arch, "network forward+backward, as given", plain, "images/s", f"batch {batch}")
    record(arch, "network forward+backward, fused + channels-last", fused, "images/s", f"batch {batch}")
    record(
        arch,
        "engine masked step, full batch",
        step_rate,
        "image-steps/s",
        f"batch {batch}, steps 6-{args.steady_steps} of a job: FFTs, Adam, stop rule included",
    )
    record(arch, "masked step / network as given", 100 * step_rate / plain, "%")
    record(arch, "masked step / network as the engine runs it", 100 * step_rate / fused, "%")
    record(
        arch,
        "engine mask steps, whole job",
        engine_steps,
        "image-steps/s",
        f"{len(images)} images: refills, the draining tail and harvests included",
    )
    record(arch, "whole job / network as the engine runs it", 100 * engine_steps / fused, "%")

    # 3. set masks
    val = data.val
    with frozen(model):
        y = val.labels.to(device)
        sync(device)
        start = time.perf_counter()
        for s in range(0, len(val), 128):
            xi = val.images[s : s + 128].to(device).requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xi), y[s : s + 128], reduction="sum"), xi)
        sync(device)
        plain_pass = time.perf_counter() - start
    sync(device)
    start = time.perf_counter()
    learn_set_mask(model, val.images, val.labels, config=SetMaskConfig(max_epochs=1), device=device)
    sync(device)
    epoch = time.perf_counter() - start
    record(arch, "set-mask epoch (with its masked-accuracy pass)", epoch, "s", f"{len(val)} images, batch 128")
    record(arch, "plain forward+backward pass over the same set", plain_pass, "s")
    record(arch, "set-mask epoch / plain pass", epoch / plain_pass, "ratio")

    # 4. memory against batch size
    record(arch, "batch size the engine picks", batch, "images", f"for {len(images)} images on {device}")
    for b in args.memory_batches:
        record(
            arch,
            f"peak memory at batch {b}",
            peak_memory_mb(arch, b, args.size, device),
            "MB",
            "extra resident memory" if device.type == "cpu" else "allocated",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small_cnn", "resnet18"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--baseline-images", type=int, default=8)
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--steady-steps", type=int, default=100, help="steps of the full-batch step-rate measurement")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--memory-batches", type=int, nargs="+", default=[8, 32, 128, 512])
    parser.add_argument(
        "--skip-noise-floor",
        action="store_true",
        help="leave out the published rule run batched (up to 20 000 steps; long for ResNet18 on a CPU)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.images, args.baseline_images, args.train_per_class, args.epochs, args.steady_steps = 16, 2, 60, 2, 30
        args.memory_batches = [8, 32]
    device = resolve_device(args.device)
    tune_cpu_allocator()  # as the command line and the app run the engine
    machine = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    print("machine:", json.dumps(machine), flush=True)
    for arch in args.models:
        benchmark(arch, args, device)
    target = Path(args.csv) if args.csv else ROOT / "benchmarks" / f"speed-{device.type}.csv"
    write_rows(target, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
