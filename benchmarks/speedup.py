"""Benchmark: the engine's speed-up over the published algorithm, on the same images.

The published algorithm learns one mask at a time, and its cost for an image is its step
count times the time of one step of its loop (the same for every image). So, for every image
of the engine's job:

1. the engine learns the masks of all ``--images`` images with the fast rule
   (:meth:`ImageMaskConfig.fast`, what the app and the command line run): wall time ``T``;
2. the engine learns them again with the published rule (``ImageMaskConfig()``), which stops
   each image at the step it would stop at alone (float rounding aside): its step count;
3. the published loop (``published.py``: ``torch.optim.Adam``, ``OneCycleLR``, ``.item()``
   every step) runs a fixed number of steps on a few of the images: seconds per step, the
   best of two measurements taken before and after the engine's job;

and the speed-up is Σ published steps × seconds per step / ``T``. An image still learning
when the published-rule run reaches ``--published-budget`` seconds counts with the steps it
had taken, so the published time, and the speed-up, are then lower bounds (the CSV says how
many). The spread over image samples: the same ratio for random 8- and 16-image samples (the
engine's time shared by fast-rule steps), and what a baseline of 8 images against the whole
engine job would have reported (the README's earlier method).

    python benchmarks/speedup.py --model resnet18 [--size 64] [--images 64]
        [--published-budget 600] [--csv FILE]

Writes ``benchmarks/speedup-<device>-<model>.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

# The published loop is transcribed in the test tree, which checks the engine against it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from published_loop import published_mask  # noqa: E402
from speed import ROOT, record, sync, trained_model, write_rows  # noqa: E402

from fourier_masks.core.devices import resolve_device, tune_cpu_allocator
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.models.classifier import frozen


def published_seconds_per_step(model, images: torch.Tensor, steps: int, device) -> float:
    """The published loop's time per step: the median over ``images`` of runs that take
    exactly ``steps`` steps (the stop rule never fires), after one warm-up run."""
    with frozen(model):
        published_mask(model, images[:1], max_steps=20, patience=10**9)
        times = []
        for k in range(len(images)):
            sync(device)
            start = time.perf_counter()
            published_mask(model, images[k : k + 1], max_steps=steps, patience=10**9)
            sync(device)
            times.append((time.perf_counter() - start) / steps)
    return float(np.median(times))


def published_rule_run(model, images: torch.Tensor, budget: float, device):
    """Steps each image takes under the published rule (engine, batched), the images still
    learning when ``budget`` seconds ran out (their steps so far: lower bounds), the kept
    fractions and whether the prediction was kept, for the finished ones (NaN and False for
    the others), and the run's wall time."""
    stop = threading.Event()
    latest: dict = {}
    started = time.perf_counter()

    def watch(progress) -> None:
        if "steps" in progress.payload:
            latest.update(zip(progress.payload["ids"], progress.payload["steps"].tolist()))
        if time.perf_counter() - started > budget:
            stop.set()

    result = learn_image_masks(model, images, config=ImageMaskConfig(), device=device, on_progress=watch, cancel=stop)
    sync(device)
    seconds = time.perf_counter() - started
    finished = dict(zip(result.ids, result.steps.tolist()))
    ids = [str(k) for k in range(len(images))]
    steps = np.array([finished.get(i, latest.get(i, 0)) for i in ids], dtype=np.float64)
    unfinished = np.array([i not in finished for i in ids])
    kept = dict(zip(result.ids, result.kept_fraction.tolist()))
    preserved = dict(zip(result.ids, result.prediction_kept.tolist()))
    outcome = {
        "kept_fraction": np.array([kept.get(i, np.nan) for i in ids]),
        "prediction_kept": np.array([preserved.get(i, False) for i in ids]),
    }
    return steps, unfinished, outcome, seconds


