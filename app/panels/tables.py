"""Tables: every table of the run, viewable and savable as CSV."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTableView

from fourier_masks.core.tables import Table

from ..widgets import refill_combo
from .base import Panel

__all__ = ["TableModel", "TablesPanel"]


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
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if role != Qt.ItemDataRole.DisplayRole or self.table is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.table.columns[section].header
        return str(section + 1)


class TablesPanel(Panel):
    title = "Tables"

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        self.export_button.hide()
        row = QHBoxLayout()
        self.choice = QComboBox()
        row.addWidget(QLabel("table"))
        row.addWidget(self.choice, 1)
        self.outer.addLayout(row)
        self.model = TableModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setStretchLastSection(True)
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
        self.view.resizeColumnsToContents()
        self.status.setText(table.title if table else "The run's tables appear here.")
        self.notes.setText(table.notes if table else "")

    def tables(self):
        return {name: (lambda name=name: self.workbench.tables().get(name)) for name in self.workbench.tables()}
