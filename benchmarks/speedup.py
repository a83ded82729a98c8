"""Benchmark: the engine's speed-up over the published algorithm, on the same images.

The published algorithm learns one mask at a time; its cost for an image is its step count
times the time of one step of its loop. On one model (trained briefly on the built-in shapes,
grayscale) and the first ``--images`` validation images:

1. **the engine, fast rule** (:meth:`ImageMaskConfig.fast`, the opt-in ``--rule fast``): the
   wall time of learning all the masks, ``T_fast``;
2. **the engine, published rule** (``ImageMaskConfig()``, what the app and the command line
   run by default): the wall time ``T_published`` and each image's step count; an image still
   learning when ``--published-budget`` seconds run out counts with the steps it had taken (the
   figures that use it are then lower bounds, and the CSV says so);
3. **the published loop itself** (``tests/published_loop.py``: one image at a time,
   ``torch.optim.Adam``, ``OneCycleLR`` sized for 20 000 × 200 steps, an ``.item()`` every
   step, the published stop rule) on the first ``--transcribed`` images, run to its own stop
   on the *same* network copy the engine runs (:func:`fused_for_inference`: batch norm folded
   into the convolutions, channels-last), so the two differ in the algorithm alone. Its step
   counts are compared image by image with the engine's published-rule counts (equal, or the
   distribution of the differences), and its seconds per step are its measured wall time over
   its steps.

The published algorithm's time on all the images is the transcription's measured wall time on
the images it ran, plus, for the others, the engine's published-rule step counts (checked
against the transcription in step 3) times the transcription's seconds per step. The speed-up
at the default (published) rule is that time over ``T_published`` (batching alone); with the
fast rule it is that time over ``T_fast``. The spread over image samples: the same ratio for
random 8- and 16-image samples, and what a baseline of 8 images against the whole engine job
would have reported (an earlier method).

The machine's load average is recorded at each stage: on a shared machine the engine's and the
transcription's runs (minutes apart) may meet different load, so the speed-ups are also given
from the process's CPU time, which counts its own work only.

    python benchmarks/speedup.py --model small_cnn [--size 64] [--images 64] [--transcribed 16]
        [--published-budget 1800] [--threads N] [--work DIR] [--checkpoint FILE] [--csv FILE]

Writes ``benchmarks/speedup-<device>-<model>.csv``, and beside it ``…-images.csv``: each
image's steps and kept fraction in each run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import threading
import time
from collections.abc import Callable
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
from fourier_masks.core.models.architectures import fused_for_inference
from fourier_masks.core.models.classifier import frozen

LOAD: dict[str, str] = {}  # the 1-minute load average when each stage ended
RESUMED: list[str] = []  # the stages loaded from --work


def cached(work: Path | None, name: str, compute: Callable[[], dict]) -> dict:
    """``compute()``'s arrays, with the load average when it ended, kept in ``work/<name>.npz``:
    a run interrupted (or killed) later loads them instead of measuring again."""
    path = work / f"{name}.npz" if work is not None else None
    if path is not None and path.exists():
        with np.load(path) as data:
            out = {key: data[key] for key in data.files}
        print(f"  {name}: measured earlier, loaded from {path}", flush=True)
        RESUMED.append(name)
    else:
        out = {key: np.asarray(value) for key, value in compute().items()}
        out["load"] = np.asarray(os.getloadavg()[0] if hasattr(os, "getloadavg") else np.nan)
        if path is not None:
            np.savez(path, **out)
    LOAD[name] = f"{float(out['load']):.1f}"
    return out


def transcription(model, images: torch.Tensor, device, work: Path | None) -> dict[str, np.ndarray]:
    """The published loop on each image, to its own stop, on the engine's fused channels-last
    network: steps, wall and CPU seconds, kept fraction and whether the prediction was kept."""
    rows = []
    with frozen(model):
        net = fused_for_inference(model.net)
        published_mask(model, images[:1], max_steps=20, patience=10**9, net=net)  # warm-up
        for k in range(len(images)):

            def one(k: int = k) -> dict:
                sync(device)
                start, cpu = time.perf_counter(), time.process_time()
                out = published_mask(model, images[k : k + 1], net=net)
                sync(device)
                wall = time.perf_counter() - start
                print(f"    transcription, image {k}: {out['steps']} steps in {wall:.1f} s", flush=True)
                return {
                    "steps": out["steps"],
                    "seconds": wall,
                    "cpu_seconds": time.process_time() - cpu,
                    "kept_fraction": out["kept_fraction"],
                    "prediction_kept": out["prediction_kept"],
                }

            rows.append(cached(work, f"published-loop-{k}", one))
    loads = [float(row.pop("load")) for row in rows]
    resumed = [name for name in RESUMED if name.startswith("published-loop-")]
    for k in range(len(rows)):
        LOAD.pop(f"published-loop-{k}", None)
        if f"published-loop-{k}" in RESUMED:
            RESUMED.remove(f"published-loop-{k}")
    LOAD["published loop"] = f"{min(loads):.1f}–{max(loads):.1f}"
    if resumed:
        RESUMED.append(f"published loop ({len(resumed)} of {len(rows)} images)")
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def fast_rule_run(model, images: torch.Tensor, device) -> dict:
    """The engine with the fast rule: each image's steps, kept fraction and whether the
    prediction was kept, and the job's wall and CPU seconds."""
    learn_image_masks(model, images[:8], config=ImageMaskConfig.fast(max_steps=5), device=device)  # warm-up
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    result = learn_image_masks(model, images, config=ImageMaskConfig.fast(), device=device)
    sync(device)
    return {
        "steps": result.steps,
        "kept_fraction": result.kept_fraction,
        "prediction_kept": result.prediction_kept,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }


