"""The Analyses view's frequency-robustness tabs: cutoff sweeps, the gradient spectrum, common
corruptions, layer spectra and the zoo profile, each read back from the run (its tables and
``data/*.npz`` arrays, as :mod:`fourier_masks.core.beyond.analyses` saves them).

Each tab is a small view with the same face for :class:`~.analyses.AnalysesPanel`:
``refresh()`` rereads the run, ``computed`` says whether it has something to show,
``figures()``/``tables()`` feed the panel's export menus and ``status_text`` its header. Plot
items are made once and updated with ``setData``/``setImage``; only a change of what there
is to draw (another set of models or corruptions) adds or removes items."""

from __future__ import annotations

import html
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from fourier_masks.core.errors import FourierMasksError
from fourier_masks.core.figures import (
    corruptions_figure,
    cutoff_sweep_figure,
    layer_spectra_figure,
    profile_figure,
    sensitivity_figure,
)
from fourier_masks.core.spectra import centred
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
from ..workbench import Workbench
from .base import EmptyState, vertical_scroll
from .clusters import COLOURS
from .tables import FittedTableView, TableModel

__all__ = [
    "CorruptionsTab",
    "CutoffSweepTab",
    "FrequencyTab",
    "LayerSpectraTab",
    "ProfileTab",
    "SensitivityTab",
    "stored_arrays",
    "stored_sweeps",
    "stored_sensitivities",
]

ROW_PX = MIN_DATA_PX + TITLE_PX + 20
CHART_PX = TITLE_PX + 2 * MIN_DATA_PX + AXIS_PX + 20  # a chart with room for a legend inside
MAX_CHANNELS = 3  # gradient maps shown per channel (images are grey or RGB)
CORRUPTION_COLUMNS = 3
DASHES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)


def colour(k: int) -> str:
    return COLOURS[k % len(COLOURS)]


def stored_arrays(workbench: Workbench, name: str) -> dict[str, np.ndarray] | None:
    """The run's arrays ``data/<name>.npz``, or None when it has none; a damaged file is named
    once (the run is then read-only) and read as none."""
    store = workbench.store
    if store is None or not store.path(f"data/{name}.npz").exists():
        return None
    try:
        return store.load_arrays(name)
    except FourierMasksError as exc:
        workbench.note_damage(f"data/{name}.npz", str(exc))
        return None


def _models_with(workbench: Workbench, prefix: str) -> list[str]:
    return sorted(name.removeprefix(prefix) for name in workbench.tables() if name.startswith(prefix))


def stored_sweeps(workbench: Workbench, models: list[str] | None = None) -> dict[str, SimpleNamespace]:
    """Each model's cutoff sweep in the run (only ``models`` when given), shaped like
    :class:`~fourier_masks.core.beyond.CutoffSweepResult` for the figures."""
    return _stored(
        workbench,
        "cutoff-sweep-",
        models,
        lambda arrays: SimpleNamespace(
            radii=tuple(float(r) for r in arrays["radii"]),
            eps=tuple(float(e) for e in arrays["eps"]),
            unfiltered=arrays["unfiltered"],
            accuracy={"low": arrays["low"], "high": arrays["high"]},
            halving={"low": arrays["halving_low"], "high": arrays["halving_high"]},
        ),
    )


def stored_sensitivities(workbench: Workbench, models: list[str] | None = None) -> dict[str, SimpleNamespace]:
    """Each model's input-gradient spectrum in the run, shaped like
    :class:`~fourier_masks.core.beyond.SensitivityResult` for the figures."""
    return _stored(
        workbench,
        "sensitivity-",
        models,
        lambda arrays: SimpleNamespace(
            mean=arrays["mean"],
            std=arrays["std"],
            profile=arrays["profile"],
            profile_std=arrays["profile_std"],
            edges=arrays["edges"],
            high_frequency_share=float(arrays["high_frequency_share"]),
            cutoff=float(arrays["cutoff"]) if "cutoff" in arrays else 0.5,
        ),
    )


