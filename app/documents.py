"""The user documentation inside the app (Help menu): the packaged ``docs/*.md``, rendered by
Qt's own Markdown reader, so a user never needs a source tree to read what a view cites."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from fourier_masks.resources import document_path

__all__ = ["DOCUMENTS", "DocumentDialog"]

DOCUMENTS = (
    ("The science", "science.md"),
    ("Speed and memory", "performance.md"),
    ("The results folder", "results-store.md"),
)
"""Help-menu titles and the documents they open."""


class DocumentDialog(QDialog):
    """One document, with its links to the others followed in place (web links open in the
    browser). Non-modal and deleted on close: it can stay open beside the views it explains."""

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"Fourier Masks — {title}")
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setSource(QUrl.fromLocalFile(str(document_path(name))))
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(820, 640)
