"""Beyond the main paper: adversarial frequency maps, Fourier heat maps, robustness to
band-limited noise (the JaFR evaluation) and the blue-shift illustration."""

from __future__ import annotations

import html
from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.beyond import blue_shift
from fourier_masks.core.figures import adversarial_maps_figure, blue_shift_figure, heat_map_figure
from fourier_masks.core.spectra import centred

from ..widgets import ImageView, refill_combo
from .base import EmptyState, Panel
from .tables import TableModel

__all__ = ["AnalysesPanel"]

OVERVIEW_TEXT = (
    "<p><b>Nothing analysed yet.</b></p><p>Beyond the paper: <b>adversarial frequency maps</b> compare the "
    "frequencies an image needs with those its adversarial example uses (Basile et al.); a <b>Fourier heat "
    "map</b> shows the error rate under each Fourier basis perturbation (Yin et al.); <b>robustness</b> "
    "evaluates the models under low- and high-pass noise and PGD (Wang et al.'s JaFR). Each takes a minute "
    "or so on a laptop CPU.</p>"
)
HEAT_TEXT_NO_MODEL = "<p><b>No model loaded.</b></p><p>Load or train a model to compute its Fourier heat map.</p>"


class _Comparison:
    """One attack's essential/adversarial pairs, read back from the run."""

    def __init__(self, attack: str, ids, essential, adversarial, cosine, labels, idcor_text: str, idcor) -> None:
        self.attack, self.ids, self.essential, self.adversarial = attack, ids, essential, adversarial
        self.cosine, self.labels, self.idcor_text, self.idcor = cosine, labels, idcor_text, idcor

    @property
    def mean_difference(self) -> np.ndarray:
        return self.adversarial.mean(axis=0) - self.essential.mean(axis=0)