def _stored(workbench: Workbench, prefix: str, models: list[str] | None, shape) -> dict[str, SimpleNamespace]:
    """``shape(arrays)`` of each model's ``data/<prefix><model>.npz`` in the run (of ``models``)."""
    found = {}
    for name in _models_with(workbench, prefix):
        if models is not None and name not in models:
            continue
        arrays = stored_arrays(workbench, f"{prefix}{name}")
        if arrays is not None:
            found[name] = shape(arrays)
    return found


def _halving(value: float) -> str:
    return f"½ at {value:.2f}" if np.isfinite(value) else "never halves"


def _numbers(table: Table, column: str) -> np.ndarray:
    return np.array([v if isinstance(v, (int, float)) else np.nan for v in table.column(column)], dtype=float)


class FrequencyTab(QWidget):
    """A tab: a row with (for per-model analyses) a model choice and the compute button, above
    its content or, while the run has nothing for it, a text saying what it shows."""

    title = ""
    status_text = ""
    button_text = ""
    empty_text = ""
    per_model = False

    def __init__(self, workbench: Workbench, request: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workbench = workbench
        self._request = request
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.model_choice = ElidingComboBox()
        if self.per_model:
            row.addWidget(QLabel("model"))
            row.addWidget(self.model_choice, 1)
        else:
            self.model_choice.hide()
            self.note = QLabel("")
            self.note.setWordWrap(True)
            self.note.setStyleSheet("color:#555;")
            row.addWidget(self.note, 1)
        self.compute = QPushButton(self.button_text)
        self.compute.clicked.connect(self.request)
        row.addWidget(self.compute)
        layout.addLayout(row)
        self.empty = EmptyState(self.build(), self.empty_text, ((self.button_text, self.request),))
        layout.addWidget(self.empty, 1)
        self.model_choice.currentTextChanged.connect(lambda _: self.show_model())

    def request(self) -> None:
        self._request(self.model_choice.currentText() or self.workbench.current_model or "")

    # --- to implement ------------------------------------------------------------------------

    def build(self) -> QWidget:
        raise NotImplementedError

    def refresh(self) -> None:
        """Reread the run; per-model tabs refill their model choice and show its model."""
        if self.per_model:
            prefix = self.table_name("")
            names = sorted(set(self.workbench.models) | set(_models_with(self.workbench, prefix)))
            refill_combo(self.model_choice, names, (self.workbench.current_model or "",))
        self.show_model()

    def show_model(self) -> None:
        raise NotImplementedError

    @property
    def computed(self) -> bool:
        return not self.empty.is_empty

    def table_name(self, model: str) -> str:
        return ""

    def figures(self) -> dict[str, Callable[[], object]]:
        return {}

    def tables(self) -> dict[str, Callable[[], Table | None]]:
        tables = self.workbench.tables()
        names = [name for name in self.table_names() if name in tables]
        return {name: (lambda name=name: self.workbench.tables().get(name)) for name in names}

    def table_names(self) -> list[str]:
        return []


class CutoffSweepTab(FrequencyTab):
    """Accuracy against the cutoff radius, low-pass (left) and high-pass (right), one curve per
    model (and ε, dashed beyond the first), its halving radius in the legend."""

    title = "Cutoff sweep"
    status_text = "Accuracy on low- and high-pass filtered images against the cutoff radius (× Nyquist)"
    button_text = "Sweep the cutoff…"
    empty_text = (
        "<p><b>No cutoff sweep yet.</b></p><p>Accuracy of each model on low-pass and high-pass filtered images, "
        "for cutoff radii from the zero frequency to the corners; where accuracy halves summarises how much "
        "each model relies on low or high frequencies.</p>"
    )

    def build(self) -> QWidget:
        self.view = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        for col, kind in enumerate(("low", "high")):
            plot = self.view.addPlot(row=0, col=col, axisItems=readable_axes())
            compact_title(plot, f"{kind}-pass: keep radius {'≤' if kind == 'low' else '>'} r")
            plot.setLabel("bottom", "cutoff radius r (× Nyquist)")
            plot.setYRange(0, 100)
            plot.setMenuEnabled(False)
            if col:
                plot.setYLink(self.plots["low"])
            else:
                plot.setLabel("left", "accuracy (%)")
            self.plots[kind] = plot
            self.legends[kind] = plot.addLegend(offset=(-4, 4), labelTextSize="7pt", verSpacing=-6)
        self.curves: dict[tuple[str, int, str], pg.PlotDataItem] = {}
        self.sweeps: dict[str, SimpleNamespace] = {}
        return vertical_scroll(self.view, CHART_PX)

    def show_model(self) -> None:
        self.sweeps = stored_sweeps(self.workbench)
        wanted = {(name, e, kind) for name, s in self.sweeps.items() for e in range(len(s.eps)) for kind in self.plots}
        for key in set(self.curves) - wanted:
            self.plots[key[2]].removeItem(self.curves.pop(key))
        for legend in self.legends.values():
            legend.clear()
        for k, (name, sweep) in enumerate(self.sweeps.items()):
            for e, eps in enumerate(sweep.eps):
                for kind, plot in self.plots.items():
                    curve = self.curves.get((name, e, kind))
                    if curve is None:
                        pen = pg.mkPen(colour(k), width=2, style=DASHES[e % len(DASHES)])
                        curve = plot.plot(pen=pen, symbol="o", symbolSize=4, symbolBrush=colour(k))
                        self.curves[(name, e, kind)] = curve
                    curve.setData(np.asarray(sweep.radii), 100 * np.asarray(sweep.accuracy[kind][e], dtype=float))
                    label = name + (f", ε = {eps:g}" if len(sweep.eps) > 1 else "")
                    self.legends[kind].addItem(curve, f"{label} ({_halving(float(sweep.halving[kind][e]))})")
        self.empty.show_empty(not self.sweeps)
        self.note.setText(
            "unfiltered accuracy: "
            + ", ".join(f"{html.escape(n)} {100 * float(s.unfiltered[0]):.1f} %" for n, s in self.sweeps.items())
            if self.sweeps
            else ""
        )

    def figures(self):
        return {"cutoff sweep": lambda: cutoff_sweep_figure(self.sweeps) if self.sweeps else None}

    def table_names(self) -> list[str]:
        return [f"{kind}-{name}" for name in self.sweeps for kind in ("cutoff-sweep", "cutoff-halving")]


class SensitivityTab(FrequencyTab):
    """The centred mean magnitude of the input gradient's spectrum per channel and its radial
    profile per channel with the spread over images as a band."""

    title = "Gradient spectrum"
    status_text = "Where in frequency the model's loss is sensitive: the spectrum of its input gradients"
    button_text = "Compute the gradient spectrum…"
    empty_text = (
        "<p><b>No gradient spectrum yet.</b></p><p>The Fourier spectrum of the model's input gradients shows "
        "the frequencies its decisions are most sensitive to, per channel, with its radial profile.</p>"
    )
    per_model = True

    def table_name(self, model: str) -> str:
        return f"sensitivity-{model}"

    def build(self) -> QWidget:
        self.view = pg.GraphicsLayoutWidget()
        self.maps: list[ImageView] = []
        for c in range(MAX_CHANNELS):
            plot = self.view.addPlot(row=0, col=c, axisItems=readable_axes())
            compact_title(plot, f"channel {c}")
            self.maps.append(ImageView(plot, "spectrum", colorbar=False, frequency_axes=True))
        self.profile_plot = self.view.addPlot(row=0, col=MAX_CHANNELS, axisItems=readable_axes())
        self.profile_plot.setLabel("bottom", "radius (× Nyquist)")
        self.profile_plot.setMenuEnabled(False)
        self.legend = self.profile_plot.addLegend(offset=(-4, 4), labelTextSize="7pt", verSpacing=-6)
        self.profile_plot.setLabel("left", "|F(∂ℓ/∂x)|")
        self.profiles: list[tuple[pg.PlotDataItem, pg.PlotCurveItem, pg.PlotCurveItem]] = []
        self.bands: list[pg.FillBetweenItem] = []
        for c in range(MAX_CHANNELS):
            pen = pg.mkPen(colour(c), width=2)
            mean = self.profile_plot.plot(pen=pen, name=f"channel {c}")
            # Plain curves (a PlotDataItem without a pen keeps no path) bounding the spread band.
            low, high = pg.PlotCurveItem(), pg.PlotCurveItem()
            shade = pg.mkColor(colour(c))
            shade.setAlpha(60)
            band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(shade))
            band.setZValue(-10)
            self.profile_plot.addItem(band)
            self.profiles.append((mean, low, high))
            self.bands.append(band)
        self.cutoff_line = self.profile_plot.addLine(x=0.5, pen=pg.mkPen("#888", style=Qt.PenStyle.DotLine))
        self.result: SimpleNamespace | None = None
        return vertical_scroll(self.view, ROW_PX + AXIS_PX)

    def show_model(self) -> None:
        model = self.model_choice.currentText()
        found = stored_sensitivities(self.workbench, [model]) if model else {}
        self.result = found.get(model)
        self.empty.show_empty(
            self.result is None,
            f"<p><b>No gradient spectrum of {html.escape(model)} yet.</b></p>" + self.empty_text.split("</p>", 1)[1]
            if model
            else self.empty_text,
        )
        r = self.result
        if r is None:
            return
        channels = min(r.mean.shape[0], MAX_CHANNELS)
        top = float(np.max(r.mean)) or 1.0
        radii = 0.5 * (r.edges[:-1] + r.edges[1:])
        self.legend.clear()
        for c, view in enumerate(self.maps):
            shown = c < channels
            view.plot.setVisible(shown)
            mean, low, high = self.profiles[c]
            for item in (mean, self.bands[c]):
                item.setVisible(shown)
            if not shown:
                continue
            view.levels = (0.0, top)
            view.show(centred(r.mean[c]), title=f"channel {c}" if channels > 1 else "|F(∂ℓ/∂x)|")
            mean.setData(radii, r.profile[c])
            low.setData(radii, r.profile[c] - r.profile_std[c])
            high.setData(radii, r.profile[c] + r.profile_std[c])
            self.legend.addItem(mean, f"channel {c}")
        self.cutoff_line.setValue(r.cutoff)
        compact_title(self.profile_plot, f"radial profile; high-frequency share {100 * r.high_frequency_share:.1f} %")

    def figures(self):
        model = self.model_choice.currentText()
        return {
            "gradient spectrum": lambda: (
                sensitivity_figure(self.result, f"Input-gradient spectrum ({model})") if self.result else None
            )
        }

    def table_names(self) -> list[str]:
        return [self.table_name(self.model_choice.currentText())]


