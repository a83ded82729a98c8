"""Application entry point.

A first window that says what the product is and how to run the study headless; the full
workbench (live convergence, spectra, images, clusters) builds on it.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from resources import resource_path

__all__ = ["MainWindow", "run_app"]


class MainWindow(QMainWindow):
    def __init__(self, run: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Fourier Masks")
        self.setWindowIcon(QIcon(str(resource_path("icon.svg"))))
        text = (
            "<h2>Fourier Masks</h2>"
            "<p>Learn which input frequencies a trained classifier really needs.</p>"
            "<p>Run the whole study headless with<br><code>fourier-masks demo --quick --out runs/demo</code></p>"
        )
        if run:
            text += f"<p>Run folder: <code>{run}</code></p>"
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setCentralWidget(label)
        self.resize(720, 420)


def run_app(run: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Fourier Masks")
    window = MainWindow(run)
    window.show()
    return app.exec()
