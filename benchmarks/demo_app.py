"""Benchmark: the demo as a new user meets it, in the app: what is on screen when, and how true
the job bar's ETA is.

Opens the real main window, presses the welcome page's demo button (the quick demo study) and
samples every 100 ms from the GUI thread: when the Convergence view first draws a training
curve and a mask, and what the job bar shows (its share done and ETA, read from the bar's own
estimator). At the end it reports the total time, the ETA's error at 10 %, 50 % and 90 % of it
(the seconds left the bar showed at that moment against those really left), and checks that
clicking a point of the Clusters plot shows that image's convergence.

    QT_QPA_PLATFORM=offscreen python benchmarks/demo_app.py [--csv FILE]

Writes ``benchmarks/demo-app-cpu.csv``: about 6 minutes of both cores; run it on an idle
machine. Not part of the test suite: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from speed import ROOT, cpu_machine, record, write_rows

POINTS = (0.1, 0.5, 0.9)
SAMPLE_MS = 100
TIMEOUT_S = 1800


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["FOURIER_MASKS_HOME"] = tempfile.mkdtemp(prefix="fm-demo-app-")
    load = os.getloadavg()[0]

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from fourier_masks.app.main import create_window
    from fourier_masks.core.devices import tune_cpu_allocator

    tune_cpu_allocator()  # as the app's launcher does
    app = QApplication.instance() or QApplication([])
    window = create_window()
    window.resize(1366, 768)
    window.show()
    convergence, bar = window.panels["convergence"], window.job_bar
    samples: list[tuple[float, float, float | None, str]] = []  # (elapsed, bar share, ETA s, ETA text)
    first: dict[str, float] = {}
    ended: dict[str, object] = {}
    started = time.perf_counter()

    def sample() -> None:
        now = time.perf_counter() - started
        curve = convergence.training_curves["train loss"]
        if curve.xData is not None and len(curve.xData):
            first.setdefault("training curve", now)
        if convergence.mask.data is not None:
            first.setdefault("mask", now)
        eta = bar._eta  # the bar's own estimator: the figure it shows, unrounded
        samples.append((now, bar.bar.value() / 1000, eta.seconds, bar.eta.text()))

    def on_end(name: str, result: object) -> None:
        ended["at"] = time.perf_counter() - started
        ended["name"] = name
        app.quit()

    window.runner.finished.connect(on_end)
    window.runner.cancelled.connect(on_end)
    window.runner.failed.connect(on_end)
    probe = QTimer()
    probe.setInterval(SAMPLE_MS)
    probe.timeout.connect(sample)
    probe.start()
    QTimer.singleShot(TIMEOUT_S * 1000, app.quit)
    QTimer.singleShot(500, window.welcome.demo_button.click)
    app.exec()
    probe.stop()
    if "at" not in ended:
        print(f"the demo did not end within {TIMEOUT_S} s", file=sys.stderr)
        return 1
    total = float(ended["at"]) - 0.5  # from the click
    label = "demo in the app (quick)"
    record(label, "total time", total, "s", f"from the demo button to the job's end; {command}")
    for what in ("training curve", "mask"):
        record(label, f"first {what} drawn in Convergence", first.get(what, float("nan")) - 0.5, "s", "after the click")
    shown = [s for s in samples if s[2] is not None]
    record(label, "first ETA figure", (shown[0][0] - 0.5) if shown else float("nan"), "s", "after the click")
    for point in POINTS:
        moment = 0.5 + point * total
        before = [s for s in samples if s[0] <= moment]
        if not before:
            continue
        elapsed, share, seconds, text = before[-1]
        actual = total + 0.5 - elapsed
        if seconds is None:
            record(label, f"ETA at {point:.0%} of the time", float("nan"), "s", f"showed {text!r}")
            continue
        error = seconds - actual
        record(
            label,
            f"ETA error at {point:.0%} of the time",
            error,
            "s",
            f"showed {text!r} ({seconds:.0f} s), {actual:.0f} s were left ({100 * error / actual:+.0f} %); "
            f"bar at {100 * share:.0f} %",
        )
    rises = sum(1 for a, b in zip(shown, shown[1:]) if b[2] is not None and a[2] is not None and b[2] > a[2] + 0.5)
    record(label, "times the ETA rose", rises, "count", "between 100-ms samples, by more than 0.5 s")

    # After the demo: a click on a point of the Clusters plot shows that image's convergence.
    clusters = window.panels["clusters"]
    window.docks["clusters"].raise_()
    QTest.qWait(300)
    points = clusters.scatter.points()
    followed = 0.0
    if len(points):
        target = points[len(points) // 2]
        position = clusters.view.mapFromScene(clusters.scatter.mapToScene(target.pos()))
        QTest.mouseClick(clusters.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, position)
        QTest.qWait(300)
        followed = float(str(target.data()) in convergence.status.text())
    record(label, "a click in Clusters shows that image's convergence", followed, "yes=1", convergence.status.text())
    window.close()
    write_rows(Path(args.csv) if args.csv else ROOT / "benchmarks" / "demo-app-cpu.csv", cpu_machine(load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
