"""What every panel shares: a header with export buttons for its figures and tables, an empty
state (what to do next, with the button that does it) for views with nothing to show, and a
scroll area for plots that need more height than a short dock has."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.errors import FourierMasksError
from fourier_masks.core.figures import write_figure
from fourier_masks.core.files import atomic_write_text
from fourier_masks.core.tables import Table

from ..widgets import MIN_DATA_PX
from ..workbench import Workbench

__all__ = ["Panel", "EmptyState", "vertical_scroll", "FIGURE_FILTER", "CSV_FILTER"]

FIGURE_FILTER = "PNG image (*.png);;SVG vector (*.svg);;PDF document (*.pdf)"
CSV_FILTER = "CSV table (*.csv)"


def vertical_scroll(content: QWidget, minimum_height: int) -> QScrollArea:
    """``content`` in a frameless area that scrolls up and down below ``minimum_height``: in a
    short dock its plots keep the height they need to be read instead of being squeezed, and
    the dock never forces its height on the window."""
    content.setMinimumHeight(minimum_height)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(content)
    scroll.setMinimumHeight(min(minimum_height, MIN_DATA_PX))  # a short dock still shows a strip of it
    return scroll


class EmptyState(QStackedWidget):
    """A view, or while it has nothing to show, a short text saying what to do next with the
    buttons that do it (instead of empty axes).

    ``content`` is the view; ``buttons`` are ``(text, slot)`` pairs, a slot being any callable
    or signal. :meth:`show_empty` switches between the two pages."""

    def __init__(
        self,
        content: QWidget,
        text: str = "",
        buttons: tuple[tuple[str, Callable], ...] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.content = content
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addStretch(1)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setStyleSheet("color:#333;")
        self.label.setMaximumWidth(640)  # a readable line length in a wide dock
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addWidget(self.label, 100)
        centred.addStretch(1)
        layout.addLayout(centred)
        row = QHBoxLayout()
        self.button_grid = QGridLayout()
        row.addStretch(1)
        row.addLayout(self.button_grid)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        self.buttons: dict[str, QPushButton] = {}
        for button_text, slot in buttons:
            self.add_button(button_text, slot)
        self.addWidget(content)
        self.addWidget(page)
        self.empty_page = page

    def add_button(self, text: str, slot: Callable) -> QPushButton:
        button = QPushButton(text)
        call = slot.emit if hasattr(slot, "emit") else slot  # a signal, or any callable
        button.clicked.connect(lambda checked=False: call())
        count = len(self.buttons)
        self.button_grid.addWidget(button, count // 2, count % 2)  # two a row: narrow docks stay narrow
        self.buttons[text] = button
        return button

    def show_empty(self, empty: bool, text: str | None = None) -> None:
        if text is not None:
            self.label.setText(text)
        self.setCurrentWidget(self.empty_page if empty else self.content)
        self.updateGeometry()

    @property
    def is_empty(self) -> bool:
        return self.currentWidget() is self.empty_page

    @property
    def text(self) -> str:
        return self.label.text()

    def minimumSizeHint(self):  # noqa: N802 - Qt API
        # Only the page on show counts: an empty page never forces the view's minimum on the
        # window (a stacked widget otherwise takes the largest of its pages).
        return self.currentWidget().minimumSizeHint()


class Panel(QWidget):
    """A view over the workbench with ``Export figure`` and ``Save CSV`` menus.

    Subclasses list what they show in :meth:`figures` (name → builder of a matplotlib figure,
    drawn by :mod:`fourier_masks.core.figures` for publication) and :meth:`tables` (name → builder of a
    :class:`~fourier_masks.core.tables.Table`); a builder returns None while there is nothing to show."""

    title = "Panel"

    def __init__(self, workbench: Workbench, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workbench = workbench
        self.outer = QVBoxLayout(self)
        self.outer.setContentsMargins(4, 4, 4, 4)
        self.header = QHBoxLayout()
        self.status = QLabel("")
        self.status.setStyleSheet("color:#555;")
        self.status.setWordWrap(True)
        self.header.addWidget(self.status, 1)
        self.export_button = self._menu_button("Export figure", self._fill_figure_menu)
        self.csv_button = self._menu_button("Save CSV", self._fill_table_menu)
        self.header.addWidget(self.export_button)
        self.header.addWidget(self.csv_button)
        self.outer.addLayout(self.header)

    def _menu_button(self, text: str, fill: Callable[[QMenu], None]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(button)
        menu.aboutToShow.connect(lambda: fill(menu))
        button.setMenu(menu)
        return button

    # --- to implement ------------------------------------------------------------------------

    def figures(self) -> dict[str, Callable[[], object]]:
        return {}

    def tables(self) -> dict[str, Callable[[], Table | None]]:
        return {}

    # --- exporting ---------------------------------------------------------------------------

    def _pick(self, builders: dict, name: str | None, what: str):
        if not builders:
            raise FourierMasksError(f"the {self.title} view has no {what}")
        if name is None:
            name = next(iter(builders))
        if name not in builders:
            raise FourierMasksError(f"the {self.title} view has no {what} called {name!r}")
        built = builders[name]()
        if built is None:
            raise FourierMasksError(f"the {self.title} view has nothing to export as {name!r} yet")
        return built

    def export_figure_to(self, path: str | Path, name: str | None = None) -> Path:
        """Write one of the panel's figures; the format follows the suffix (.png, .svg, .pdf)."""
        suffix = Path(path).suffix.lower()
        if suffix not in (".png", ".svg", ".pdf"):
            raise FourierMasksError(f"figures export as .png, .svg or .pdf, not {suffix or 'a file without extension'}")
        return write_figure(self._pick(self.figures(), name, "figure"), path)

    def save_table_to(self, path: str | Path, name: str | None = None) -> Path:
        table = self._pick(self.tables(), name, "table")
        return atomic_write_text(Path(path), table.to_csv())

    def _fill_figure_menu(self, menu: QMenu) -> None:
        menu.clear()
        for name in self.figures() or {}:
            menu.addAction(name, lambda name=name: self._ask_and_export(name))
        if menu.isEmpty():
            menu.addAction("(nothing to export yet)").setEnabled(False)

    def _fill_table_menu(self, menu: QMenu) -> None:
        menu.clear()
        for name in self.tables() or {}:
            menu.addAction(name, lambda name=name: self._ask_and_save(name))
        if menu.isEmpty():
            menu.addAction("(no table yet)").setEnabled(False)

    def _ask_path(self, caption: str, filters: str, default: str) -> str | None:
        folder = self.workbench.store.root if self.workbench.store else Path.home()
        path, _ = QFileDialog.getSaveFileName(self, caption, str(Path(folder) / default), filters)
        return path or None

    def _ask_and_export(self, name: str) -> None:
        path = self._ask_path(f"Export {name}", FIGURE_FILTER, f"{_slug(name)}.png")
        if path:
            self._report(lambda: self.export_figure_to(path, name))

    def _ask_and_save(self, name: str) -> None:
        path = self._ask_path(f"Save {name}", CSV_FILTER, f"{_slug(name)}.csv")
        if path:
            self._report(lambda: self.save_table_to(path, name))

    def _report(self, action) -> None:
        try:
            path = action()
        except FourierMasksError as exc:
            self.workbench.message.emit("error", str(exc))
        else:
            self.workbench.message.emit("info", f"saved {path}")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "export"