def published_rule_run(model, images: torch.Tensor, budget: float, device) -> dict:
    """Steps each image takes under the published rule (engine, batched), the images still
    learning when ``budget`` seconds ran out (their steps so far: lower bounds), the kept
    fractions and whether the prediction was kept, for the finished ones (NaN and False for
    the others), and the run's wall and CPU seconds."""
    stop = threading.Event()
    latest: dict = {}
    started, cpu = time.perf_counter(), time.process_time()

    def watch(progress) -> None:
        if "steps" in progress.payload:
            latest.update(zip(progress.payload["ids"], progress.payload["steps"].tolist()))
        if time.perf_counter() - started > budget:
            stop.set()

    result = learn_image_masks(model, images, config=ImageMaskConfig(), device=device, on_progress=watch, cancel=stop)
    sync(device)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    finished = dict(zip(result.ids, result.steps.tolist()))
    ids = [str(k) for k in range(len(images))]
    kept = dict(zip(result.ids, result.kept_fraction.tolist()))
    preserved = dict(zip(result.ids, result.prediction_kept.tolist()))
    return {
        "steps": np.array([finished.get(i, latest.get(i, 0)) for i in ids], dtype=np.float64),
        "unfinished": np.array([i not in finished for i in ids]),
        "kept_fraction": np.array([kept.get(i, np.nan) for i in ids]),
        "prediction_kept": np.array([preserved.get(i, False) for i in ids]),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }


def _padded(values: np.ndarray, n: int) -> list:
    """``values`` for the first images, blank for the others."""
    return list(values) + [""] * (n - len(values))


def write_images(target: Path, columns: dict) -> None:
    """One row per image: what each run measured on it."""
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values()))
    print(f"written {target}")


def sample_spread(values: np.ndarray) -> str:
    low, mid, high = np.percentile(values, [5, 50, 95])
    return f"median {mid:.1f}×, 5–95 % {low:.1f}–{high:.1f}×"