class CorruptionsTab(FrequencyTab):
    """Accuracy against severity, one plot per corruption (its spectral centroid in the
    title), one line per model; below, each model's clean and mean corruption accuracy and mCE."""

    title = "Corruptions"
    status_text = "Accuracy under common corruptions (Hendrycks and Dietterich) and each model's mCE"
    button_text = "Measure corruptions…"
    empty_text = (
        "<p><b>No corruptions measured yet.</b></p><p>Accuracy of each model under noise, blur, weather and "
        "digital corruptions at five severities, the mean corruption error (mCE) against a reference model, "
        "and where in frequency each corruption changes the images.</p>"
    )

    def build(self) -> QWidget:
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.view = pg.GraphicsLayoutWidget()
        self.scroll = vertical_scroll(self.view, ROW_PX + AXIS_PX)
        self.summary_model = TableModel()
        summary = FittedTableView()
        summary.setModel(self.summary_model)
        summary.setMinimumHeight(70)
        splitter.addWidget(self.scroll)
        splitter.addWidget(summary)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.result: SimpleNamespace | None = None
        return splitter

    def _layout(self, corruptions: list[str]) -> None:
        """One plot per corruption, made again only when the corruptions differ."""
        if list(self.plots) == corruptions:
            return
        self.view.clear()
        self.plots, self.curves = {}, {}
        for k, corruption in enumerate(corruptions):
            plot = self.view.addPlot(row=k // CORRUPTION_COLUMNS, col=k % CORRUPTION_COLUMNS, axisItems=readable_axes())
            plot.setYRange(0, 100)
            plot.setMenuEnabled(False)
            if k:
                plot.setYLink(self.plots[corruptions[0]])
            self.plots[corruption] = plot
        rows = -(-len(corruptions) // CORRUPTION_COLUMNS)
        self.view.setMinimumHeight(rows * ROW_PX + AXIS_PX)

    def show_model(self) -> None:
        tables = self.workbench.tables()
        accuracy_table, spectra, summary = (
            tables.get("corruptions"),
            tables.get("corruption-spectra"),
            tables.get("corruption-summary"),
        )
        self.summary_model.set_table(summary)
        self.empty.show_empty(accuracy_table is None)
        if accuracy_table is None:
            self.result = None
            return
        models = list(dict.fromkeys(accuracy_table.column("model")))
        corruptions = list(dict.fromkeys(accuracy_table.column("corruption")))
        severities = _numbers(accuracy_table, "severity").astype(int)
        values = _numbers(accuracy_table, "accuracy") / 100
        accuracy = {
            (m, c, int(s)): float(v)
            for m, c, s, v in zip(
                accuracy_table.column("model"), accuracy_table.column("corruption"), severities, values
            )
        }
        centroid = {}
        if spectra is not None:
            for c, s, v in zip(
                spectra.column("corruption"), _numbers(spectra, "severity"), _numbers(spectra, "spectral centroid")
            ):
                centroid[(c, int(s))] = float(v)
        clean = {}
        if summary is not None:
            clean = dict(zip(summary.column("model"), _numbers(summary, "clean accuracy") / 100))
        self.result = SimpleNamespace(
            accuracy=accuracy, clean_accuracy={m: clean.get(m, np.nan) for m in models}, centroid=centroid
        )
        levels = sorted(set(severities.tolist()))
        self._layout(corruptions)
        for k, model in enumerate(models):
            for corruption, plot in self.plots.items():
                curve = self.curves.get((model, corruption))
                if curve is None:
                    curve = plot.plot(pen=pg.mkPen(colour(k), width=2), symbol="o", symbolSize=4, symbolBrush=colour(k))
                    self.curves[(model, corruption)] = curve
                curve.setData(levels, [100 * accuracy.get((model, corruption, s), np.nan) for s in levels])
        for key in [key for key in self.curves if key[0] not in models]:
            self.plots[key[1]].removeItem(self.curves.pop(key))
        for corruption, plot in self.plots.items():
            centroids = [centroid.get((corruption, s), np.nan) for s in levels]
            shown = f" · centroid {np.nanmean(centroids):.2f}" if np.isfinite(centroids).any() else ""
            compact_title(plot, corruption.replace("_", " ") + shown)
            plot.getAxis("bottom").setTicks([[(s, str(s)) for s in levels]])
        self.note.setText(
            "models: "
            + " ".join(f"<span style='color:{colour(k)}'>━━</span>&nbsp;{html.escape(m)}" for k, m in enumerate(models))
            + "; x: severity, y: accuracy (%), centroid of the change in × Nyquist"
        )

    def figures(self):
        return {"corruptions": lambda: corruptions_figure(self.result) if self.result else None}

    def table_names(self) -> list[str]:
        return ["corruptions", "corruption-summary", "corruption-errors", "corruption-spectra"]


class LayerSpectraTab(FrequencyTab):
    """Each stage's high-minus-low Δ log amplitude of its feature maps (Park and Kim), with the
    table beside it."""

    title = "Layer spectra"
    status_text = "How much high frequency each stage's feature maps keep (Δ log amplitude, Park and Kim)"
    button_text = "Compute layer spectra…"
    empty_text = (
        "<p><b>No layer spectra yet.</b></p><p>The log amplitude of each stage's feature maps at Nyquist "
        "relative to the zero frequency: which stages pass or suppress high frequencies (Park and Kim).</p>"
    )
    per_model = True

    def table_name(self, model: str) -> str:
        return f"layer-spectra-{model}"

    def build(self) -> QWidget:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self.plot_widget = pg.PlotWidget(axisItems=readable_axes())
        self.plot = self.plot_widget.getPlotItem()
        compact_title(self.plot, "Δ log amplitude at Nyquist per stage")
        self.plot.setMenuEnabled(False)
        self.plot.addLine(y=0, pen=pg.mkPen("#888"))
        self.curve = self.plot.plot(pen=pg.mkPen("#2166ac", width=2), symbol="o", symbolSize=6, symbolBrush="#2166ac")
        self.plot_widget.setMinimumHeight(CHART_PX)
        self.table_model = TableModel()
        table = FittedTableView()
        table.setModel(self.table_model)
        splitter.addWidget(self.plot_widget)
        splitter.addWidget(table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.table: Table | None = None
        return splitter

    def show_model(self) -> None:
        model = self.model_choice.currentText()
        self.table = self.workbench.tables().get(self.table_name(model)) if model else None
        self.table_model.set_table(self.table)
        self.empty.show_empty(
            self.table is None,
            f"<p><b>No layer spectra of {html.escape(model)} yet.</b></p>" + self.empty_text.split("</p>", 1)[1]
            if model
            else self.empty_text,
        )
        if self.table is None:
            return
        deltas = _numbers(self.table, "Δ log amplitude")
        stages = [str(s) for s in self.table.column("stage")]
        self.curve.setData(np.arange(len(stages)), deltas)
        self.plot.getAxis("bottom").setTicks([list(enumerate(stages))])
        self.plot.setXRange(-0.5, len(stages) - 0.5, padding=0)

    def figures(self):
        def build():
            if self.table is None:
                return None
            arrays = stored_arrays(self.workbench, self.table_name(self.model_choice.currentText()))
            if arrays is None:  # saved before the profiles were kept: Δ per stage only
                stages = tuple(
                    SimpleNamespace(name=str(s), radii=np.zeros(0), profile=np.zeros(0), delta=float(d))
                    for s, d in zip(self.table.column("stage"), _numbers(self.table, "Δ log amplitude"))
                )
            else:
                stages = tuple(
                    SimpleNamespace(name=str(n), radii=r[np.isfinite(r)], profile=p[np.isfinite(p)], delta=float(d))
                    for n, r, p, d in zip(arrays["stages"], arrays["radii"], arrays["profiles"], arrays["delta"])
                )
            result = SimpleNamespace(stages=stages)
            return layer_spectra_figure(result, f"Feature-map spectra ({self.model_choice.currentText()})")

        return {"layer spectra": build}

    def table_names(self) -> list[str]:
        return [self.table_name(self.model_choice.currentText())]


class ProfileTab(FrequencyTab):
    """The zoo table (one row per model) above its rank-correlation table."""

    title = "Profile"
    status_text = "The zoo profile: each model's robustness and frequency measures, and their rank correlations"
    button_text = "Profile models…"
    empty_text = (
        "<p><b>No profile yet.</b></p><p>One table for the run's models: clean, PGD and corruption accuracy, "
        "mCE, the dataset mask's kept fraction and centroid, the heat map's error, the gradient's high-frequency "
        "share and the cutoff halving radii, with Spearman correlations between them.</p>"
    )

    def build(self) -> QWidget:
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.profile_model = TableModel()
        self.correlation_model = TableModel()
        for model in (self.profile_model, self.correlation_model):
            view = FittedTableView()
            view.setModel(model)
            view.setMinimumHeight(70)
            splitter.addWidget(view)
        return splitter

    def show_model(self) -> None:
        tables = self.workbench.tables()
        self.profile_model.set_table(tables.get("profile"))
        self.correlation_model.set_table(tables.get("profile-correlations"))
        profile = tables.get("profile")
        self.empty.show_empty(profile is None)
        notes = profile.notes if profile is not None and profile.notes else ""
        # The first sentence on show (the notes fill a paragraph); all of them on hover.
        self.note.setText(notes.split(". ", 1)[0].rstrip(".") + (". (Hover for the notes.)" if ". " in notes else ""))
        self.note.setToolTip(notes)

    def figures(self):
        tables = self.workbench.tables()

        def build():
            profile, correlations = tables.get("profile"), tables.get("profile-correlations")
            return profile_figure(profile, correlations) if profile is not None and correlations is not None else None

        return {"profile": build}

    def table_names(self) -> list[str]:
        return ["profile", "profile-correlations"]
