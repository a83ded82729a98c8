"""Images: each image with its mask, M(x), Mᶜ(x), spectra and predictions; the adversarial
counterpart x_A, its own mask, and x_A filtered by the clean image's mask."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.figures import filtered_examples_figure
from fourier_masks.core.models import frozen
from fourier_masks.core.spectra import complement_mask, filter_images, log_spectrum
from fourier_masks.core.tables import Table

from ..widgets import ElidingComboBox, ImageView, MessageBar, compact_title, refill_combo
from .base import EmptyState, Panel

__all__ = ["ImagesPanel"]

CLEAN_VIEWS = (("x", "image"), ("log |F(x)|", "spectrum"), ("M", "mask"), ("M(x)", "image"), ("Mc(x)", "image"))
ADVERSARIAL_VIEWS = (
    ("x_A", "image"),
    ("log |F(x_A)|", "spectrum"),
    ("M_A", "mask"),
    ("M(x_A)", "image"),
    ("M_A(x_A)", "image"),
)
# The views the mask filters: computed through the model's normalisation, so they need the model.
FILTERED_VIEWS = ("M(x)", "Mc(x)", "M(x_A)", "M_A(x_A)")
PIXELS = " (pixels)"  # marks a filtered view (and its column in the figure) made without the model


MIN_IMAGE_PX = 96  # the smallest an image panel is ever drawn, in both directions
TITLE_PX = 18  # height of a panel's title row
GRID_SPACING = 4

EMPTY_TEXT = (
    "<p><b>No image masks yet.</b></p><p>Drop images on the window, or open them, to learn the Fourier mask "
    "each one needs to keep its prediction (load or train a model first). A run's masks show here too.</p>"
)


class ImagesPanel(Panel):
    title = "Images"
    attackRequested = Signal(str)  # clean group
    openImagesRequested = Signal()

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        self.attack_button = QPushButton("Attack (PGD) and compare")
        self.attack_button.setToolTip("Make PGD adversarial versions of these images and learn their masks")
        self.attack_button.clicked.connect(self._on_attack_button_clicked)
        self.header.insertWidget(1, self.attack_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self.left = QWidget()
        left_layout = QVBoxLayout(self.left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.groups = ElidingComboBox()
        self.list = QListWidget()
        # Ids differ at both ends (the folder, the number): shortened in the middle, whole in tooltips.
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_layout.addWidget(self.groups)
        left_layout.addWidget(self.list, 1)
        # The list only picks an image: narrow, so the image grid gets the space.
        self.left.setMinimumWidth(90)
        self.left.setMaximumWidth(220)
        splitter.addWidget(self.left)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(2)
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(0, 0, 0, 0)
        self.view.ci.setSpacing(GRID_SPACING)
        self.views: dict[str, ImageView] = {}
        for row, spec in enumerate((CLEAN_VIEWS, ADVERSARIAL_VIEWS)):
            for col, (name, kind) in enumerate(spec):
                plot = self.view.addPlot(row=row, col=col)
                plot.setContentsMargins(1, 1, 1, 1)
                compact_title(plot, name, TITLE_PX)
                self.views[name] = ImageView(plot, kind)
        columns, rows = len(CLEAN_VIEWS), 2
        self.view.setMinimumSize(
            columns * (MIN_IMAGE_PX + 2 + GRID_SPACING) + 4,
            rows * (MIN_IMAGE_PX + TITLE_PX + 2 + GRID_SPACING) + 4,
        )
        # Says so when the filtered views were made without the model (see show_image).
        self.pixel_note = QLabel("")
        self.pixel_note.setTextFormat(Qt.TextFormat.PlainText)  # model names are not markup
        self.pixel_note.setWordWrap(True)
        self.pixel_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.pixel_note.setStyleSheet(f"QLabel{{{MessageBar.STYLES['warning']} padding:2px 6px;}}")
        self.pixel_note.hide()
        right_layout.addWidget(self.pixel_note)
        right_layout.addWidget(self.view, 1)
        self.predictions = QLabel("")
        self.predictions.setTextFormat(Qt.TextFormat.RichText)
        self.predictions.setWordWrap(True)
        self.predictions.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        right_layout.addWidget(self.predictions)
        self.empty = EmptyState(right, buttons=(("Open images…", self.openImagesRequested),))
        splitter.addWidget(self.empty)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([130, 870])
        self.outer.addWidget(splitter, 1)
        self.shown: dict[str, np.ndarray] = {}
        self.predicted: dict[str, str] = {}  # view → its top class and probability, as shown below the views
        self.pixel_space = False  # the filtered views were made without the model's normalisation
        self.groups.currentTextChanged.connect(self._on_groups_changed)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        workbench.runChanged.connect(self.refresh)
        workbench.contentsChanged.connect(self.refresh)
        workbench.modelsChanged.connect(self._on_workbench_models_changed)
        workbench.groupGrew.connect(self._on_workbench_group_grew)
        workbench.selectionChanged.connect(self._on_workbench_selection_changed)
        self.refresh()

    # --- lists -------------------------------------------------------------------------------

    def refresh(self) -> None:
        refill_combo(
            self.groups, self.workbench.image_groups(), (f"image/{self.workbench.current_model}-clean",), last=True
        )
        self._fill_list()

    def _on_groups_changed(self, group: str) -> None:
        self._fill_list()

    def _fill_list(self) -> None:
        group = self.groups.currentText()
        current = self.list.currentItem().text() if self.list.currentItem() else None
        self.list.blockSignals(True)
        self.list.clear()
        stored = self.workbench.group_masks(group) if group else None
        names = self.workbench.class_names(group) if group else []
        if stored is not None:
            for k, image_id in enumerate(stored.ids):
                target = int(stored.arrays["targets"][k])
                label = names[target] if target < len(names) else str(target)
                item = QListWidgetItem(image_id)
                item.setToolTip(f"{image_id}\nkept prediction: {label}; {int(stored.arrays['steps'][k])} steps")
                self.list.addItem(item)
        self.list.blockSignals(False)
        self.attack_button.setEnabled(stored is not None and group in self.workbench.image_groups())
        self.left.setVisible(bool(group))
        if stored is None:
            self.status.setText("" if not group else f"{group}: no masks yet")
            self.empty.show_empty(True, EMPTY_TEXT if not group else f"{group} has no finished masks yet.")
            self._clear()
            return
        self.empty.show_empty(False)
        self.status.setText(f"{group}: {len(stored)} masks")
        ids = stored.ids
        target = current if current in ids else ids[0]
        self.list.setCurrentRow(ids.index(target))

    def _on_workbench_group_grew(self, group: str) -> None:
        """New masks of a running job: insert them into the list, keep the selection."""
        if group != self.groups.currentText():
            if self.groups.findText(group) < 0:
                self.groups.addItem(group)
            self.groups.setCurrentText(group)  # follow the running job; fills the list
            return
        stored = self.workbench.group_masks(group)
        if stored is None:
            return
        if self.workbench.selected is not None and self.workbench.selected[0] == group:
            self.show_image(*self.workbench.selected)  # its counterpart (x_A) may have just arrived
        shown = {self.list.item(row).text() for row in range(self.list.count())}
        self.list.blockSignals(True)
        for row, image_id in enumerate(stored.ids):
            if image_id not in shown:
                item = QListWidgetItem(image_id)
                item.setToolTip(image_id)
                self.list.insertItem(row, item)
        self.list.blockSignals(False)
        self.empty.show_empty(False)
        self.status.setText(f"{group}: {len(stored)} masks (learning…)")
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)

    def _on_list_current_item_changed(self, item, previous) -> None:
        if item is not None and self.groups.currentText():
            self.workbench.select_image(self.groups.currentText(), item.text())

    def _on_workbench_selection_changed(self, group: str, image_id: str) -> None:
        if group != self.groups.currentText():
            self.groups.blockSignals(True)
            self.groups.setCurrentText(group)
            self.groups.blockSignals(False)
            self._fill_list()
        matches = self.list.findItems(image_id, Qt.MatchFlag.MatchExactly)
        if matches and self.list.currentItem() is not matches[0]:
            self.list.blockSignals(True)
            self.list.setCurrentItem(matches[0])
            self.list.blockSignals(False)
        self.show_image(group, image_id)

    # --- one image ---------------------------------------------------------------------------

    def _clear(self) -> None:
        for view in self.views.values():
            view.clear()
        self.shown = {}
        self.predicted = {}
        self.predictions.setText("")
        self._show_pixel_space(None)

    def show_image(self, group: str, image_id: str) -> None:
        wb = self.workbench
        stored = wb.group_masks(group)
        x = wb.image_tensor(group, image_id)
        if stored is None or x is None or image_id not in stored.ids:
            self._clear()
            return
        meta = wb.group_meta(group)
        model = wb.models.get(meta.get("model", ""))
        normalization = model.normalization if model is not None else None
        component = (meta.get("config") or {}).get("component", "magnitude")

        def filtered(image, m):
            return filter_images(image, m[None], normalization, component)[0].numpy()

        mask = torch.from_numpy(stored.masks[stored.ids.index(image_id)])
        x = x[None]
        shown = {
            "x": x[0].numpy(),
            "log |F(x)|": log_spectrum(x)[0],
            "M": mask.numpy(),
            "M(x)": filtered(x, mask),
            "Mc(x)": filtered(x, complement_mask(mask)),
        }
        partner = wb.adversarial_partner(group)
        adv_stored = wb.group_masks(partner) if partner else None
        x_a = wb.image_tensor(partner, image_id) if partner else None
        if adv_stored is not None and x_a is not None and image_id in adv_stored.ids:
            adv_mask = torch.from_numpy(adv_stored.masks[adv_stored.ids.index(image_id)])
            x_a = x_a[None]
            shown.update(
                {
                    "x_A": x_a[0].numpy(),
                    "log |F(x_A)|": log_spectrum(x_a)[0],
                    "M_A": adv_mask.numpy(),
                    "M(x_A)": filtered(x_a, mask),
                    "M_A(x_A)": filtered(x_a, adv_mask),
                }
            )
        for name, view in self.views.items():
            if name in shown:
                view.show(shown[name], stored_mask=view.kind == "mask")
            else:
                view.clear()
        self.shown = shown
        self._show_pixel_space(None if model is not None else meta.get("model") or "")
        self.predicted = self._predicted(model, group, image_id, shown)
        self.predictions.setText(_predictions_html(self.predicted))
        kept = float(mask.mean())
        self.status.setText(
            f"{group} · {image_id}: keeps {100 * kept:.2f} % of frequencies, "
            f"{int(stored.arrays['steps'][stored.ids.index(image_id)])} steps"
        )

    def _show_pixel_space(self, missing_model: str | None) -> None:
        """Without the model (``missing_model``: its name, "" when the masks do not record it)
        the filtered views apply the mask to the raw pixels instead of to the normalised image
        it was learned on: their titles and a note say so. None: the model is loaded, or
        nothing is shown."""
        pixels = missing_model is not None
        if pixels != self.pixel_space:
            for name in FILTERED_VIEWS:
                compact_title(self.views[name].plot, name + PIXELS if pixels else name, TITLE_PX)
            self.pixel_space = pixels
        self.pixel_note.setVisible(pixels)
        if pixels:
            model = f"Model {missing_model}" if missing_model else "The model of these masks"
            self.pixel_note.setText(
                f"{model} is not loaded: views marked “{PIXELS.strip()}” apply the mask to the raw pixels, "
                "not to the normalised image it was learned on, so their brightness can differ. "
                "Load the model to see them as it does."
            )

    def _predicted(self, model, group: str, image_id: str, shown: dict[str, np.ndarray]) -> dict[str, str]:
        """Top class and its probability per shown image ("cross (18 %)"): from the
        probabilities the engine stored with the masks, and from the model (when loaded) for
        the rest (the clean mask on x_A; older runs)."""
        wb = self.workbench
        probabilities: dict[str, np.ndarray] = dict(wb.predictions(group, image_id) or {})
        partner = wb.adversarial_partner(group)
        adversarial = wb.predictions(partner, image_id) if partner else None
        if adversarial is not None:
            probabilities.update({"x_A": adversarial["x"], "M_A(x_A)": adversarial["M(x)"]})
        columns = [c for c in ("x", "M(x)", "Mc(x)", "x_A", "M(x_A)", "M_A(x_A)") if c in shown]
        missing = [c for c in columns if c not in probabilities]
        if missing and model is not None:
            batch = torch.stack([torch.from_numpy(np.asarray(shown[c], dtype=np.float32)) for c in missing])
            device = next(iter(model.parameters()), torch.zeros(0)).device
            with torch.no_grad(), frozen(model):
                computed = torch.softmax(model(batch.to(device)), dim=1).cpu().numpy()
            probabilities.update(zip(missing, computed))
        names = wb.class_names(group)
        predicted = {}
        for column in (c for c in columns if c in probabilities):
            p = probabilities[column]
            k = int(np.argmax(p))
            predicted[column] = f"{names[k] if k < len(names) else f'class {k}'} ({100 * p[k]:.0f} %)"
        return predicted

    def _on_workbench_models_changed(self) -> None:
        if self.workbench.selected is not None:
            self.show_image(*self.workbench.selected)

    def _on_attack_button_clicked(self) -> None:
        if self.groups.currentText():
            self.attackRequested.emit(self.groups.currentText())

    # --- export ------------------------------------------------------------------------------

    def figures(self):
        return {"image and filtered images": self.figure}

    def tables(self):
        return {"masks of this group": self.table}

    def figure(self):
        if not self.shown:
            return None
        # The figure draws log spectra itself, from the image they belong to.
        sources = {"log |F(x)|": "x", "log |F(x_A)|": "x_A"}
        row = {self._column(name): self.shown[sources.get(name, name)] for name in self.shown}
        label = self.workbench.selected[1] if self.workbench.selected else ""
        captions = {self._column(name): text for name, text in self.predicted.items()}
        return filtered_examples_figure([row], [label], captions=[captions])

    def _column(self, name: str) -> str:
        """A view's title in the figure, marked as the view's is when made without the model."""
        return name + PIXELS if self.pixel_space and name in FILTERED_VIEWS else name

    def table(self) -> Table | None:
        group = self.groups.currentText()
        stored = self.workbench.group_masks(group) if group else None
        if stored is None:
            return None
        names = self.workbench.class_names(group)
        table = Table.build(
            f"images-{group}",
            f"Single-image masks of {group}",
            [
                ("image", ""),
                ("kept prediction", ""),
                ("steps", "count"),
                ("converged", ""),
                ("prediction kept", ""),
                ("kept fraction", "%"),
            ],
        )
        for k, image_id in enumerate(stored.ids):
            target = int(stored.arrays["targets"][k])
            table.add_row(
                image_id,
                names[target] if target < len(names) else str(target),
                int(stored.arrays["steps"][k]),
                bool(stored.arrays["converged"][k]),
                bool(stored.arrays["prediction_kept"][k]),
                100 * float(stored.arrays["kept_fraction"][k]),
            )
        return table


def _predictions_html(predicted: dict[str, str]) -> str:
    """The predictions under the views: one cell per view."""
    if not predicted:
        return "<i>no stored predictions, and the model is not loaded</i>"
    cells = (
        f"<td style='padding:0px 6px; white-space:nowrap'><b>{html.escape(column)}</b><br>{html.escape(text)}</td>"
        for column, text in predicted.items()
    )
    return "<table><tr>" + "".join(cells) + "</tr></table>"
