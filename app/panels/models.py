"""Models: what is loaded, which one per-image work uses, and how to get more."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QListWidget, QListWidgetItem, QPushButton

from fourier_masks.core.errors import FourierMasksError
from fourier_masks.core.models import read_class_names
from fourier_masks.core.tables import Table

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
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # the name and the accuracy stay in sight
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.outer.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        load = QPushButton("Load checkpoints…")
        load.clicked.connect(self.loadRequested)
        train = QPushButton("Train…")
        train.clicked.connect(self.trainRequested)
        buttons.addWidget(load)
        buttons.addWidget(train)
        self.names_button = QPushButton("Class names…")
        self.names_button.setToolTip(
            "Name the selected model's classes from a file: one name per line (# comments allowed) or a JSON list"
        )
        self.names_button.clicked.connect(self._on_names_button_clicked)
        buttons.addWidget(self.names_button)
        self.outer.addLayout(buttons)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        workbench.modelsChanged.connect(self.refresh)
        workbench.runChanged.connect(self.refresh)
        workbench.jobChanged.connect(self.refresh)
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
            item.setToolTip(f"{name}: {details}")
            item.setData(256, name)
            self.list.addItem(item)
            if name == self.workbench.current_model:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        count = len(self.workbench.models)
        self.names_button.setEnabled(count > 0)
        if count:
            self.status.setText(f"{count} model(s); per-image masks use the selected one")
        elif self.workbench.job:
            self.status.setText(f"No model yet; {self.workbench.job} is running: its models appear here when ready.")
        else:
            self.status.setText("No model yet: load a checkpoint, train one, or run the demo.")

    def _on_list_current_item_changed(self, item, previous) -> None:
        if item is not None:
            self.workbench.set_current_model(item.data(256))

    def _on_names_button_clicked(self) -> None:
        model = self.workbench.model()
        if model is None:
            self.workbench.message.emit("warning", "select a loaded model first")
            return
        path, _ = QFileDialog.getOpenFileName(
            self,
            f"Class names of {self.workbench.current_model} ({model.info.num_classes} classes)",
            "",
            "Class names (*.txt *.json);;All files (*)",
        )
        if path:
            self.load_class_names(Path(path))

    def load_class_names(self, path: Path) -> None:
        """Give the selected model the class names in ``path``; problems go to the message bar."""
        name, model = self.workbench.current_model, self.workbench.model()
        if name is None or model is None:
            return
        try:
            names = read_class_names(path, model.info.num_classes)
            self.workbench.set_class_names(name, names)
        except FourierMasksError as exc:
            self.workbench.message.emit("error", str(exc))
            return
        self.workbench.message.emit("info", f"model {name}: {len(names)} class names from {path.name}")

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
