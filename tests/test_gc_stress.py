"""Stress test for the hazard that froze the app: Python's cyclic garbage collector running on
a job's worker thread and freeing Qt objects there.

Many short jobs allocate heavily on the worker thread (the allocation pattern that triggers
collections there: cyclic garbage, as matplotlib figures and torch module graphs make) while
the GUI thread creates, paints and drops windows with menus, pyqtgraph plots and dialogs, each
left in a reference cycle so that only the cyclic collector can free it. Before the fix this
hung within seconds (GUI thread in ``~QMenu`` waiting on a Qt mutex, worker thread in
``gc_collect_main`` → ``~QObject`` waiting for the GIL) or crashed.

It runs in a subprocess so that a deadlock or a crash is a red test with every thread's stack
(``faulthandler``), not a frozen test run. It also records the thread of every collection and
requires all of them to run on the GUI thread: that part fails deterministically on code that
leaves collection to whichever thread happens to allocate.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 120

STRESS = """
import faulthandler, gc, sys, threading
faulthandler.enable(all_threads=True)  # a crash: every thread's stack
faulthandler.dump_traceback_later(int(sys.argv[1]), exit=True)  # a hang: the same, then exit 1

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QVBoxLayout, QWidget
import pyqtgraph as pg

from fourier_masks.app.forms import ConfigDialog
from fourier_masks.app.workers import JobRunner
from fourier_masks.core.progress import Progress

JOBS = int(sys.argv[2])
qt_app = QApplication([])
qt_app.setQuitOnLastWindowClosed(False)  # dropped windows must not end the run
gui_thread = threading.get_ident()
collections = {"gui": 0, "other": 0}


def on_collection(phase, info):
    if phase == "start":
        collections["gui" if threading.get_ident() == gui_thread else "other"] += 1


gc.callbacks.append(on_collection)
runner = JobRunner()


def churn(*, on_progress, cancel):
    '''A short job that allocates like the engine's figure and model code: lots of cycles.'''
    for i in range(60_000):
        node = {"payload": [i] * 4}
        node["self"] = node
        if i % 5_000 == 0:
            on_progress(Progress("churn", i, 60_000))
        if cancel.is_set():
            break
    return i


def drop_qt_garbage():
    '''Windows, menus, plots and dialogs that only the cyclic collector can free.'''
    window = QMainWindow()
    menu = window.menuBar().addMenu("File")
    for k in range(5):
        menu.addAction(f"item {k}")
    popup = QMenu(window)
    popup.addAction("export")
    central = QWidget()
    layout = QVBoxLayout(central)
    for _ in range(2):
        layout.addWidget(pg.PlotWidget())  # pyqtgraph: view boxes with their own menus
    window.setCentralWidget(central)
    dialog = ConfigDialog("stress", "a dialog dropped without deleteLater", window)
    dialog.finish()
    window.resize(320, 240)
    window.show()
    window.grab()  # paint, as the GUI thread does while a job runs
    window.cycle = window  # only gc can free it now
    dialog.cycle = dialog
    popup.cycle = popup


done = {"jobs": 0}


def next_job(*_):
    done["jobs"] += 1
    if done["jobs"] >= JOBS:
        qt_app.quit()
        return
    runner.start(f"churn {done['jobs']}", churn)


runner.finished.connect(next_job)
runner.failed.connect(lambda name, message: (print("job failed:", message), qt_app.exit(3)))
gui_churn = QTimer()
gui_churn.timeout.connect(drop_qt_garbage)
gui_churn.start(5)
runner.start("churn 0", churn)
code = qt_app.exec()
gui_churn.stop()
runner.shutdown()
print(f"jobs={done['jobs']} gui_collections={collections['gui']} other_collections={collections['other']}")
sys.exit(code)
"""


@pytest.mark.slow
def test_many_jobs_while_the_gui_drops_qt_objects_never_hang_and_collect_on_the_gui_thread():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    try:
        process = subprocess.run(
            [sys.executable, "-c", STRESS, str(BUDGET_S), "120"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUDGET_S + 60,
        )
    except subprocess.TimeoutExpired as exc:  # faulthandler should have fired first
        pytest.fail(f"the stress run hung past its budget and its watchdog:\n{exc.stderr}")
    noise = "This plugin does not support propagateSizeHints()"  # the offscreen platform, per window
    output = "\n".join(line for line in (process.stdout + process.stderr).splitlines() if line != noise)
    assert process.returncode == 0, f"the stress run hung or crashed (exit {process.returncode}):\n{output[-6000:]}"
    counts = dict(part.split("=") for part in process.stdout.split() if "=" in part)
    assert int(counts["jobs"]) == 120
    assert int(counts["gui_collections"]) > 0, "the cyclic collector never ran: garbage would pile up"
    assert int(counts["other_collections"]) == 0, f"collections ran on a worker thread: {output[-2000:]}"
