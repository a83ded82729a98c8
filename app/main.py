"""Application entry point: Qt set-up, settings, logging, and the main window."""

from __future__ import annotations

import logging
import sys
import traceback

import pyqtgraph as pg
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from fourier_masks.core.devices import tune_cpu_allocator
from fourier_masks.resources import resource_path

from .settings import app_paths, open_settings, setup_logging
from .window import MainWindow
from .workers import collect_garbage_on_gui_thread

__all__ = ["create_window", "run_app"]

log = logging.getLogger(__name__)


def _configure_pyqtgraph() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")


def create_window(run: str | None = None) -> MainWindow:
    """The main window, ready to show (the QApplication must exist)."""
    _configure_pyqtgraph()
    paths = app_paths()
    setup_logging(paths)
    window = MainWindow(paths, open_settings(paths))
    if run:
        window.open_run(run)
    return window


def _install_excepthook(window: MainWindow) -> None:
    """A bug in a slot shows as a message in the window and a traceback in the log, and the
    app stays up."""

    def hook(kind, value, tb):
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, value, tb)))
        try:
            window.show_message("error", f"unexpected error ({kind.__name__}: {value}); details are in the log file")
        except RuntimeError:
            pass

    sys.excepthook = hook


def run_app(run: str | None = None, demo: bool = False) -> int:
    tune_cpu_allocator()  # also when started as `python -m fourier_masks.app`, not through the command line
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Fourier Masks")
    app.setOrganizationName("Fourier Masks")
    app.setWindowIcon(QIcon(str(resource_path("icon.svg"))))
    collect_garbage_on_gui_thread()  # before any job thread exists: see fourier_masks.app.workers
    window = create_window(run)
    _install_excepthook(window)
    window.show()
    if demo:
        window.run_demo()
    status = app.exec()
    # Drop the window before the interpreter tears Qt down (pyqtgraph items otherwise
    # outlive their scene at exit).
    sys.excepthook = sys.__excepthook__
    window.deleteLater()
    del window
    app.processEvents()
    return status
