"""Tables: every table of the run, viewable and savable as CSV, in views whose columns fit
the dock (long text wrapped) rather than running off its edge."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRect, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTableView

from fourier_masks.core.tables import Table

from ..widgets import ElidingComboBox, refill_combo
from .base import Panel

__all__ = ["TableModel", "FittedTableView", "TablesPanel"]

# Rows measured for a column's longest word; a longer table's later rows are like these.
MEASURED_ROWS = 500


class TableModel(QAbstractTableModel):
    """A read-only Qt model over a :class:`~fourier_masks.core.tables.Table`."""

    def __init__(self, table: Table | None = None) -> None:
        super().__init__()
        self.table = table

    def set_table(self, table: Table | None) -> None:
        self.beginResetModel()
        self.table = table
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if self.table is None or parent.isValid() else len(self.table.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if self.table is None or parent.isValid() else len(self.table.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if self.table is None or not index.isValid():
            return None
        value = self.table.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{value:.4g}" if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str) and value:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if role != Qt.ItemDataRole.DisplayRole or self.table is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.table.columns[section].header
        return str(section + 1)


class FittedTableView(QTableView):
    """A table view whose columns share out the view's width: each at least its longest word
    (of its cells and its header), the rest of the width in proportion to how much more text
    the column holds, long text and headers wrapped onto more lines. A table of sentences (the
    findings) then fits a narrow dock with its last column on screen; only where even the
    longest words do not fit does it scroll sideways."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        self._natural: list[int] = []  # each column's width on one line
        self._least: list[int] = []  # its longest word's
        self._wrapped = False

    def setModel(self, model) -> None:  # noqa: N802 - Qt API
        super().setModel(model)
        model.modelReset.connect(self._measure)
        self._measure()

    def _padding(self) -> int:
        """Room a cell or header section keeps around its text (px)."""
        return 2 * self.style().pixelMetric(self.style().PixelMetric.PM_HeaderMargin) + 8

    def _measure(self) -> None:
        model, header = self.model(), self.horizontalHeader()
        cell, heading = self.fontMetrics(), header.fontMetrics()
        self._natural, self._least = [], []
        for column in range(model.columnCount()):
            texts = [str(model.index(row, column).data() or "") for row in range(min(model.rowCount(), MEASURED_ROWS))]
            title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
            word = max(
                [cell.horizontalAdvance(w) for text in texts for w in text.split()]
                + [heading.horizontalAdvance(w) for w in title.split()]
                + [0]
            )
            natural = max(self.sizeHintForColumn(column), header.sectionSizeHint(column))
            self._natural.append(natural)
            self._least.append(min(natural, word + self._padding()))
        self._fit()

    def _fit(self) -> None:
        if not self._natural:
            return
        available = self.viewport().width()
        spare = available - sum(self._least)
        wanted = [natural - least for natural, least in zip(self._natural, self._least)]
        if sum(self._natural) <= available or spare <= 0 or not sum(wanted):
            widths = self._natural if spare > 0 else self._least
        else:
            share = min(1.0, spare / sum(wanted))
            widths = [least + int(share * want) for least, want in zip(self._least, wanted)]
        header = self.horizontalHeader()
        for column, width in enumerate(widths):
            header.resizeSection(column, width)
        # Rows are measured only while some text wraps (or just did): a long table of
        # numbers is never measured row by row on each resize.
        wraps = any(width < natural for width, natural in zip(widths, self._natural))
        if wraps or self._wrapped:
            self.resizeRowsToContents()
            header.setMinimumHeight(self._header_height(widths) if wraps else 0)
        self._wrapped = wraps

    def _header_height(self, widths: list[int]) -> int:
        """The header's height with each title wrapped to its column (Qt sizes it for one line)."""
        model, metrics, padding = self.model(), self.horizontalHeader().fontMetrics(), self._padding()
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        titles = [str(model.headerData(column, Qt.Orientation.Horizontal) or "") for column in range(len(widths))]
        heights = [
            metrics.boundingRect(QRect(0, 0, max(width - padding, 1), 10_000), flags, title).height()
            for width, title in zip(widths, titles)
        ]
        return max(heights, default=0) + padding // 2

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()


class TablesPanel(Panel):
    title = "Tables"

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        self.export_button.hide()
        row = QHBoxLayout()
        self.choice = ElidingComboBox()
        row.addWidget(QLabel("table"))
        row.addWidget(self.choice, 1)
        self.outer.addLayout(row)
        self.model = TableModel()
        self.view = FittedTableView()
        self.view.setModel(self.model)
        self.outer.addWidget(self.view, 1)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color:#555;")
        self.outer.addWidget(self.notes)
        self.choice.currentTextChanged.connect(self._on_choice_changed)
        workbench.runChanged.connect(self.refresh)
        workbench.contentsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        refill_combo(self.choice, list(self.workbench.tables()), ("table1",))
        self._on_choice_changed(self.choice.currentText())

    def _on_choice_changed(self, name: str) -> None:
        table = self.workbench.tables().get(name)
        self.model.set_table(table)
        self.status.setText(table.title if table else "The run's tables appear here.")
        self.notes.setText(table.notes if table else "")

    def tables(self):
        return {name: (lambda name=name: self.workbench.tables().get(name)) for name in self.workbench.tables()}