class AnalysesPanel(Panel):
    title = "Analyses"
    adversarialMapsRequested = Signal()
    heatMapRequested = Signal(str)  # model
    robustnessRequested = Signal()

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        self.tabs = QTabWidget()
        # Before anything is computed: what each analysis shows and the buttons that compute it.
        self.empty = EmptyState(
            self.tabs,
            OVERVIEW_TEXT,
            (
                ("Adversarial frequency maps…", self.adversarialMapsRequested),
                ("Fourier heat map…", self._request_heat_map),
                ("Robustness of the models…", self.robustnessRequested),
                ("Blue-shift illustration", self._on_empty_blue_shift),
            ),
        )
        self._browsing = False  # the user asked to see the tabs although nothing is computed
        self.outer.addWidget(self.empty, 1)
        self._build_adversarial_tab()
        self._build_heat_tab()
        self._build_robustness_tab()
        self._build_blue_shift_tab()
        self.tabs.currentChanged.connect(lambda _: self._update_status())
        workbench.runChanged.connect(self.refresh)
        workbench.contentsChanged.connect(self.refresh)
        workbench.modelsChanged.connect(self.refresh)
        self.refresh()

    # --- adversarial maps --------------------------------------------------------------------

    def _build_adversarial_tab(self) -> None:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        self.attack_choice = QComboBox()
        compute = QPushButton("Compute adversarial maps…")
        compute.clicked.connect(self.adversarialMapsRequested)
        row.addWidget(QLabel("maps"))
        row.addWidget(self.attack_choice, 1)
        row.addWidget(compute)
        layout.addLayout(row)
        self.idcor_label = QLabel("")
        self.idcor_label.setWordWrap(True)
        layout.addWidget(self.idcor_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.pair_list = QListWidget()
        splitter.addWidget(self.pair_list)
        self.pair_view = pg.GraphicsLayoutWidget()
        self.essential_view = ImageView(self.pair_view.addPlot(row=0, col=0, title="essential map"), "mask")
        self.adversarial_view = ImageView(
            self.pair_view.addPlot(row=0, col=1, title="adversarial map"), "mask", colorbar=True
        )
        self.difference_view = ImageView(
            self.pair_view.addPlot(row=1, col=0, title="mean adversarial − essential"), "difference", colorbar=True
        )
        self.cosine_plot = self.pair_view.addPlot(row=1, col=1, title="cosine similarity")
        self.cosine_bars = pg.BarGraphItem(x=[0], height=[0], width=0.05, brush="#4d4d4d")
        self.cosine_plot.addItem(self.cosine_bars)
        splitter.addWidget(self.pair_view)
        splitter.setSizes([160, 700])
        layout.addWidget(splitter, 1)
        self.attack_choice.currentTextChanged.connect(self._show_comparison)
        self.pair_list.currentRowChanged.connect(self._show_pair)
        self.comparison: _Comparison | None = None
        self.adversarial_empty = EmptyState(
            tab,
            "<p><b>No adversarial maps yet.</b></p><p>They compare each image's essential frequency map with "
            "the map of its adversarial example (Basile et al.).</p>",
            (("Compute adversarial maps…", self.adversarialMapsRequested),),
        )
        self.tabs.addTab(self.adversarial_empty, "Adversarial maps")

    def _comparisons(self) -> list[str]:
        tables = self.workbench.tables()
        return sorted(
            name.removeprefix("adversarial-maps-")
            for name in tables
            if name.startswith("adversarial-maps-") and name.count("-") >= 3
        )

    def _read_comparison(self, label: str) -> _Comparison | None:
        """``label`` is ``<model>-<attack>``; masks come from the run's mask groups."""
        wb = self.workbench
        model, _, attack = label.rpartition("-")
        essential = wb.group_masks(f"image/{model}-essential")
        adversarial = wb.group_masks(f"image/{model}-advmap-{attack}")
        table = wb.tables().get(f"adversarial-maps-{label}")
        summary = wb.tables().get(f"adversarial-maps-{model}")
        if essential is None or adversarial is None or table is None:
            return None
        ids = table.column("image")
        cosine = np.array(table.column("cosine similarity"), dtype=float)
        names = wb.class_names(f"image/{model}-essential")
        labels = np.array([names.index(v) if v in names else 0 for v in table.column("label")])
        text, idcor = "", None
        for row in summary.rows if summary is not None else []:
            if row[0] == attack:
                text = (
                    f"{attack.upper()}: {row[1]} images flipped, {row[2]} pairs; mean cosine {row[3]:.3f} ± "
                    f"{row[4]:.3f}; IdCor {row[5]:.3f} (p = {row[6]:.3g}); intrinsic dimensions {row[7]:.1f} "
                    f"(essential), {row[8]:.1f} (adversarial), {row[9]:.1f} (joint)"
                )
                if np.isfinite(row[5]):
                    idcor = SimpleNamespace(correlation=row[5], p_value=row[6])
        return _Comparison(
            attack, ids, essential.select(ids).masks, adversarial.select(ids).masks, cosine, labels, text, idcor
        )

    def _show_comparison(self, label: str) -> None:
        self.comparison = self._read_comparison(label) if label else None
        self.pair_list.clear()
        if self.comparison is None:
            self.idcor_label.setText(
                "Compute adversarial maps for the selected model to compare them with its "
                "essential maps (Basile et al.)."
            )
            for view in (self.essential_view, self.adversarial_view, self.difference_view):
                view.clear()
            self.cosine_bars.setOpts(x=[0], height=[0])
            return
        c = self.comparison
        self.idcor_label.setText(c.idcor_text)
        self.pair_list.addItems([f"{image_id}  ({cos:.2f})" for image_id, cos in zip(c.ids, c.cosine)])
        difference = centred(c.mean_difference.mean(axis=0))
        limit = float(np.abs(difference).max()) or 1.0
        self.difference_view.show(difference / (2 * limit))
        counts, edges = np.histogram(c.cosine, bins=15, range=(0, 1))
        self.cosine_bars.setOpts(x=0.5 * (edges[:-1] + edges[1:]), height=counts, width=(edges[1] - edges[0]) * 0.9)
        self.pair_list.setCurrentRow(0)

    def _show_pair(self, row: int) -> None:
        c = self.comparison
        if c is None or not 0 <= row < len(c.ids):
            return
        self.essential_view.show(c.essential[row], stored_mask=True)
        self.adversarial_view.show(c.adversarial[row], stored_mask=True)

    # --- heat maps ---------------------------------------------------------------------------

    def _build_heat_tab(self) -> None:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        self.heat_model = QComboBox()
        compute = QPushButton("Compute heat map…")
        compute.clicked.connect(lambda: self.heatMapRequested.emit(self.heat_model.currentText()))
        row.addWidget(QLabel("model"))
        row.addWidget(self.heat_model, 1)
        row.addWidget(compute)
        layout.addLayout(row)
        self.heat_view_widget = pg.GraphicsLayoutWidget()
        self.heat_view = ImageView(
            self.heat_view_widget.addPlot(title="error rate per Fourier basis"),
            "heat",
            colorbar=True,
            frequency_axes=True,
        )
        self.heat_empty = EmptyState(self.heat_view_widget, buttons=(("Compute heat map…", self._request_heat_map),))
        layout.addWidget(self.heat_empty, 1)
        self.heat: np.ndarray | None = None
        self.heat_model.currentTextChanged.connect(self._show_heat)
        self.tabs.addTab(tab, "Fourier heat map")

    def _show_heat(self, model: str) -> None:
        store = self.workbench.store
        name = f"heat-map-{model}"
        if store is None or not model or not store.path(f"data/{name}.npz").exists():
            self.heat = None
            self.heat_view.clear()
            self.heat_empty.show_empty(
                True,
                f"<p><b>No Fourier heat map of {html.escape(model)} yet.</b></p>" if model else HEAT_TEXT_NO_MODEL,
            )
            self.heat_empty.buttons["Compute heat map…"].setEnabled(bool(model))
            return
        self.heat_empty.show_empty(False)
        arrays = store.load_arrays(name)
        self.heat, self.heat_eps = arrays["heat"], float(arrays["eps"])
        self.heat_view.show(self.heat, stored_mask=True, title=f"{model}: error rate under ±{self.heat_eps:g}·U_ij")

    # --- robustness --------------------------------------------------------------------------

    def _build_robustness_tab(self) -> None:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        compute = QPushButton("Evaluate loaded models…")
        compute.clicked.connect(self.robustnessRequested)
        explanation = QLabel(
            "Accuracy under low- and high-pass noise and PGD; high-frequency share of the input "
            "gradient (train with JaFR: Train…, field “jafr lambda”)."
        )
        explanation.setWordWrap(True)
        row.addWidget(explanation, 1)
        row.addWidget(compute)
        layout.addLayout(row)
        self.robustness_model = TableModel()
        view = QTableView()
        view.setModel(self.robustness_model)
        self.robustness_empty = EmptyState(
            view,
            "<p><b>No robustness evaluation yet.</b></p><p>Evaluate every loaded model on the run's data.</p>",
            (("Evaluate loaded models…", self.robustnessRequested),),
        )
        layout.addWidget(self.robustness_empty, 1)
        self.robustness_view = view
        self.tabs.addTab(tab, "Robustness (JaFR)")

    # --- blue shift --------------------------------------------------------------------------

    def _build_blue_shift_tab(self) -> None:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        self.cycles = QSpinBox()
        self.cycles.setRange(1, 32)
        self.cycles.setValue(4)
        self.amplitude = QDoubleSpinBox()
        self.amplitude.setRange(0.1, 20.0)
        self.amplitude.setValue(3.0)
        row.addWidget(QLabel("sin with"))
        row.addWidget(self.cycles)
        row.addWidget(QLabel("cycles, amplitude"))
        row.addWidget(self.amplitude)
        row.addStretch(1)
        layout.addLayout(row)
        self.shift_view = pg.GraphicsLayoutWidget()
        layout.addWidget(self.shift_view, 1)
        self.shift_curves: dict[str, tuple[pg.PlotDataItem, pg.BarGraphItem]] = {}
        for k, name in enumerate(blue_shift().signals):
            signal_plot = self.shift_view.addPlot(row=k, col=0, title=name if k else f"{name} (signal)")
            spectrum_plot = self.shift_view.addPlot(row=k, col=1, title="magnitude spectrum" if k == 0 else None)
            spectrum_plot.setLogMode(y=True)
            curve = signal_plot.plot(pen=pg.mkPen("#2166ac", width=1.5))
            bars = spectrum_plot.plot(pen=None, symbol="o", symbolSize=4, symbolBrush="#b2182b")
            self.shift_curves[name] = (curve, bars)
        self.cycles.valueChanged.connect(self._draw_blue_shift)
        self.amplitude.valueChanged.connect(self._draw_blue_shift)
        self.tabs.addTab(tab, "Blue shift")
        self._draw_blue_shift()

    def _draw_blue_shift(self) -> None:
        self.shift = blue_shift(cycles=self.cycles.value(), amplitude=self.amplitude.value())
        limit = 12 * self.cycles.value()
        for name, (curve, points) in self.shift_curves.items():
            curve.setData(self.shift.time, self.shift.signals[name])
            spectrum = self.shift.spectra[name][:limit]
            present = spectrum > 1e-7  # bins that are zero up to rounding are left out of the log plot
            points.setData(self.shift.frequencies[:limit][present], spectrum[present])

    # --- all ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        comparisons = self._comparisons()
        refill_combo(self.attack_choice, comparisons)
        self._show_comparison(self.attack_choice.currentText())
        self.adversarial_empty.show_empty(not comparisons)
        refill_combo(self.heat_model, list(self.workbench.models), (self.workbench.current_model or "",))
        self._show_heat(self.heat_model.currentText())
        robustness = self.workbench.tables().get("robustness")
        self.robustness_model.set_table(robustness)
        self.robustness_view.resizeColumnsToContents()
        self.robustness_empty.show_empty(robustness is None)
        computed = bool(comparisons) or robustness is not None or self._any_heat_map()
        self.empty.show_empty(not computed and not self._browsing)
        self._update_status()

    def _any_heat_map(self) -> bool:
        return any(name.startswith("heat-map-") for name in self.workbench.tables())

    def _request_heat_map(self) -> None:
        self.heatMapRequested.emit(self.heat_model.currentText() or self.workbench.current_model or "")

    def _on_empty_blue_shift(self) -> None:
        self._browsing = True
        self.tabs.setCurrentIndex(3)
        self.empty.show_empty(False)

    def _update_status(self) -> None:
        if self.empty.is_empty:
            self.status.setText("")
            return
        texts = [
            "Essential vs adversarial frequency maps (Basile et al.)",
            "Fourier heat map (Yin et al. 2019)",
            "Frequency robustness of each model (Wang et al.'s JaFR evaluation)",
            "Non-linearities spread a sinusoid's energy to higher frequencies (the main paper's Figure 1)",
        ]
        self.status.setText(texts[self.tabs.currentIndex()])

    def figures(self):
        tab = self.tabs.currentIndex()
        if tab == 0:
            return {"adversarial maps": lambda: adversarial_maps_figure(self.comparison) if self.comparison else None}
        if tab == 1:
            return {
                "heat map": lambda: (
                    heat_map_figure(self.heat, f"Fourier heat map ({self.heat_model.currentText()})", self.heat_eps)
                    if self.heat is not None
                    else None
                )
            }
        if tab == 3:
            return {"blue shift": lambda: blue_shift_figure(self.shift, self.cycles.value())}
        return {}

    def tables(self):
        tab = self.tabs.currentIndex()
        tables = self.workbench.tables()
        if tab == 0:
            label = self.attack_choice.currentText()
            model = label.rpartition("-")[0]
            return {
                name: (lambda name=name: tables.get(name))
                for name in (f"adversarial-maps-{model}", f"adversarial-maps-{label}")
                if name in tables
            }
        if tab == 1:
            name = f"heat-map-{self.heat_model.currentText()}"
            return {name: lambda: tables.get(name)} if name in tables else {}
        if tab == 2:
            return {"robustness": lambda: tables.get("robustness")} if "robustness" in tables else {}
        return {"blue shift": lambda: self.shift.table(self.cycles.value())}
