"""Models: what is loaded, which one per-image work uses, and how to get more."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton

from core.tables import Table

from .base import Panel

__all__ = ["ModelsPanel"]


class ModelsPanel(Panel):
    title = "Models"
    loadRequested = Signal()
    trainRequested = Signal()

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        self.export_button.hide()
        self.list = QListWidget()
        self.outer.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        load = QPushButton("Load checkpoints…")
        load.clicked.connect(self.loadRequested)
        train = QPushButton("Train…")
        train.clicked.connect(self.trainRequested)
        buttons.addWidget(load)
        buttons.addWidget(train)
        self.outer.addLayout(buttons)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        workbench.modelsChanged.connect(self.refresh)
        workbench.runChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for name, model in self.workbench.models.items():
            info = model.info
            accuracy = info.metrics.get("val_accuracy")
            training = info.training.get("augmentation", "")
            details = f"{info.arch}, {info.in_channels}×{info.image_size}², {info.num_classes} classes"
            if training:
                details += f", {training}"
            if accuracy is not None:
                details += f", val {100 * accuracy:.1f} %"
            item = QListWidgetItem(f"{name}  —  {details}")
            item.setData(256, name)
            self.list.addItem(item)
            if name == self.workbench.current_model:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        count = len(self.workbench.models)
        self.status.setText(
            f"{count} model(s); per-image masks use the selected one"
            if count
            else "No model yet: load a checkpoint, train one, or run the demo."
        )

    def _on_list_current_item_changed(self, item, previous) -> None:
        if item is not None:
            self.workbench.set_current_model(item.data(256))

    def tables(self):
        return {"models": self._table}

    def _table(self) -> Table | None:
        if not self.workbench.models:
            return None
        table = Table.build(
            "models",
            "Loaded models",
            [
                ("name", ""),
                ("architecture", ""),
                ("channels", "count"),
                ("image size", "px"),
                ("classes", "count"),
                ("augmentation", ""),
                ("validation accuracy", "%"),
            ],
        )
        for name, model in self.workbench.models.items():
            info = model.info
            accuracy = info.metrics.get("val_accuracy")
            table.add_row(
                name,
                info.arch,
                info.in_channels,
                info.image_size,
                info.num_classes,
                info.training.get("augmentation", ""),
                100 * accuracy if accuracy is not None else float("nan"),
            )
        return table
