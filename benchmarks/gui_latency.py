"""Benchmark: how responsive the app's GUI thread stays while the engine learns masks.

A 10 ms QTimer on the GUI thread records the gap between its ticks while a per-image mask
job runs in the app (images dropped on the real window): by default with masks that never
stop (the engine at full speed throughout), with ``--published`` at the app's default
(published) settings, so masks finish and the views refresh while it runs. Reports the
longest gap and percentiles; a gap over 100 ms is a visible stall.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--seconds 15] [--images 64] [--size 32]
        [--published] [--csv FILE]

Writes ``benchmarks/gui-latency-<device>.csv`` (``gui-latency-<device>-published.csv`` with
``--published``). Not part of the test suite: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The probe lives in the test tree, where the app's tests use it too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from gui_probe import TickProbe  # noqa: E402
from speed import ROOT, cpu_machine, record, write_rows  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument(
        "--published",
        action="store_true",
        help="the app's default (published) settings, so masks finish and the views refresh "
        "during the run; default: masks that never stop (the engine at full speed throughout)",
    )
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="fm-latency-"))
    os.environ["FOURIER_MASKS_HOME"] = str(home)

    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from fourier_masks.app.main import create_window
    from fourier_masks.core.data.datasets import load_builtin
    from fourier_masks.core.masks.config import ImageMaskConfig
    from fourier_masks.core.models.checkpoints import save_checkpoint
    from fourier_masks.core.training.train import TrainConfig, train_model

    app = QApplication.instance() or QApplication([])
    data = load_builtin("shapes", 300, 20, size=args.size)
    model = train_model(data.train, data.val, config=TrainConfig(epochs=3, max_lr=3e-3, crop_scale=(0.8, 1.0))).model
    checkpoint = save_checkpoint(model, home / "N.pt")
    files = []
    for k in range(args.images):
        path = home / f"image{k:04d}.png"
        Image.fromarray((data.val.images[k % len(data.val), 0].numpy() * 255).astype(np.uint8)).save(path)
        files.append(path)

    window = create_window()
    window.show()
    finished = []
    window.runner.finished.connect(lambda name, result: finished.append(name))
    window.handle_paths([checkpoint])
    while not finished:
        app.processEvents()
        time.sleep(0.01)
    if not args.published:
        window.image_config = ImageMaskConfig(max_steps=100_000, patience=100_000)  # full speed for the whole window
    progress = []
    window.runner.progress.connect(lambda name, event: progress.append(event))
    window.handle_paths(files)
    while not progress:
        app.processEvents()
        time.sleep(0.005)

    probe = TickProbe()
    probe.start()
    start_event = len(progress)
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    steps = progress[-1].payload.get("batch_steps", 0) - progress[start_event].payload.get("batch_steps", 0)
    window.runner.stop()
    window.close()
    gaps_ms = np.array(probe.gaps[1:]) * 1000
    done = progress[-1].payload.get("masks_done", 0)
    events = len(progress) - start_event
    mode = "app default (published) settings" if args.published else "masks that never stop"
    batch = len(progress[-1].payload.get("ids", []))
    record("app", "images dropped", args.images, "images", f"{args.size}×{args.size} px, small CNN, {mode}")
    record("app", "measured", args.seconds, "s", f"of a running mask job, batch {batch}")
    record("app", "masks finished and shown meanwhile", done, "masks")
    record("app", "engine", steps / args.seconds, "batch steps/s")
    record("app", "progress events received by the GUI", events / args.seconds, "events/s")
    record("app", "GUI timer gap, median", float(np.median(gaps_ms)), "ms", "a 10 ms timer on the GUI thread")
    record("app", "GUI timer gap, 99th percentile", float(np.percentile(gaps_ms, 99)), "ms")
    record("app", "GUI timer gap, longest", float(gaps_ms.max()), "ms")
    record("app", "stalls over 100 ms", int((gaps_ms > 100).sum()), "gaps")
    machine = cpu_machine(load)
    name = "gui-latency-cpu-published.csv" if args.published else "gui-latency-cpu.csv"
    write_rows(Path(args.csv) if args.csv else ROOT / "benchmarks" / name, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
