"""Compare augmentations: dataset masks side by side, their centred differences from a
reference model, radial/angular energy differences per band, Table 1 and the per-image
comparison percentages (the paper's Figures 3, 4 and 7 and Table 1), and the loaded models'
cutoff sweeps and input-gradient radial profiles overlaid, where the run has them."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter

from fourier_masks.core.figures import (
    cutoff_sweep_figure,
    differences_figure,
    energy_figure,
    exceedance_figure,
    masks_figure,
)
from fourier_masks.core.spectra import angular_partition, centred_difference, mask_energies, radial_partition

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
from .base import EmptyState, Panel, vertical_scroll
from .clusters import COLOURS
from .frequency import stored_sensitivities, stored_sweeps
from .tables import FittedTableView, TableModel

__all__ = ["ComparePanel"]

BANDS = 32
# Heights (px) of the views: their plots' data areas at MIN_DATA_PX, with titles, axes, and
# the room pyqtgraph keeps around and between plots.
MASKS_PX = 2 * (MIN_DATA_PX + TITLE_PX) + 40  # two rows of masks: the models', their differences
LEGEND_PX = 18
CHART_PX = TITLE_PX + MIN_DATA_PX + AXIS_PX + 30
EMPTY_TEXT = (
    "<p><b>No models compared yet.</b></p><p>Load two or more checkpoints (models trained with different "
    "augmentations), then compare them: each gets a dataset mask, shown side by side with its difference "
    "from the reference model. Or open a run.</p>"
)
EMPTY_TEXT_MODELS = (
    "<p><b>No models compared yet.</b></p><p>Compare the loaded models: each gets a dataset mask, shown "
    "side by side with its difference from the reference model.</p>"
)


class ComparePanel(Panel):
    title = "Compare"
    compareRequested = Signal()
    loadRequested = Signal()

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        controls = QHBoxLayout()
        self.reference = ElidingComboBox()
        self.compare_button = QPushButton("Compare models…")
        self.compare_button.setToolTip("Learn dataset masks (and single-image masks) for every loaded model")
        self.compare_button.clicked.connect(self.compareRequested)
        self.comparison = ElidingComboBox()
        self.comparison.setToolTip("per-image comparison to show (the paper's Figure 7)")
        controls.addWidget(QLabel("reference model"))
        controls.addWidget(self.reference)
        controls.addWidget(QLabel("per-image comparison"))
        controls.addWidget(self.comparison, 1)
        controls.addWidget(self.compare_button)
        self.outer.addLayout(controls)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.view = pg.GraphicsLayoutWidget()  # masks and their differences
        self.view.setMinimumHeight(MASKS_PX)
        self.energy_view = pg.GraphicsLayoutWidget()
        self.energy_view.setMinimumHeight(CHART_PX + LEGEND_PX + 10)
        self.exceedance_view = pg.PlotWidget(axisItems=readable_axes())
        self.exceedance_view.setMinimumHeight(CHART_PX)
        self.frequency_view = pg.GraphicsLayoutWidget()  # the sweeps and gradient profiles overlaid
        self.frequency_view.setMinimumHeight(CHART_PX)
        self._build_frequency_plots()
        self.table_model = TableModel()
        self.table_view = FittedTableView()
        self.table_view.setModel(self.table_model)
        self.table_view.setMinimumHeight(70)
        for widget, stretch in (
            (self.view, 3),
            (self.energy_view, 3),
            (self.exceedance_view, 2),
            (self.frequency_view, 2),
            (self.table_view, 1),
        ):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        # Four plots need their height: in a short dock they scroll rather than squeeze, so the
        # dock never forces its height on the window (the Compare layout gives it the height).
        self.splitter, self._full_height = splitter, splitter.minimumSizeHint().height()
        self.empty = EmptyState(vertical_scroll(splitter, self._full_height))
        self.empty.add_button("Load checkpoints…", self.loadRequested)
        self.empty_compare = self.empty.add_button("Compare models…", self.compareRequested)
        self.outer.addWidget(self.empty, 1)
        self.mask_views: dict[str, ImageView] = {}
        self.difference_views: dict[str, ImageView] = {}
        self.energy: dict | None = None
        self.exceedance: tuple | None = None
        self.reference.currentTextChanged.connect(self._draw)
        self.comparison.currentTextChanged.connect(self._draw)
        workbench.runChanged.connect(self.refresh)
        workbench.contentsChanged.connect(self.refresh)
        workbench.modelsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        refill_combo(self.reference, sorted(self.workbench.set_masks()), ("N",))
        refill_combo(self.comparison, sorted(n for n in self.workbench.tables() if n.startswith("exceedance-")))
        self.compare_button.setEnabled(len(self.workbench.models) >= 1)
        self.empty_compare.setEnabled(len(self.workbench.models) >= 1)
        self._draw()

    def _build_frequency_plots(self) -> None:
        self.sweep_plot = self.frequency_view.addPlot(row=0, col=0, axisItems=readable_axes())
        compact_title(self.sweep_plot, "cutoff sweeps: low-pass ━, high-pass ╌")
        self.sweep_plot.setLabel("bottom", "cutoff radius (× Nyquist)")
        self.sweep_plot.setLabel("left", "accuracy (%)")
        self.sweep_plot.setYRange(0, 100)
        self.gradient_plot = self.frequency_view.addPlot(row=0, col=1, axisItems=readable_axes())
        compact_title(self.gradient_plot, "input-gradient radial profile (mean over channels)")
        self.gradient_plot.setLabel("bottom", "radius (× Nyquist)")
        for plot in (self.sweep_plot, self.gradient_plot):
            plot.setMenuEnabled(False)
        self.sweep_legend = self.sweep_plot.addLegend(offset=(-4, 4), labelTextSize="7pt", verSpacing=-6)
        self.sweep_curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.gradient_curves: dict[str, pg.PlotDataItem] = {}
        self.sweeps: dict = {}

    def _draw_frequency(self) -> bool:
        """Overlay the loaded models' cutoff sweeps (clean images) and gradient profiles;
        whether there was any. Curves are made once per model and updated with setData."""
        loaded = list(self.workbench.models) or None
        self.sweeps = stored_sweeps(self.workbench, loaded)
        gradients = stored_sensitivities(self.workbench, loaded)
        names = sorted(set(self.sweeps) | set(gradients))
        for key in [k for k in self.sweep_curves if k[0] not in self.sweeps]:
            self.sweep_plot.removeItem(self.sweep_curves.pop(key))
        for name in [n for n in self.gradient_curves if n not in gradients]:
            self.gradient_plot.removeItem(self.gradient_curves.pop(name))
        self.sweep_legend.clear()
        for k, name in enumerate(names):
            pen = {"low": pg.mkPen(COLOURS[k % len(COLOURS)], width=2)}
            pen["high"] = pg.mkPen(COLOURS[k % len(COLOURS)], width=2, style=Qt.PenStyle.DashLine)
            sweep = self.sweeps.get(name)
            for kind in ("low", "high") if sweep is not None else ():
                curve = self.sweep_curves.get((name, kind))
                if curve is None:
                    curve = self.sweep_curves[(name, kind)] = self.sweep_plot.plot(pen=pen[kind])
                curve.setPen(pen[kind])
                curve.setData(np.asarray(sweep.radii), 100 * np.asarray(sweep.accuracy[kind][0], dtype=float))
                if kind == "low":
                    self.sweep_legend.addItem(curve, name)
            gradient = gradients.get(name)
            if gradient is not None:
                curve = self.gradient_curves.get(name)
                if curve is None:
                    curve = self.gradient_curves[name] = self.gradient_plot.plot(pen=pen["low"])
                curve.setPen(pen["low"])
                curve.setData(0.5 * (gradient.edges[:-1] + gradient.edges[1:]), gradient.profile.mean(axis=0))
        self.frequency_view.setVisible(bool(names))
        return bool(names)

    def _draw(self, *args) -> None:
        has_frequency = self._draw_frequency()
        masks = self.workbench.set_masks()
        reference = self.reference.currentText()
        for view in (self.view, self.energy_view):
            view.clear()
        self.exceedance_view.clear()
        self.mask_views, self.difference_views = {}, {}
        self.energy, self.exceedance = None, None
        table = self.workbench.tables().get("table1")
        self.table_model.set_table(table)
        self.empty.show_empty(not masks and not has_frequency)
        if not masks:
            for widget in (self.view, self.energy_view, self.exceedance_view, self.table_view):
                widget.setVisible(False)  # the overlays alone, without empty mask plots
            self.splitter.setMinimumHeight(CHART_PX)
            if has_frequency:
                self.status.setText(f"cutoff sweeps and gradient profiles of {len(self.sweeps) or 'the'} models")
                return
            self.status.setText("")
            self.empty.show_empty(True, EMPTY_TEXT if len(self.workbench.models) < 2 else EMPTY_TEXT_MODELS)
            return
        for widget in (self.view, self.energy_view, self.exceedance_view, self.table_view):
            widget.setVisible(True)
        self.splitter.setMinimumHeight(self._full_height - (0 if has_frequency else CHART_PX))
        order = [reference] + [m for m in sorted(masks) if m != reference]
        others = order[1:]
        for col, model in enumerate(order):
            plot = self.view.addPlot(row=0, col=col)
            compact_title(plot, f"M_{model}")
            view = ImageView(plot, "mask", colorbar=col == len(order) - 1)
            view.show(masks[model], stored_mask=True)
            self.mask_views[model] = view
        for col, model in enumerate(others):
            plot = self.view.addPlot(row=1, col=col + 1)
            compact_title(plot, f"{model} − {reference}")
            view = ImageView(plot, "difference", colorbar=col == len(others) - 1)
            view.show(centred_difference(masks[model], masks[reference]))
            self.difference_views[model] = view
        if others:
            self._draw_energies(masks, reference, others)
        self._draw_exceedance()
        kept = ", ".join(f"{m} {100 * float(np.mean(masks[m])):.1f} %" for m in order)
        self.status.setText(f"dataset masks of {len(order)} models; kept fraction: {kept}")

    def _draw_energies(self, masks, reference, others) -> None:
        shape = np.shape(masks[reference])[-2:]
        radial, angular = radial_partition(shape, BANDS), angular_partition(shape, BANDS)
        energy = {"radial": {}, "angular": {}, "edges": radial.edges}
        for kind, partition in (("radial", radial), ("angular", angular)):
            plot = self.energy_view.addPlot(row=0, col=0 if kind == "radial" else 1, axisItems=readable_axes())
            compact_title(plot, f"{kind} energy difference from {reference}")
            plot.addLine(y=0, pen=pg.mkPen("#888"))
            plot.setLabel("bottom", "radial frequency (cycles/image)" if kind == "radial" else "direction (degrees)")
            base = mask_energies(masks[reference], partition)
            for k, model in enumerate(others):
                difference = mask_energies(masks[model], partition) - base
                energy[kind][f"{model} − {reference}"] = difference
                plot.plot(
                    partition.centres(),
                    difference,
                    pen=pg.mkPen(COLOURS[k % len(COLOURS)], width=2),
                    symbol="o",
                    symbolSize=4,
                    symbolBrush=COLOURS[k % len(COLOURS)],
                    name=model,
                )
        # The legend on a line of its own: inside a plot this short it would cover the curves.
        self.energy_view.addLabel(
            "&nbsp;&nbsp;".join(
                f"<span style='color:{COLOURS[k % len(COLOURS)]}'>━━</span>&nbsp;{html.escape(model)} − "
                f"{html.escape(reference)}"
                for k, model in enumerate(others)
            ),
            row=1,
            col=0,
            colspan=2,
            size="9pt",
        )
        self.energy_view.ci.layout.setRowMaximumHeight(1, LEGEND_PX)
        self.energy = energy

    def _draw_exceedance(self) -> None:
        name = self.comparison.currentText()
        table = self.workbench.tables().get(name)
        if table is None:
            compact_title(
                self.exceedance_view.getPlotItem(),
                "per-image comparison: learn single-image masks for two models to see it",
            )
            return
        radial_edges = np.array(table.column("radial from") + [np.nan], dtype=float)
        radial_pct = np.array(table.column("radial"), dtype=float)
        angular_pct = np.array(table.column("angular"), dtype=float)
        step = radial_edges[1] - radial_edges[0] if len(radial_edges) > 2 else 1.0
        radial_edges[-1] = radial_edges[-2] + step
        plot = self.exceedance_view.getPlotItem()
        compact_title(plot, f"% of images with more radial band energy: {name.removeprefix('exceedance-')}")
        bars = pg.BarGraphItem(
            x=0.5 * (radial_edges[:-1] + radial_edges[1:]), height=radial_pct, width=step * 0.9, brush="#4d4d4d"
        )
        plot.addItem(bars)
        plot.addLine(y=50, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        plot.setYRange(0, 100)
        plot.setLabel("left", "% of images")
        plot.setLabel("bottom", "radial frequency (cycles/image)")
        self.exceedance = (name, radial_pct, angular_pct, radial_edges, table.title)

    # --- export ------------------------------------------------------------------------------

    def figures(self):
        return {
            "dataset masks": lambda: (
                masks_figure(self.workbench.set_masks(), "Dataset masks") if self.workbench.set_masks() else None
            ),
            "mask differences": self._differences_figure,
            "energy differences": lambda: (
                energy_figure(
                    self.energy["radial"], self.energy["angular"], self.energy["edges"], "Energy differences per band"
                )
                if self.energy
                else None
            ),
            "cutoff sweeps": lambda: cutoff_sweep_figure(self.sweeps) if self.sweeps else None,
            "per-image comparison": lambda: (
                exceedance_figure(self.exceedance[1], self.exceedance[2], self.exceedance[3], self.exceedance[4])
                if self.exceedance
                else None
            ),
        }

    def _differences_figure(self):
        masks = self.workbench.set_masks()
        reference = self.reference.currentText()
        others = [m for m in sorted(masks) if m != reference]
        if not others:
            return None
        return differences_figure(
            {f"{m} − {reference}": centred_difference(masks[m], masks[reference]) for m in others},
            "Dataset mask differences (centred)",
        )

    def tables(self):
        names = [n for n in ("table1", "energy-radial", "energy-angular") if n in self.workbench.tables()]
        names += sorted(n for n in self.workbench.tables() if n.startswith("exceedance-"))
        return {name: (lambda name=name: self.workbench.tables().get(name)) for name in names}
