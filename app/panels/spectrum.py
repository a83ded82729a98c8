"""Spectrum partitions: a mask (or the difference of two) under the radial and angular
partitions, with per-band energy bars (METHOD.md §5)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QBoxLayout, QCheckBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from fourier_masks.core.figures import energy_figure
from fourier_masks.core.spectra import angular_partition, centred_difference, mask_energies, radial_partition
from fourier_masks.core.tables import Table

from ..widgets import (
    AXIS_PX,
    MIN_DATA_PX,
    TITLE_PX,
    ElidingComboBox,
    ImageView,
    compact_title,
    readable_axes,
    refill_combo,
)
from .base import Panel, vertical_scroll

__all__ = ["SpectrumPanel"]

NONE = "—"
MIN_WIDTH = 470  # px, measured with the default 9-pt font
CHART_PX = MIN_DATA_PX + TITLE_PX + AXIS_PX + 8  # one energy chart's height, at the least


class SpectrumPanel(Panel):
    """The mask beside its radial and angular energy charts: the charts one above the other
    where the view has the height for both, else all three in a row (a short, wide dock, such
    as the tab below the images), so neither chart is ever squeezed flat."""

    title = "Spectrum"

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        controls = QHBoxLayout()
        self.first = ElidingComboBox()
        self.second = ElidingComboBox()
        self.bands = QSpinBox()
        self.bands.setRange(2, 128)
        self.bands.setValue(32)
        self.overlay = QCheckBox("partition lines")
        self.overlay.setChecked(True)
        for label, widget in (("mask", self.first), ("minus", self.second), ("bands", self.bands)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget, 1 if widget is not self.bands else 0)
        controls.addWidget(self.overlay)
        self.outer.addLayout(controls)
        mask_widget = pg.PlotWidget(axisItems=readable_axes())
        self.mask_plot = mask_widget.getPlotItem()
        self.mask = ImageView(self.mask_plot, "mask", colorbar=True, frequency_axes=True)
        charts = []
        for title, unit in (("radial energy per band", "cycles/image"), ("angular energy per band", "degrees")):
            chart = pg.PlotWidget(axisItems=readable_axes())
            plot = chart.getPlotItem()
            compact_title(plot, title)
            plot.setLabel("bottom", unit)
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.setMenuEnabled(False)
            charts.append(chart)
        self.radial_plot, self.angular_plot = (chart.getPlotItem() for chart in charts)
        self.radial_bars = pg.BarGraphItem(x=[0], height=[0], width=1)
        self.angular_bars = pg.BarGraphItem(x=[0], height=[0], width=1)
        self.radial_plot.addItem(self.radial_bars)
        self.angular_plot.addItem(self.angular_bars)
        self.lines: list[pg.PlotCurveItem] = []
        plots = QWidget()
        self.arrangement = QHBoxLayout(plots)
        self.arrangement.setContentsMargins(0, 0, 0, 0)
        self.charts = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        for chart in charts:
            self.charts.addWidget(chart, 1)
        self.arrangement.addWidget(mask_widget, 3)
        self.arrangement.addLayout(self.charts, 2)
        # What the plots' axes, labels and colour bar need once drawn (pyqtgraph sizes axes as
        # it paints them, too late for the dock): a narrower dock would clip them.
        plots.setMinimumWidth(MIN_WIDTH)
        self.scroll = vertical_scroll(plots, 2 * CHART_PX)
        self.scroll.viewport().installEventFilter(self)
        self.outer.addWidget(self.scroll, 1)
        self._sources: dict[str, Callable[[], np.ndarray | None]] = {}
        self.current: dict | None = None
        for widget in (self.first, self.second):
            widget.currentTextChanged.connect(self._on_choice_changed)
        self.bands.valueChanged.connect(self._on_choice_changed)
        self.overlay.toggled.connect(self._on_choice_changed)
        workbench.runChanged.connect(self.refresh_sources)
        workbench.contentsChanged.connect(self.refresh_sources)
        workbench.selectionChanged.connect(self._on_workbench_selection_changed)
        self.refresh_sources()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize:
            self._arrange(event.size())
        return False

    def _arrange(self, size: QSize) -> None:
        """The charts stacked beside the mask when the view has the height for two and is not
        much wider than tall, else the mask and both charts in one row."""
        stacked = size.height() >= 2 * CHART_PX and size.width() < 2 * size.height()
        direction = QBoxLayout.Direction.TopToBottom if stacked else QBoxLayout.Direction.LeftToRight
        if self.charts.direction() != direction:
            self.charts.setDirection(direction)
            self.arrangement.setStretch(0, 3 if stacked else 1)
            self.scroll.widget().setMinimumHeight(2 * CHART_PX if stacked else CHART_PX)

    # --- what can be shown -------------------------------------------------------------------

    def _mask_sources(self) -> dict[str, Callable[[], np.ndarray | None]]:
        wb = self.workbench
        sources: dict[str, Callable[[], np.ndarray | None]] = {}
        for model, mask in wb.set_masks().items():
            sources[f"dataset mask · {model}"] = lambda mask=mask: mask
        if wb.selected is not None:
            group, image_id = wb.selected
            sources[f"image {image_id}"] = lambda g=group, i=image_id: self._image_mask(g, i)
            partner = wb.adversarial_partner(group)
            if partner is not None:
                sources[f"image {image_id} · adversarial"] = lambda g=partner, i=image_id: self._image_mask(g, i)
        for group in wb.image_groups():
            sources[f"mean of {group}"] = lambda g=group: self._mean_mask(g)
            partner = wb.adversarial_partner(group)
            if partner is not None:
                sources[f"mean of {partner}"] = lambda g=partner: self._mean_mask(g)
        return sources

    def _image_mask(self, group: str, image_id: str) -> np.ndarray | None:
        stored = self.workbench.group_masks(group)
        if stored is None or image_id not in stored.ids:
            return None
        return stored.masks[stored.ids.index(image_id)]

    def _mean_mask(self, group: str) -> np.ndarray | None:
        stored = self.workbench.group_masks(group)
        return None if stored is None else stored.masks.mean(axis=0)

    def refresh_sources(self) -> None:
        self._sources = self._mask_sources()
        refill_combo(self.first, list(self._sources))
        refill_combo(self.second, [NONE, *self._sources])
        self._on_choice_changed()

    def _on_workbench_selection_changed(self, group: str, image_id: str) -> None:
        self.refresh_sources()
        self.first.setCurrentText(f"image {image_id}")

    # --- drawing -----------------------------------------------------------------------------

    def show_masks(self, first: str, second: str = NONE) -> None:
        self.first.setCurrentText(first)
        self.second.setCurrentText(second)
        self._on_choice_changed()

    def _on_choice_changed(self, *args) -> None:
        a_name, b_name = self.first.currentText(), self.second.currentText()
        a = self._sources.get(a_name, lambda: None)()
        b = self._sources.get(b_name, lambda: None)() if b_name != NONE else None
        if a is None:
            self.current = None
            self.mask.clear()
            self.status.setText("Open a run, learn masks or drop images to see spectra.")
            return
        n = self.bands.value()
        shape = np.shape(a)[-2:]
        radial, angular = radial_partition(shape, n), angular_partition(shape, n)
        radial_energy, angular_energy = mask_energies(a, radial), mask_energies(a, angular)
        if b is not None and np.shape(b)[-2:] == shape:
            radial_energy = radial_energy - mask_energies(b, radial)
            angular_energy = angular_energy - mask_energies(b, angular)
            label = f"{a_name} − {b_name}"
            self.mask.set_kind("difference")
            self.mask.show(centred_difference(a, b), title=label)
        else:
            label = a_name
            self.mask.set_kind("mask")
            self.mask.show(a, stored_mask=True, title=label)
        self.current = {
            "label": label,
            "radial": radial,
            "angular": angular,
            "radial_energy": radial_energy,
            "angular_energy": angular_energy,
        }
        self._draw_bars()
        self._draw_partition(radial, angular)
        self.status.setText(f"{label}: {n} radial and {n} angular bands")

    def _draw_bars(self) -> None:
        c = self.current
        for plot, bars, partition, energy in (
            (self.radial_plot, self.radial_bars, c["radial"], c["radial_energy"]),
            (self.angular_plot, self.angular_bars, c["angular"], c["angular_energy"]),
        ):
            centres = partition.centres()
            width = float(np.diff(partition.edges).mean()) * 0.9
            brushes = [pg.mkBrush("#b2182b" if e >= 0 else "#2166ac") for e in energy]
            bars.setOpts(x=centres, height=energy, width=width, brushes=brushes, pens=[pg.mkPen(None)] * len(energy))
            plot.enableAutoRange()

    def _draw_partition(self, radial, angular) -> None:
        for line in self.lines:
            self.mask_plot.removeItem(line)
        self.lines = []
        if not self.overlay.isChecked():
            return
        pen = pg.mkPen((255, 255, 255, 90), width=1)
        theta = np.linspace(0, 2 * np.pi, 90)
        for r in radial.edges[1:-1]:
            line = pg.PlotCurveItem(r * np.cos(theta), r * np.sin(theta), pen=pen)
            self.mask_plot.addItem(line)
            self.lines.append(line)
        reach = radial.edges[-1]
        for degrees in angular.edges[:-1]:
            t = np.deg2rad(degrees)
            line = pg.PlotCurveItem([0, reach * np.cos(t)], [0, reach * np.sin(t)], pen=pen)
            self.mask_plot.addItem(line)
            self.lines.append(line)

    # --- export ------------------------------------------------------------------------------

    def figures(self):
        return {"band energies": self.figure}

    def tables(self):
        return {"band energies": self.table}

    def figure(self):
        c = self.current
        if c is None:
            return None
        return energy_figure(
            {c["label"]: c["radial_energy"]},
            {c["label"]: c["angular_energy"]},
            c["radial"].edges,
            title=c["label"],
            ylabel="energy" if "−" not in c["label"] else "energy difference",
        )

    def table(self) -> Table | None:
        c = self.current
        if c is None:
            return None
        table = Table.build(
            "spectrum",
            f"Per-band energy: {c['label']}",
            [
                ("partition", ""),
                ("band", "index"),
                ("from", "cycles/image or degrees"),
                ("to", "cycles/image or degrees"),
                ("energy", "1"),
            ],
        )
        for kind, partition, energy in (
            ("radial", c["radial"], c["radial_energy"]),
            ("angular", c["angular"], c["angular_energy"]),
        ):
            for b in range(partition.count):
                table.add_row(kind, b, float(partition.edges[b]), float(partition.edges[b + 1]), float(energy[b]))
        return table
