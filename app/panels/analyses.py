"""The run's findings (the main paper's claims judged on this run) and the analyses beyond the
paper: adversarial frequency maps, Fourier heat maps, robustness to band-limited noise (the
JaFR evaluation), the blue-shift illustration, and the frequency-robustness tabs of
:mod:`.frequency` (cutoff sweeps, gradient spectra, corruptions, layer spectra, the profile)."""

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
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.beyond import blue_shift
from fourier_masks.core.figures import adversarial_maps_figure, blue_shift_figure, heat_map_figure
from fourier_masks.core.spectra import centred

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
from .frequency import CorruptionsTab, CutoffSweepTab, FrequencyTab, LayerSpectraTab, ProfileTab, SensitivityTab
from .tables import FittedTableView, TableModel

__all__ = ["AnalysesPanel"]

OVERVIEW_TEXT = (
    "<p><b>Nothing analysed yet.</b></p><p>Beyond the paper: <b>adversarial frequency maps</b> compare the "
    "frequencies an image needs with those its adversarial example uses (Basile et al.); a <b>Fourier heat "
    "map</b> shows the error rate under each Fourier basis perturbation (Yin et al.); <b>robustness</b> "
    "evaluates the models under low- and high-pass noise and PGD (Wang et al.'s JaFR); <b>cutoff sweeps</b>, "
    "the <b>gradient spectrum</b>, <b>common corruptions</b>, <b>layer spectra</b> and the <b>profile</b> of "
    "the run's models say which frequencies each model relies on. Each takes a minute or so on a laptop CPU.</p>"
)
HEAT_TEXT_NO_MODEL = "<p><b>No model loaded.</b></p><p>Load or train a model to compute its Fourier heat map.</p>"
FINDINGS_TEXT = (
    "<p><b>No findings yet.</b></p><p>The findings table judges each of the main paper's findings on this run, "
    "beside the paper's figure: Run → Compute tables and clusters writes it from the run's masks.</p>"
)
FINDINGS = 4  # the Findings tab, after the analyses' (whose places other code knows)
TOP1, TOP5 = "top-1 error", "top-5 error"
ROW_PX = MIN_DATA_PX + TITLE_PX + 20  # a row of plots with a title and an axis without labels
SPECTRUM_RANGE = (-5.0, 0.5)  # log10 of the magnitude spectra shown: one scale for every row, as in the figure


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
    cutoffSweepRequested = Signal()
    sensitivityRequested = Signal(str)  # model
    corruptionsRequested = Signal()
    layerSpectraRequested = Signal(str)  # model
    profileRequested = Signal()

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
                ("Cutoff sweep…", self.cutoffSweepRequested),
                ("Gradient spectrum…", lambda: self.sensitivityRequested.emit(self.workbench.current_model or "")),
                ("Corruptions…", self.corruptionsRequested),
                ("Layer spectra…", lambda: self.layerSpectraRequested.emit(self.workbench.current_model or "")),
                ("Profile models…", self.profileRequested),
            ),
        )
        self._browsing = False  # the user asked to see the tabs although nothing is computed
        self.outer.addWidget(self.empty, 1)
        self._build_adversarial_tab()
        self._build_heat_tab()
        self._build_robustness_tab()
        self._build_blue_shift_tab()
        self._build_findings_tab()
        # The frequency-robustness tabs follow the Findings tab, whose place other code knows.
        self.frequency_tabs: list[FrequencyTab] = [
            CutoffSweepTab(workbench, lambda model: self.cutoffSweepRequested.emit()),
            SensitivityTab(workbench, self.sensitivityRequested.emit),
            CorruptionsTab(workbench, lambda model: self.corruptionsRequested.emit()),
            LayerSpectraTab(workbench, self.layerSpectraRequested.emit),
            ProfileTab(workbench, lambda model: self.profileRequested.emit()),
        ]
        for tab in self.frequency_tabs:
            self.tabs.addTab(tab, tab.title)
        self.tabs.currentChanged.connect(lambda _: self._update_status())
        workbench.runChanged.connect(self._on_workbench_run_changed)
        workbench.contentsChanged.connect(self.refresh)
        workbench.modelsChanged.connect(self.refresh)
        self._on_workbench_run_changed()

    # --- adversarial maps --------------------------------------------------------------------

    def _build_adversarial_tab(self) -> None:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        self.attack_choice = ElidingComboBox()
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
        self.pair_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # ids differ at both ends
        self.pair_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        splitter.addWidget(self.pair_list)
        self.pair_view = pg.GraphicsLayoutWidget()
        plots = {}
        for row, col, title in (
            (0, 0, "essential map"),
            (0, 1, "adversarial map"),
            (1, 0, "mean adversarial − essential"),
            (1, 1, "cosine similarity"),
        ):
            plots[title] = self.pair_view.addPlot(row=row, col=col, axisItems=readable_axes())
            compact_title(plots[title], title)
        self.essential_view = ImageView(plots["essential map"], "mask")
        self.adversarial_view = ImageView(plots["adversarial map"], "mask", colorbar=True)
        self.difference_view = ImageView(plots["mean adversarial − essential"], "difference", colorbar=True)
        self.cosine_plot = plots["cosine similarity"]
        self.cosine_bars = pg.BarGraphItem(x=[0], height=[0], width=0.05, brush="#4d4d4d")
        self.cosine_plot.addItem(self.cosine_bars)
        splitter.addWidget(self.pair_view)
        splitter.setSizes([160, 700])
        layout.addWidget(vertical_scroll(splitter, 2 * ROW_PX + AXIS_PX), 1)
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
        for image_id, cos in zip(c.ids, c.cosine):
            item = QListWidgetItem(f"{image_id}  ({cos:.2f})")
            item.setToolTip(f"{image_id}: cosine similarity {cos:.3f}")
            self.pair_list.addItem(item)
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
        self.heat_model = ElidingComboBox()
        compute = QPushButton("Compute heat map…")
        compute.clicked.connect(lambda: self.heatMapRequested.emit(self.heat_model.currentText()))
        self.heat_kind = QComboBox()
        self.heat_kind.addItems([TOP1, TOP5])
        self.heat_kind.setToolTip("top-5: the label is not among the model's five best guesses (more than 5 classes)")
        row.addWidget(QLabel("model"))
        row.addWidget(self.heat_model, 1)
        row.addWidget(self.heat_kind)
        row.addWidget(compute)
        layout.addLayout(row)
        self.heat_view_widget = pg.GraphicsLayoutWidget()
        heat_plot = self.heat_view_widget.addPlot(axisItems=readable_axes())
        compact_title(heat_plot, "error rate per Fourier basis")
        self.heat_view = ImageView(heat_plot, "heat", colorbar=True, frequency_axes=True)
        self.heat_empty = EmptyState(
            vertical_scroll(self.heat_view_widget, ROW_PX + AXIS_PX),
            buttons=(("Compute heat map…", self._request_heat_map),),
        )
        layout.addWidget(self.heat_empty, 1)
        self.heat: np.ndarray | None = None
        self.heat_top5: np.ndarray | None = None
        self.heat_stride = 1
        self.heat_model.currentTextChanged.connect(self._show_heat)
        self.heat_kind.currentTextChanged.connect(lambda _: self._show_heat(self.heat_model.currentText()))
        self.tabs.addTab(tab, "Fourier heat map")

    def _show_heat(self, model: str) -> None:
        store = self.workbench.store
        name = f"heat-map-{model}"
        if store is None or not model or not store.path(f"data/{name}.npz").exists():
            self.heat, self.heat_top5 = None, None
            self.heat_kind.setEnabled(False)
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
        self.heat_top5 = arrays.get("heat_top5")
        self.heat_stride = int(arrays["stride"]) if "stride" in arrays else 1
        self.heat_kind.setEnabled(self.heat_top5 is not None)
        if self.heat_top5 is None:
            blocked = self.heat_kind.blockSignals(True)
            self.heat_kind.setCurrentText(TOP1)
            self.heat_kind.blockSignals(blocked)
        top5 = self.heat_top5 is not None and self.heat_kind.currentText() == TOP5
        shown = self.heat_top5 if top5 else self.heat
        self.heat_view.show(
            shown,
            stored_mask=True,
            title=f"{model}: {'top-5' if top5 else 'top-1'} error under ±{self.heat_eps:g}·U_ij",
        )

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
        view = FittedTableView()
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
        # One row per non-linearity, sharing the x axes, whose values only the last row shows.
        self.shift_view = pg.GraphicsLayoutWidget()
        signals = list(blue_shift().signals)
        layout.addWidget(vertical_scroll(self.shift_view, len(signals) * ROW_PX + AXIS_PX), 1)
        self.shift_curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        firsts: list[pg.PlotItem] = []
        for k, name in enumerate(signals):
            row = []
            for col, title in enumerate((name if k else f"{name} (signal)", "" if k else "magnitude spectrum")):
                plot = self.shift_view.addPlot(row=k, col=col, axisItems=readable_axes())
                compact_title(plot, title)
                plot.setMenuEnabled(False)
                if k:
                    plot.setXLink(firsts[col])
                if k < len(signals) - 1:
                    plot.getAxis("bottom").setStyle(showValues=False)
                row.append(plot)
            if not k:
                firsts = row
            signal_plot, spectrum_plot = row
            spectrum_plot.setLogMode(y=True)
            spectrum_plot.setYRange(*SPECTRUM_RANGE, padding=0)
            curve = signal_plot.plot(pen=pg.mkPen("#2166ac", width=1.5))
            points = spectrum_plot.plot(pen=None, symbol="o", symbolSize=4, symbolBrush="#b2182b")
            self.shift_curves[name] = (curve, points)
        signal_plot.setLabel("bottom", "time (window)")
        spectrum_plot.setLabel("bottom", "frequency (cycles/window)")
        self.spectra_plot = firsts[1]  # every spectrum's x range follows it
        self.cycles.valueChanged.connect(self._draw_blue_shift)
        self.amplitude.valueChanged.connect(self._draw_blue_shift)
        self.tabs.addTab(tab, "Blue shift")
        self._draw_blue_shift()

    def _draw_blue_shift(self) -> None:
        self.shift = blue_shift(cycles=self.cycles.value(), amplitude=self.amplitude.value())
        limit = 12 * self.cycles.value()
        self.spectra_plot.setXRange(0, limit)
        for name, (curve, points) in self.shift_curves.items():
            curve.setData(self.shift.time, self.shift.signals[name])
            spectrum = self.shift.spectra[name][:limit]
            present = spectrum > 1e-7  # bins that are zero up to rounding are left out of the log plot
            points.setData(self.shift.frequencies[:limit][present], spectrum[present])

    # --- findings ----------------------------------------------------------------------------

    def _build_findings_tab(self) -> None:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 0, 0, 0)
        self.findings_model = TableModel()
        self.findings_view = FittedTableView()
        self.findings_view.setModel(self.findings_model)
        self.findings_notes = QLabel("")
        self.findings_notes.setWordWrap(True)
        self.findings_notes.setStyleSheet("color:#555;")
        layout.addWidget(self.findings_view, 1)
        layout.addWidget(self.findings_notes)
        self.findings_empty = EmptyState(tab, FINDINGS_TEXT)
        self.tabs.addTab(self.findings_empty, "Findings")

    # --- all ---------------------------------------------------------------------------------

    def _on_workbench_run_changed(self) -> None:
        """A run opened: its findings in front, when it has them (its most important result)."""
        self.refresh()
        if not self.findings_empty.is_empty:
            self.tabs.setCurrentIndex(FINDINGS)

    def refresh(self) -> None:
        comparisons = self._comparisons()
        refill_combo(self.attack_choice, comparisons)
        self._show_comparison(self.attack_choice.currentText())
        self.adversarial_empty.show_empty(not comparisons)
        refill_combo(self.heat_model, list(self.workbench.models), (self.workbench.current_model or "",))
        self._show_heat(self.heat_model.currentText())
        robustness = self.workbench.tables().get("robustness")
        self.robustness_model.set_table(robustness)
        self.robustness_empty.show_empty(robustness is None)
        findings = self.workbench.tables().get("findings")
        self.findings_model.set_table(findings)
        self.findings_notes.setText(findings.notes if findings else "")
        self.findings_empty.show_empty(findings is None)
        for tab in self.frequency_tabs:
            tab.refresh()
        computed = (
            bool(comparisons)
            or robustness is not None
            or self._any_heat_map()
            or findings is not None
            or any(tab.computed for tab in self.frequency_tabs)
        )
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
            "The main paper's findings, as measured in this run, beside the paper's figures",
        ] + [tab.status_text for tab in self.frequency_tabs]
        self.status.setText(texts[self.tabs.currentIndex()])

    def _frequency_tab(self) -> FrequencyTab | None:
        tab = self.tabs.currentWidget()
        return tab if isinstance(tab, FrequencyTab) else None

    def figures(self):
        tab = self.tabs.currentIndex()
        if (frequency := self._frequency_tab()) is not None:
            return frequency.figures()
        if tab == 0:
            return {"adversarial maps": lambda: adversarial_maps_figure(self.comparison) if self.comparison else None}
        if tab == 1:
            return {
                "heat map": lambda: (
                    heat_map_figure(
                        self.heat,
                        f"Fourier heat map ({self.heat_model.currentText()})",
                        self.heat_eps,
                        top5=self.heat_top5,
                        stride=self.heat_stride,
                    )
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
        if (frequency := self._frequency_tab()) is not None:
            return frequency.tables()
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
        if tab == FINDINGS:
            return {"findings": lambda: tables.get("findings")} if "findings" in tables else {}
        return {"blue shift": lambda: self.shift.table(self.cycles.value())}
