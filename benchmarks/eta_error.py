"""Benchmark: how true the study's ETA is, over the quick demo study, headless.

Runs the study ``fourier-masks demo --quick`` runs (``run_study`` with the quick preset) into
a temporary folder and records, at every progress event, the study's own clock, the ETA it
shows (``StudyProgress.eta_s``, which never rises) and the cost model's fresh estimate it
came from. At the end it reports both figures' error at 10 %, 50 % and 90 % of the actual
total time (predicted seconds left, counted down to that moment as the screen would, against
the seconds that were really left), when the first point of a training curve and the first
masks would reach the screen (the study's first event with such a payload: the app's worker
passes a stage's first event on at once), and how long each step and report sub-step took.

    python benchmarks/eta_error.py            # the quick demo: about 6 minutes of 2 cores
    python benchmarks/eta_error.py --tiny     # the test suite's tiny study: checks the script

Writes ``benchmarks/eta-error-cpu.csv`` (``--tiny``: into the temporary folder);
``--trace FILE`` also keeps every (elapsed, ETA shown, estimate) record as CSV.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import tempfile
from pathlib import Path

from speed import ROOT, cpu_machine, record, write_rows

from fourier_masks.core.attacks.adversarial import AttackConfig
from fourier_masks.core.devices import tune_cpu_allocator
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.progress import Progress
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.config import StudyConfig
from fourier_masks.core.study.pipeline import run_study
from fourier_masks.core.training.train import TrainConfig

POINTS = (0.1, 0.5, 0.9)


def tiny_config() -> StudyConfig:
    """The test suite's tiny study (tests/test_pipeline.py): every step, in seconds."""
    return StudyConfig(
        image_size=16,
        train_per_class=40,
        val_per_class=6,
        train=TrainConfig(epochs=6, batch_size=16, max_lr=5e-3, crop_scale=(1.0, 1.0), pgd=AttackConfig(steps=2)),
        set_mask=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=2),
        image_mask=ImageMaskConfig(max_steps=20, check_every=10),
        images_per_class=3,
        stability_seeds=(1,),
        bands=8,
        examples=3,
    )


def predicted_at(trace: list[tuple[float, float | None, float | None]], moment: float, column: int) -> float | None:
    """The seconds left that the record before ``moment`` predicted, counted down to it."""
    before = [row for row in trace if row[0] <= moment and row[column] is not None]
    if not before:
        return None
    elapsed, *values = before[-1]
    value = values[column - 1]
    assert value is not None
    return max(0.0, value - (moment - elapsed))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a test-sized study (checks the script in seconds)")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--trace", default=None, help="also write every (elapsed, ETA, estimate) record here")
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
    load = os.getloadavg()[0]
    tune_cpu_allocator()  # as the command line and the app run the engine
    config = tiny_config() if args.tiny else StudyConfig.quick()
    label = "tiny study" if args.tiny else "demo --quick"

    trace: list[tuple[float, float | None, float | None]] = []  # (elapsed, shown ETA, estimate)
    steps: list[tuple[str, str]] = []  # (stage, name) of each step or sub-step
    starts: list[float] = []  # when each started
    first: dict[str, float] = {}

    def on_progress(event: Progress) -> None:
        study = event.study
        if study is None:
            return
        trace.append((study.elapsed_s, study.eta_s, study.estimate_s))
        if event.stage in ("study", "report"):  # the study's steps, the report's sub-steps
            steps.append((event.stage, f"{event.stage} {int(event.done) + 1}/{int(event.total)} {event.message}"))
            starts.append(study.elapsed_s)
        if "train_loss" in event.payload:
            first.setdefault("training curve", study.elapsed_s)
        if "mask" in event.payload:
            first.setdefault("dataset mask", study.elapsed_s)
        if "masks" in event.payload:
            first.setdefault("single-image masks", study.elapsed_s)

    with tempfile.TemporaryDirectory(prefix="fm-eta-") as folder:
        result = run_study(config, ResultsStore(Path(folder) / "run"), on_progress=on_progress)
    if result.cancelled:
        print("the study was cancelled", file=sys.stderr)
        return 1
    total = trace[-1][0]  # the study's own clock at its last event, "done"

    record(label, "total time", total, "s", command)
    for point in POINTS:
        moment = point * total
        actual = total - moment
        for column, name in ((1, "ETA shown"), (2, "cost model's estimate")):
            predicted = predicted_at(trace, moment, column)
            if predicted is None:
                record(label, f"{name} at {point:.0%} of the time", float("nan"), "s", "no ETA yet")
                continue
            error = predicted - actual
            record(
                label,
                f"{name}: error at {point:.0%} of the time",
                error,
                "s",
                f"predicted {predicted:.0f} s left, {actual:.0f} s were; {100 * error / actual:+.0f} %",
            )
    for what in ("training curve", "dataset mask", "single-image masks"):
        record(label, f"first {what} on screen", first.get(what, float("nan")), "s", "after the study starts")
    shown = [row[0] for row in trace if row[1] is not None]
    record(label, "first ETA", shown[0] if shown else float("nan"), "s", "after the study starts")
    for k, ((stage, name), start) in enumerate(zip(steps, starts)):
        # A step lasts until the next of its stage starts (or that stage's "done").
        end = next((t for (other, _), t in zip(steps[k + 1 :], starts[k + 1 :]) if other == stage), total)
        if not name.endswith(" done"):
            record(label, name, end - start, "s")

    default = (
        Path(tempfile.gettempdir()) / "eta-error-cpu-tiny.csv"
        if args.tiny
        else ROOT / "benchmarks" / "eta-error-cpu.csv"
    )
    write_rows(Path(args.csv) if args.csv else default, cpu_machine(load))
    if args.trace:
        with open(args.trace, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["elapsed [s]", "ETA shown [s]", "estimate [s]"])
            writer.writerows(trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