def within(a: np.ndarray, b: np.ndarray, share: float = 0.1) -> float:
    """Percentage of images whose ``a`` lies within ``share`` of ``b``."""
    return 100 * float(np.mean(np.abs(a - b) <= share * b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument(
        "--transcribed", type=int, default=16, help="images the published loop itself learns (the first ones)"
    )
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--max-lr", type=float, default=3e-3, help="of the brief training (VGG11-bn needs 1e-3)")
    parser.add_argument(
        "--published-budget", type=float, default=1800, help="seconds for the engine's published-rule run"
    )
    parser.add_argument("--samples", type=int, default=2000, help="random image samples for the spread")
    parser.add_argument("--checkpoint", default=None, help="reuse the model trained into this file (else save it)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch (0: torch's default); 1 measures per core, and is the robust choice on a "
        "shared machine, where multi-threaded kernels stall whenever one of their threads loses its core",
    )
    parser.add_argument(
        "--work",
        default=None,
        help="keep each finished stage here, so a rerun after an interruption resumes (use with --checkpoint)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    tune_cpu_allocator()
    machine = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    print("machine:", json.dumps(machine), flush=True)
    arch = args.model
    started = time.perf_counter()
    work = Path(args.work) if args.work else None
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    model, _, images = trained_model(arch, args, device)
    n, k = len(images), min(args.transcribed, len(images))
    accuracy = 100 * model.info.metrics["val_accuracy"]

    engine = cached(work, "engine, fast rule", lambda: fast_rule_run(model, images, device))
    fast_seconds, fast_cpu = float(engine["seconds"]), float(engine["cpu_seconds"])
    published = cached(
        work, "engine, published rule", lambda: published_rule_run(model, images, args.published_budget, device)
    )
    published_steps, unfinished = published["steps"], published["unfinished"]
    published_seconds_engine, published_cpu_engine = float(published["seconds"]), float(published["cpu_seconds"])
    print(f"  engine: fast rule {fast_seconds:.0f} s, published rule {published_seconds_engine:.0f} s", flush=True)
    loop = transcription(model, images[:k], device, work)
    step_time = loop["seconds"].sum() / loop["steps"].sum()
    bound = " (lower bound)" if unfinished[k:].any() else ""

    record(
        arch,
        "images",
        n,
        "images",
        f"{args.size}×{args.size} grayscale, the first {n} validation images; model validation accuracy "
        f"{accuracy:.1f} % ({args.epochs} epochs, {args.train_per_class} training images per class)",
    )
    record(
        arch,
        "published loop (transcription): images run to its own stop",
        k,
        "images",
        "the first ones; on the engine's fused channels-last network copy (fused_for_inference)",
    )
    record(
        arch,
        "published loop: seconds per step",
        step_time,
        "s",
        f"its wall time over its steps: {loop['seconds'].sum():.0f} s for {loop['steps'].sum():.0f} steps",
    )
    record(
        arch,
        "published loop: steps per image",
        float(np.median(loop["steps"])),
        "steps (median)",
        f"mean {loop['steps'].mean():.0f}, {int((loop['steps'] >= 20_000).sum())} of {k} ran to 20 000",
    )
    difference = loop["steps"] - published_steps[:k]
    compared = ~unfinished[:k]
    if compared.any():
        shown = difference[compared]
        ours, theirs = published_steps[:k][compared], loop["steps"][compared]
        largest = np.argsort(-np.abs(shown), kind="stable")[:2]
        record(
            arch,
            "step counts, transcription = engine's published rule",
            int((shown == 0).sum()),
            "images",
            f"of {int(compared.sum())} compared (float32: batched vs one at a time differ in rounding only); "
            f"transcription − engine per image: median |difference| {np.median(np.abs(shown)):.0f} steps, "
            f"{int((np.abs(shown) <= 10).sum())} within 10 steps, {int((np.abs(shown) <= 0.01 * ours).sum())} within 1 %, "
            f"{int((np.abs(shown) <= 0.1 * ours).sum())} within 10 %; largest "
            + ", ".join(f"{shown[j]:+.0f} ({theirs[j]:.0f} vs {ours[j]:.0f})" for j in largest)
            + f"; total {theirs.sum():.0f} vs {ours.sum():.0f} ({100 * (theirs.sum() / ours.sum() - 1):+.1f} %)",
        )
        record(
            arch,
            "kept fraction, engine's published rule within 10 % of the transcription's",
            within(published["kept_fraction"][:k][compared], loop["kept_fraction"][compared]),
            "%",
            f"of {int(compared.sum())}; median of the per-image ratios "
            f"{np.median(published['kept_fraction'][:k][compared] / loop['kept_fraction'][compared]):.3f}",
        )
    else:
        record(
            arch,
            "step counts, transcription = engine's published rule",
            0,
            "images",
            "none compared: the engine's published-rule run finished none of the transcribed images within its budget",
        )
    record(
        arch,
        "engine, published rule: steps per image",
        float(np.median(published_steps)),
        "steps (median)",
        f"mean {published_steps.mean():.0f}, {int((published_steps >= 20_000).sum())} of {n} ran to 20 000, "
        f"{int(unfinished.sum())} still learning at the {args.published_budget:.0f} s budget; "
        f"{int((published_steps <= 2000).sum())} stopped by step 2 000, {int((published_steps <= 3000).sum())} "
        f"by step 3 000; the masks past step 3 000 take "
        f"{100 * published_steps[published_steps > 3000].sum() / published_steps.sum():.0f} % of all steps",
    )
    record(
        arch,
        "engine, fast rule: steps per image",
        float(np.median(engine["steps"])),
        "steps (median)",
        f"mean {engine['steps'].mean():.0f}, max {engine['steps'].max()}",
    )
    published_seconds = loop["seconds"].sum() + published_steps[k:].sum() * step_time
    record(
        arch,
        "published algorithm, these images: time",
        published_seconds,
        "s",
        f"measured {loop['seconds'].sum():.0f} s on the first {k}; the other {n - k}: the engine's published-rule "
        f"steps × seconds per step{bound}",
    )
    record(
        arch,
        "engine, published rule, these images: wall time",
        published_seconds_engine,
        "s",
        f"{n / published_seconds_engine:.3f} masks/s" + (", cut at the budget" if unfinished.any() else ""),
    )
    record(arch, "engine, fast rule, these images: wall time", fast_seconds, "s", f"{n / fast_seconds:.3f} masks/s")
    record(
        arch,
        "speed-up at the default (published) rule: batching",
        published_seconds / published_seconds_engine,
        "x",
        "published algorithm's time / the engine's with the same rule" + (" (cut at the budget)" if bound else ""),
    )
    record(
        arch,
        "speed-up with the fast rule (opt-in)",
        published_seconds / fast_seconds,
        "x",
        "published algorithm's time / the engine's with --rule fast" + bound,
    )
    # The same ratios from the process's CPU time: on a shared machine, wall time counts the
    # time other processes held the cores; CPU time counts this process's own work (both of
    # its threads, spin-waiting included).
    cpu_step = loop["cpu_seconds"].sum() / loop["steps"].sum()
    published_cpu = loop["cpu_seconds"].sum() + published_steps[k:].sum() * cpu_step
    record(
        arch,
        "speed-up at the default (published) rule, by CPU time",
        published_cpu / published_cpu_engine,
        "x",
        f"published algorithm {published_cpu:.0f} CPU s ({1000 * cpu_step:.2f} ms per step) / the engine's "
        f"{published_cpu_engine:.0f} CPU s" + (" (cut at the budget)" if bound else ""),
    )
    record(
        arch,
        "speed-up with the fast rule, by CPU time",
        published_cpu / fast_cpu,
        "x",
        f"published algorithm {published_cpu:.0f} CPU s / the engine's {fast_cpu:.0f} CPU s" + bound,
    )
    record(
        arch,
        "steps saved by the fast rule",
        published_steps.sum() / engine["steps"].sum(),
        "x",
        f"{published_steps.sum():.0f} published-rule / {engine['steps'].sum()} fast-rule steps{bound}",
    )
    finished = ~unfinished
    published_kept = published["kept_fraction"][finished]
    fast_kept = engine["kept_fraction"][finished]
    which = f"the {int(finished.sum())} images the published-rule run finished"
    ratio = fast_kept / published_kept
    record(
        arch,
        "kept fraction, fast / published rule: median of the per-image ratios",
        float(np.median(ratio)),
        "ratio",
        f"{which}; the ratio of the two medians is {np.median(fast_kept) / np.median(published_kept):.2f} "
        f"(published {100 * np.median(published_kept):.2f} %, fast {100 * np.median(fast_kept):.2f} %)",
    )
    record(
        arch,
        "images whose kept fraction is within 10 % of the published rule's, fast rule",
        within(fast_kept, published_kept),
        "%",
        which,
    )
    changed = published_steps[finished] > 2000  # the masks the fast rule anneals; the others are the published ones
    if changed.any():
        record(
            arch,
            "kept fraction, fast / published rule, the masks still learning at step 2 000",
            float(np.median(ratio[changed])),
            "ratio (median)",
            f"{int(changed.sum())} of {int(finished.sum())} masks (the only ones the fast rule changes): "
            f"from {ratio[changed].min():.2f} to {ratio[changed].max():.2f}; "
            f"{int((np.abs(ratio[changed] - 1) <= 0.1).sum())} within 10 %",
        )
    record(
        arch,
        "predictions kept by the final mask, fast rule",
        100 * float(engine["prediction_kept"].mean()),
        "%",
        f"published rule {100 * published['prediction_kept'][finished].mean():.0f} % ({which}); "
        f"published loop {100 * loop['prediction_kept'].mean():.0f} % (its {k})",
    )

    rng = np.random.default_rng(0)
    engine_rate = engine["steps"].sum() / fast_seconds  # image-steps per second over the job
    for size in [size for size in (8, 16) if size <= n]:
        picks = np.stack([rng.choice(n, size, replace=False) for _ in range(args.samples)])
        same = published_steps[picks].sum(1) * step_time / (engine["steps"][picks].sum(1) / engine_rate)
        record(
            arch,
            f"speed-up with the fast rule, random {size}-image samples",
            float(np.median(same)),
            "x",
            sample_spread(same) + f" over {args.samples} samples (published time from step counts)",
        )
    picks = np.stack([rng.choice(n, min(8, n), replace=False) for _ in range(args.samples)])
    baseline_rate = picks.shape[1] / (published_steps[picks].sum(1) * step_time)
    earlier = (n / fast_seconds) / baseline_rate
    record(
        arch,
        "what an 8-image baseline against the whole fast-rule job reports",
        float(np.median(earlier)),
        "x",
        sample_spread(earlier) + " (an earlier method)",
    )
    record(
        arch,
        "benchmark wall time, the three stages",
        fast_seconds + published_seconds_engine + loop["seconds"].sum(),
        "s",
        f"this run {time.perf_counter() - started:.0f} s; load average (1 min) after each stage: "
        + ", ".join(f"{stage} {value}" for stage, value in LOAD.items())
        + (f"; loaded from --work, measured by earlier runs of this command: {', '.join(RESUMED)}" if RESUMED else ""),
    )

    target = Path(args.csv) if args.csv else ROOT / "benchmarks" / f"speedup-{device.type}-{arch}.csv"
    write_rows(target, {**machine, "cpus": os.cpu_count()})
    write_images(
        target.with_name(target.stem + "-images.csv"),
        {
            "image": np.arange(n),
            "engine fast rule: steps": engine["steps"],
            "engine fast rule: kept fraction": engine["kept_fraction"],
            "engine published rule: steps": published_steps.astype(int),
            "engine published rule: still learning at the budget": unfinished,
            "engine published rule: kept fraction": published["kept_fraction"],
            "published loop: steps": _padded(loop["steps"], n),
            "published loop: seconds": _padded(loop["seconds"], n),
            "published loop: CPU seconds": _padded(loop["cpu_seconds"], n),
            "published loop: kept fraction": _padded(loop["kept_fraction"], n),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