def sample_spread(values: np.ndarray) -> str:
    low, mid, high = np.percentile(values, [5, 50, 95])
    return f"median {mid:.1f}×, 5–95 % {low:.1f}–{high:.1f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--max-lr", type=float, default=3e-3, help="of the brief training (VGG11-bn needs 1e-3)")
    parser.add_argument("--timing-images", type=int, default=3, help="images of the published loop's step timing")
    parser.add_argument("--timing-steps", type=int, default=200)
    parser.add_argument(
        "--published-budget", type=float, default=600, help="seconds for the published-rule run (then lower bounds)"
    )
    parser.add_argument("--samples", type=int, default=2000, help="random image samples for the spread")
    parser.add_argument("--checkpoint", default=None, help="reuse the model trained into this file (else save it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    tune_cpu_allocator()
    machine = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    print("machine:", json.dumps(machine), flush=True)
    arch = args.model
    model, _, images = trained_model(arch, args, device)
    n = len(images)
    timing = images[: args.timing_images]

    per_step = [published_seconds_per_step(model, timing, args.timing_steps, device)]
    fast = ImageMaskConfig.fast()
    learn_image_masks(model, images[:8], config=fast.replace(max_steps=5), device=device)  # warm-up
    sync(device)
    start = time.perf_counter()
    engine = learn_image_masks(model, images, config=fast, device=device)
    sync(device)
    engine_seconds = time.perf_counter() - start
    per_step.append(published_seconds_per_step(model, timing, args.timing_steps, device))
    step_time = min(per_step)
    published_steps, unfinished, published, published_rule_seconds = published_rule_run(
        model, images, args.published_budget, device
    )
    bound = " (lower bound)" if unfinished.any() else ""

    record(arch, "images", n, "images", f"{args.size}×{args.size} grayscale, the first {n} validation images")
    record(
        arch,
        "published loop: seconds per step",
        step_time,
        "s",
        f"best of {', '.join(f'{1000 * t:.1f}' for t in per_step)} ms ({args.timing_images} images × "
        f"{args.timing_steps} steps, before and after the engine's job)",
    )
    record(
        arch,
        "published rule: steps per image",
        float(np.median(published_steps)),
        "steps (median)",
        f"mean {published_steps.mean():.0f}, {int((published_steps >= 20_000).sum())} of {n} ran to 20 000, "
        f"{int(unfinished.sum())} still learning at the {args.published_budget:.0f} s budget",
    )
    record(
        arch,
        "fast rule (engine): steps per image",
        float(np.median(engine.steps)),
        "steps (median)",
        f"mean {engine.steps.mean():.0f}, max {engine.steps.max()}",
    )
    published_seconds = published_steps.sum() * step_time
    record(arch, "published algorithm, these images: estimated time", published_seconds, "s", bound.strip())
    record(arch, "engine, fast rule, these images: wall time", engine_seconds, "s", f"{n / engine_seconds:.3f} masks/s")
    record(arch, "speed-up on the same images", published_seconds / engine_seconds, "x", bound.strip())
    record(
        arch,
        "speed-up from batching alone (engine, published rule)",
        published_seconds / published_rule_seconds,
        "x",
        "the published-rule run's wall time" + (", cut at the budget" if unfinished.any() else ""),
    )
    record(
        arch,
        "steps saved by the fast rule",
        published_steps.sum() / engine.steps.sum(),
        "x",
        f"{published_steps.sum():.0f} published / {engine.steps.sum()} fast-rule steps{bound}",
    )
    finished = ~unfinished
    published_kept = published["kept_fraction"][finished]
    fast_kept = engine.kept_fraction[finished]
    which = f"the {int(finished.sum())} images the published-rule run finished"
    record(
        arch,
        "median kept fraction, fast / published rule",
        float(np.median(fast_kept) / np.median(published_kept)),
        "ratio",
        f"{which}: published {100 * np.median(published_kept):.2f} %, fast {100 * np.median(fast_kept):.2f} %",
    )
    record(
        arch,
        "images whose kept fraction is within 10 % of the published rule's",
        100 * float(np.mean(np.abs(fast_kept - published_kept) <= 0.1 * published_kept)),
        "%",
        which,
    )
    record(
        arch,
        "predictions kept by the final mask, fast rule",
        100 * float(engine.prediction_kept.mean()),
        "%",
        f"published rule {100 * published['prediction_kept'][finished].mean():.0f} % ({which})",
    )

    rng = np.random.default_rng(0)
    engine_rate = engine.steps.sum() / engine_seconds  # image-steps per second over the job
    for size in (8, 16):
        picks = np.stack([rng.choice(n, size, replace=False) for _ in range(args.samples)])
        same = published_steps[picks].sum(1) * step_time / (engine.steps[picks].sum(1) / engine_rate)
        record(
            arch,
            f"speed-up, random {size}-image samples",
            float(np.median(same)),
            "x",
            sample_spread(same) + f" over {args.samples} samples",
        )
    picks = np.stack([rng.choice(n, 8, replace=False) for _ in range(args.samples)])
    baseline_rate = 8 / (published_steps[picks].sum(1) * step_time)
    earlier = (n / engine_seconds) / baseline_rate
    record(
        arch,
        "what an 8-image baseline against the whole job reports",
        float(np.median(earlier)),
        "x",
        sample_spread(earlier) + " (the earlier method)",
    )

    target = Path(args.csv) if args.csv else ROOT / "benchmarks" / f"speedup-{device.type}-{arch}.csv"
    write_rows(target, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
