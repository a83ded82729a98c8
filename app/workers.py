"""Running engine jobs off the GUI thread.

A job is one of the engine's workflows (:mod:`fourier_masks.core.runs.workflows`, the study,
the analyses): a plain function that takes keyword-only ``on_progress`` and ``cancel`` like
every long engine operation. :class:`JobRunner` runs one job at a time
on a :class:`JobWorker` moved to a :class:`QThread`:

- ``cancel()`` sets a thread-safe :class:`threading.Event` directly (a queued signal would
  never reach a busy worker);
- progress is throttled to ~20 Hz in the worker and the newest event is always delivered
  before the job's end, so the GUI sees the final state; events that start a stage or bring
  data the last one lacked (an epoch's validation scores) always go through;
- progress payloads are CPU numpy arrays or plain values (the engine builds them that way);
- starting a job while another runs cancels the old one and disconnects it, so a stale
  result never reaches the screen;
- ``shutdown()`` cancels and joins, for the window's ``closeEvent``.

Qt objects must be freed on the GUI thread only, and two things could free them elsewhere:

- Python's cyclic garbage collector runs in whichever thread happens to allocate when a
  generation's threshold is crossed: a busy job thread, typically. Windows, dialogs and
  pyqtgraph items (full of reference cycles) it finds are then destroyed in the job thread,
  which deadlocks against the GUI thread or crashes (``tests/test_gc_stress.py``). So
  :func:`collect_garbage_on_gui_thread` turns automatic collection off and collects from a
  GUI-thread timer instead (pyqtgraph's ``GarbageCollector``, made for exactly this).
- The last reference: a worker thread must never drop the last reference to a Qt object.
  Jobs receive and return engine objects only (no widgets), and the worker ``QObject`` moves
  itself back to the GUI thread when its job ends, so it is freed there.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from fourier_masks.core.errors import FourierMasksError
from fourier_masks.core.logs import NOTICES
from fourier_masks.core.progress import Progress

__all__ = ["JobWorker", "JobRunner", "NoticeRelay", "PROGRESS_INTERVAL_S", "collect_garbage_on_gui_thread"]

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05
GC_INTERVAL_S = 0.5  # how long cyclic garbage may wait; jobs' own memory is freed by refcounts

_gui_thread_collector: GarbageCollector | None = None


def collect_garbage_on_gui_thread() -> None:
    """Run Python's cyclic garbage collector only on the GUI thread, from a timer, for the
    rest of the process (see the module's docstring for why). Idempotent; call it on the GUI
    thread once the ``QApplication`` exists, before the first worker thread starts."""
    global _gui_thread_collector
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        raise RuntimeError("collect_garbage_on_gui_thread() must be called on the GUI thread of a running QApplication")
    if _gui_thread_collector is None:
        _gui_thread_collector = GarbageCollector(interval=GC_INTERVAL_S)


class JobWorker(QObject):
    """Runs one job function in its thread and reports through signals."""

    progress = Signal(object)  # core.Progress
    finished = Signal(object)  # the job's result
    failed = Signal(str)  # a message for the user
    cancelled = Signal(object)  # the partial result (may be None)

    def __init__(self, name: str, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self._function = function
        self._kwargs = kwargs
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self._last_stage = ""
        self._last_keys: frozenset[str] = frozenset()
        self._pending: Progress | None = None

    def cancel(self) -> None:
        self._cancel.set()

    def _on_progress(self, event: Progress) -> None:
        now = time.monotonic()
        keys = frozenset(event.payload)
        with self._lock:
            # A new stage or step (e.g. the next step of a study) always goes through: it is
            # rare, and the GUI must not miss it; so does an event that brings data the one
            # before it lacked (an epoch's validation scores after its batches: a point of a
            # curve that a newer event would not repeat). Fast repeats are throttled.
            milestone = (
                event.stage in ("study", "report") or event.stage != self._last_stage or not keys <= self._last_keys
            )
            self._last_keys = keys
            if not milestone and now - self._last_sent < PROGRESS_INTERVAL_S:
                self._pending = event
                return
            self._pending = None
            self._last_sent, self._last_stage = now, event.stage
        self.progress.emit(event)

    def _flush(self) -> None:
        with self._lock:
            event, self._pending = self._pending, None
        if event is not None:
            self.progress.emit(event)

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        finally:
            # Back to the GUI thread, where the runner drops the last reference to this object.
            self.moveToThread(QCoreApplication.instance().thread())

    def _run(self) -> None:
        store = self._kwargs.get("store")
        try:
            # A job that writes into a run holds the run's lock for its life: a command-line
            # job writing there at the same time is refused, and so is this one while one does.
            with store.lock_for_writing(f"the Fourier Masks app ({self.name})") if store is not None else nullcontext():
                result = self._function(**self._kwargs, on_progress=self._on_progress, cancel=self._cancel)
        except FourierMasksError as exc:
            self._flush()
            log.warning("%s failed: %s", self.name, exc)
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the app must stay up; the log keeps the traceback
            self._flush()
            log.error("%s crashed:\n%s", self.name, traceback.format_exc())
            self.failed.emit(
                f"{self.name} failed unexpectedly ({type(exc).__name__}: {exc}); details are in the log file"
            )
            return
        self._flush()
        if self._cancel.is_set():
            self.cancelled.emit(result)
        else:
            self.finished.emit(result)


class JobRunner(QObject):
    """Owns the worker thread; one job at a time. Lives in the GUI thread, so the worker's
    signals reach its slots queued, on the GUI thread."""

    started = Signal(str)
    progress = Signal(str, object)
    finished = Signal(str, object)
    failed = Signal(str, str)
    cancelled = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_on_gui_thread()
        self._thread: QThread | None = None
        self._worker: JobWorker | None = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def start(self, name: str, function: Callable[..., Any], **kwargs: Any) -> None:
        """Run ``function(**kwargs, on_progress=..., cancel=...)`` on the worker thread."""
        self.stop()
        worker = JobWorker(name, function, kwargs)
        thread = QThread()
        thread.setObjectName(f"job:{name}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_worker_progress)
        worker.finished.connect(self._on_worker_finished)
        worker.cancelled.connect(self._on_worker_cancelled)
        worker.failed.connect(self._on_worker_failed)
        self._worker, self._thread = worker, thread
        thread.start()
        self.started.emit(name)

    def _current(self) -> JobWorker | None:
        """The worker that sent the signal being handled, if it is still the current job."""
        sender = self.sender()
        return sender if sender is not None and sender is self._worker else None

    @Slot(object)
    def _on_worker_progress(self, event: Progress) -> None:
        worker = self._current()
        if worker is not None:
            self.progress.emit(worker.name, event)

    @Slot(object)
    def _on_worker_finished(self, result: Any) -> None:
        self._end(self.finished, result)

    @Slot(object)
    def _on_worker_cancelled(self, result: Any) -> None:
        self._end(self.cancelled, result)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self._end(self.failed, message)

    def _end(self, signal: Signal, payload: Any) -> None:
        worker = self._current()
        if worker is None:
            return  # a job that was replaced: its news is stale
        self._join()
        signal.emit(worker.name, payload)

    def cancel(self) -> None:
        """Ask the running job to stop; it ends with ``cancelled`` and its partial result."""
        if self._worker is not None:
            self._worker.cancel()

    def stop(self, timeout_ms: int = 60_000) -> None:
        """Cancel the running job (if any), wait for its thread, and forget it silently."""
        if self._worker is None:
            return
        worker = self._worker
        worker.cancel()
        for signal in (worker.progress, worker.finished, worker.cancelled, worker.failed):
            try:
                signal.disconnect()
            except (RuntimeError, TypeError):
                pass
        self._join(timeout_ms)

    def _join(self, timeout_ms: int = 60_000) -> None:
        # Keep the worker referenced until its thread has ended, so that the thread's own
        # references are gone first and the last one is dropped here, on the GUI thread.
        thread, worker = self._thread, self._worker
        self._thread, self._worker = None, None
        if thread is not None:
            thread.quit()
            if not thread.wait(timeout_ms):
                log.error("job thread did not stop within %d ms", timeout_ms)
            thread.deleteLater()
        del worker

    def shutdown(self) -> None:
        self.stop()


class NoticeRelay(QObject):
    """Brings the engine's notices (:func:`fourier_masks.core.logs.notice_once`), logged on whatever thread
    loads a model, to the GUI thread as the queued ``noticed`` signal. ``detach()`` it before
    its receiver goes."""

    noticed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handler = _SignalHandler(self.noticed)
        NOTICES.addHandler(self._handler)

    def detach(self) -> None:
        NOTICES.removeHandler(self._handler)


class _SignalHandler(logging.Handler):
    def __init__(self, signal: Any) -> None:
        super().__init__()
        self._signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        self._signal.emit(record.getMessage())
