"""Convergence: how masks are learned, live while a job runs, and afterwards from the history
stored with every mask (per-image masks and set masks), with a replay of the mask converging."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QStyle, QToolButton

from fourier_masks.core.figures import convergence_figure
from fourier_masks.core.masks import MaskHistory
from fourier_masks.core.progress import Progress
from fourier_masks.core.tables import Table

from ..widgets import ImageView, refill_combo
from .base import Panel

__all__ = ["ConvergencePanel"]

CURVES = ("invariance", "kept fraction", "prediction kept / accuracy")
LIVE = "running job"
SELECTED = "selected image"
REPLAY_INTERVAL_MS = 350
SYMBOLS_UP_TO = 40


class ConvergencePanel(Panel):
    """The mask (centred spectrum, magma, 0–1 colour bar) beside curves of the invariance
    term, kept fraction and prediction kept (set masks: masked accuracy).

    *running job*: the masks being learned (per-image jobs: mean over the batch; set masks:
    per batch), redrawn from a timer only when something changed, so progress at any rate
    costs the GUI little. *selected image*, or a set mask: the history stored with the mask
    (thinned curves and snapshots), which the slider and Play button replay."""

    title = "Convergence"

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("show"))
        self.source = QComboBox()
        self.source.setToolTip("What to show: the running job, the image selected in the Images view, or a set mask")
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        controls.addWidget(self.source)
        self.play_button = QToolButton()
        self.play_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._show_play_button(playing=False)
        self.play_button.setToolTip("Replay the mask converging, snapshot by snapshot")
        controls.addWidget(self.play_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Mask snapshot shown")
        controls.addWidget(self.slider, 1)
        self.frame_label = QLabel("")
        controls.addWidget(self.frame_label)
        self.outer.addLayout(controls)

        self.view = pg.GraphicsLayoutWidget()
        self.mask = ImageView(self.view.addPlot(row=0, col=0, rowspan=3), "mask", colorbar=True, frequency_axes=True)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.markers: dict[str, pg.InfiniteLine] = {}
        for row, name in enumerate(CURVES):
            plot = self.view.addPlot(row=row, col=1)
            plot.setTitle(name, size="9pt")
            plot.showGrid(x=True, y=True, alpha=0.2)
            curve = plot.plot(pen=pg.mkPen("#2166ac", width=1.5))
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#b2182b", width=1, style=Qt.PenStyle.DashLine))
            marker.setVisible(False)
            plot.addItem(marker, ignoreBounds=True)
            self.plots[name], self.curves[name], self.markers[name] = plot, curve, marker
        self.view.ci.layout.setColumnStretchFactor(0, 3)
        self.view.ci.layout.setColumnStretchFactor(1, 2)
        self.outer.addWidget(self.view, 1)

        self.history: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CURVES}
        self.latest_mask: np.ndarray | None = None
        self.xlabel = "step"
        self.stored: MaskHistory | None = None  # the history shown when not following a job
        self.frames: list[tuple[int, np.ndarray]] = []  # (step, mask) to replay: snapshots, then the final mask
        self._dirty = False
        self._stage = ""
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self._replay = QTimer(self)
        self._replay.setInterval(REPLAY_INTERVAL_MS)
        self._replay.timeout.connect(self._on_replay_timeout)

        self.source.currentTextChanged.connect(self._on_source_changed)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.play_button.clicked.connect(self._on_play_button_clicked)
        workbench.runChanged.connect(self._fill_sources)
        workbench.contentsChanged.connect(self._fill_sources)
        workbench.selectionChanged.connect(self._on_workbench_selection_changed)
        self._fill_sources()

    # --- what is shown -----------------------------------------------------------------------

    def _fill_sources(self) -> None:
        contents = self.workbench.contents()
        sets = sorted(contents.dataset_masks.values()) if contents is not None else []
        live = [LIVE] if self.source.findText(LIVE) >= 0 else []
        refill_combo(self.source, [*live, SELECTED, *sets], (SELECTED,))
        self._show_source()

    def _on_source_changed(self, text: str) -> None:
        self._show_source()

    def _on_workbench_selection_changed(self, group: str, image_id: str) -> None:
        if self.source.currentText() != LIVE:
            self.source.setCurrentText(SELECTED)
            self._show_source()

    def _show_source(self) -> None:
        source = self.source.currentText()
        if source == LIVE:
            self._set_replay_enabled(False)
            return
        if source == SELECTED:
            selected = self.workbench.selected
            if selected is None:
                self._show_history(None, "Select an image in the Images view to see how its mask converged.")
                return
            group, image_id = selected
            history = self.workbench.mask_history(group, image_id)
            stored = self.workbench.group_masks(group)
            final = None
            if stored is not None and image_id in stored.ids:
                final = stored.masks[stored.ids.index(image_id)]
            self._show_history(history, f"{group} · {image_id}", final)
        else:
            history = self.workbench.mask_history(source, "")
            final = self.workbench.set_masks().get(self.workbench.group_meta(source).get("model", ""))
            self._show_history(history, source, final)

    def _show_history(self, history: MaskHistory | None, label: str, final: np.ndarray | None = None) -> None:
        """Draw a stored history (None: say why there is none) and set up its replay."""
        self._replay.stop()
        self.stored = history
        self.frames = []
        if history is None:
            for name in CURVES:
                self.history[name] = ([], [])
            self.latest_mask = final
            self.status.setText(
                label
                if final is None
                else f"{label}: no convergence history (masks made before histories were stored); final mask shown"
            )
        else:
            self.xlabel = history.unit
            steps = history.steps.astype(float)
            self.history = {
                "invariance": (list(steps), list(history.invariance.astype(float))),
                "kept fraction": (list(steps), list(history.kept_fraction.astype(float))),
                "prediction kept / accuracy": (list(steps), list(history.preserved.astype(float))),
            }
            self.frames = [(int(s), history.frame(k)) for k, s in enumerate(history.snapshot_steps)]
            if final is not None:
                self.frames.append((int(history.steps[-1]) if len(history) else 0, np.asarray(final, np.float32)))
            self.latest_mask = self.frames[-1][1] if self.frames else final
            last = f"{len(history)} points to {history.unit} {int(history.steps[-1])}" if len(history) else "empty"
            self.status.setText(f"{label}: {last}; drag the slider or press Replay to watch the mask converge")
        self._set_replay_enabled(len(self.frames) > 1)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.frames) - 1))
        self.slider.setValue(max(0, len(self.frames) - 1))
        self.slider.blockSignals(False)
        self._show_frame(len(self.frames) - 1)
        self._dirty = True

    def _set_replay_enabled(self, enabled: bool) -> None:
        self.play_button.setEnabled(enabled)
        self.slider.setEnabled(enabled)
        if not enabled:
            self._replay.stop()
            self._show_play_button(playing=False)
            self.frame_label.setText("")
            for marker in self.markers.values():
                marker.setVisible(False)

    # --- replay ------------------------------------------------------------------------------

    def _show_frame(self, k: int) -> None:
        if not 0 <= k < len(self.frames):
            return
        step, mask = self.frames[k]
        self.latest_mask = mask
        self.frame_label.setText(f"{self.xlabel} {step}")
        for marker in self.markers.values():
            marker.setValue(step)
            marker.setVisible(True)
        self._dirty = True

    def _on_slider_value_changed(self, k: int) -> None:
        self._show_frame(k)

    def _show_play_button(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.setText("Pause" if playing else "Replay")

    def _on_play_button_clicked(self) -> None:
        if self._replay.isActive():
            self._replay.stop()
            self._show_play_button(playing=False)
            return
        if self.slider.value() >= self.slider.maximum():
            self.slider.setValue(0)
        self._show_play_button(playing=True)
        self._replay.start()

    def _on_replay_timeout(self) -> None:
        self.slider.setValue(min(self.slider.value() + 1, self.slider.maximum()))
        if self.slider.value() >= self.slider.maximum():
            self._replay.stop()
            self._show_play_button(playing=False)

    # --- a running job -----------------------------------------------------------------------

    def reset(self) -> None:
        """A job starts: follow it."""
        for name in CURVES:
            self.history[name] = ([], [])
        self.latest_mask = None
        self.mask.clear()
        self._stage = ""
        self._dirty = True

    def job_ended(self) -> None:
        """The job ended: go back to the stored history of the selection."""
        if self.source.findText(LIVE) >= 0:
            self.source.blockSignals(True)
            self.source.removeItem(self.source.findText(LIVE))
            self.source.setCurrentText(SELECTED)
            self.source.blockSignals(False)
            if self.workbench.selected is not None:
                self._show_source()

    def on_progress(self, event: Progress) -> None:
        """Called on the GUI thread with each (throttled) progress event of a job."""
        payload = event.payload
        if "masks" not in payload and "mask" not in payload:
            return
        if self.source.currentText() != LIVE:
            self.source.blockSignals(True)
            if self.source.findText(LIVE) < 0:
                self.source.insertItem(0, LIVE)
            self.source.setCurrentText(LIVE)
            self.source.blockSignals(False)
            self._set_replay_enabled(False)
            self.reset()
        if event.stage != self._stage and event.stage not in ("study", "report"):
            self.reset()
            self._stage = event.stage
        if "masks" in payload and len(payload["masks"]):
            x = float(payload.get("batch_steps", event.done))
            self.xlabel = "batch step"
            self.latest_mask = payload["masks"][0]
            self._append("invariance", x, float(np.mean(payload["invariance"])))
            self._append("kept fraction", x, float(np.mean(payload["kept_fraction"])))
            self._append("prediction kept / accuracy", x, float(np.mean(payload["prediction_kept"])))
            first = payload["ids"][0]
            self.status.setText(f"{event.stage}: {event.message} · showing {first} (step {int(payload['steps'][0])})")
            self._dirty = True
        elif "mask" in payload:
            x = float(event.done)
            self.xlabel = "batch"
            self.latest_mask = payload["mask"]
            if "masked_accuracy" in payload:
                self._append("prediction kept / accuracy", x, float(payload["masked_accuracy"]))
            else:
                self._append("invariance", x, float(payload["invariance"]))
                self._append("kept fraction", x, float(payload["kept_fraction"]))
            self.status.setText(f"{event.stage}: {event.message}")
            self._dirty = True

    def _append(self, name: str, x: float, y: float) -> None:
        xs, ys = self.history[name]
        xs.append(x)
        ys.append(y)

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self.latest_mask is not None:
            self.mask.show(self.latest_mask, stored_mask=True)
        else:
            self.mask.clear()
        for name, (xs, ys) in self.history.items():
            few = len(xs) <= SYMBOLS_UP_TO  # a short history reads better as dots on the line
            self.curves[name].setData(np.asarray(xs), np.asarray(ys), symbol="o" if few else None, symbolSize=5)
            self.plots[name].setLabel("bottom", self.xlabel)

    # --- export ------------------------------------------------------------------------------

    def figures(self):
        return {"mask convergence": self.figure}

    def tables(self):
        return {"convergence curves": self.table}

    def figure(self):
        if self.latest_mask is None and not any(xs for xs, _ in self.history.values()):
            return None
        curves = {name: data for name, data in self.history.items() if data[0]}
        title = self._stage if self.source.currentText() == LIVE else self.status.text().split(":")[0]
        return convergence_figure(self.latest_mask, curves, xlabel=self.xlabel, title=title)

    def table(self) -> Table | None:
        rows = [(name, x, y) for name, (xs, ys) in self.history.items() for x, y in zip(xs, ys)]
        if not rows:
            return None
        table = Table.build(
            "convergence", "Mask convergence curves", [("curve", ""), (self.xlabel, "count"), ("value", "1")]
        )
        for row in rows:
            table.add_row(*row)
        return table
