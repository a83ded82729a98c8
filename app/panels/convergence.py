"""Convergence: how masks are learned, live while a job runs, and afterwards from the history
stored with every mask (per-image masks and set masks), with a replay of the mask converging;
while a model trains, its loss and accuracy curves."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QStackedWidget, QStyle, QToolButton

from fourier_masks.core.figures import convergence_figure
from fourier_masks.core.masks import MaskHistory
from fourier_masks.core.progress import Progress
from fourier_masks.core.tables import Table

from ..widgets import AXIS_PX, MIN_DATA_PX, TITLE_PX, ImageView, compact_title, readable_axes, refill_combo
from .base import Panel, vertical_scroll

__all__ = ["ConvergencePanel"]

CURVES = ("invariance", "kept fraction", "prediction kept / accuracy")
# A model in training: each plot's curves (training's per batch, smoothed; validation's at each
# epoch's end), against epochs. Each batch weighs SMOOTHING in the training curves (about the
# last ten batches show), which are noisy batch by batch.
SMOOTHING = 0.1
TRAINING_PLOTS = {"loss": ("train loss", "validation loss"), "accuracy": ("train accuracy", "validation accuracy")}
TRAINING_CURVES = tuple(name for names in TRAINING_PLOTS.values() for name in names)
TRAIN_PEN, VALIDATION_PEN = "#2166ac", "#b2182b"
LIVE = "running job"
SELECTED = "selected image"
REPLAY_INTERVAL_MS = 350
# How often live curves are redrawn: a repaint of the mask and its curves costs ~50 ms of the
# GUI thread on a CPU (axes regenerated as the ranges move); at 20 Hz that took most of a core
# from the job and made the quick demo take 763 s in the app against 342 s headless (measured
# with benchmarks/demo_app.py and benchmarks/eta_error.py). Twice a second still reads as live.
LIVE_REDRAW_MS = 500
SYMBOLS_UP_TO = 40


class ConvergencePanel(Panel):
    """The mask (centred spectrum, magma, 0–1 colour bar) beside curves of the invariance
    term, kept fraction and prediction kept (set masks: masked accuracy).

    *running job*: the masks being learned (per-image jobs: mean over the batch; set masks:
    per batch), redrawn from a timer only when something changed, so progress at any rate
    costs the GUI little; while a model trains (a study's first minutes), its training and
    validation loss and accuracy per epoch instead, until masks are learned again.
    *selected image*, or a set mask: the history stored with the mask (thinned curves and
    snapshots), which the slider and Play button replay."""

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
            plot = self.view.addPlot(row=row, col=1, axisItems=readable_axes())
            compact_title(plot, name)
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
        self.training_view = pg.GraphicsLayoutWidget()
        self.training_plots: dict[str, pg.PlotItem] = {}
        self.training_curves: dict[str, pg.PlotDataItem] = {}
        for col, (title, (train, validation)) in enumerate(TRAINING_PLOTS.items()):
            plot = self.training_view.addPlot(row=0, col=col, axisItems=readable_axes())
            compact_title(plot, title)
            plot.setLabel("bottom", "epoch")  # no grid: it makes each redraw several times dearer
            plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
            self.training_curves[train] = plot.plot(pen=pg.mkPen(TRAIN_PEN, width=1.5), name="train")
            self.training_curves[train].setDownsampling(auto=True, method="peak")
            self.training_curves[train].setClipToView(True)
            self.training_curves[validation] = plot.plot(
                pen=pg.mkPen(VALIDATION_PEN, width=1.5),
                symbol="o",
                symbolSize=5,
                symbolBrush=VALIDATION_PEN,
                name="validation",
            )
            self.training_plots[title] = plot
        self.stack = QStackedWidget()
        # Three curves one above the other, each with its title and (the lowest) its axis label:
        # in a short dock they scroll rather than shrink below what can be read.
        self.mask_page = vertical_scroll(self.view, len(CURVES) * (MIN_DATA_PX + TITLE_PX + 30) + AXIS_PX)
        self.stack.addWidget(self.mask_page)
        self.stack.addWidget(self.training_view)
        self.outer.addWidget(self.stack, 1)

        self.history: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CURVES + TRAINING_CURVES}
        self.mode = "masks"  # or "training": which curves the view shows
        self.latest_mask: np.ndarray | None = None
        self.xlabel = "step"
        self.stored: MaskHistory | None = None  # the history shown when not following a job
        self.frames: list[tuple[int, np.ndarray]] = []  # (step, mask) to replay: snapshots, then the final mask
        self._dirty = False
        self._stage = ""
        self._done = 0.0  # the running job's last count: a lower one is the next job
        self._smoothed: dict[str, float] = {}  # the training curves' moving averages
        self._live_status = ""  # the running job's latest news, shown at the next redraw
        self._timer = QTimer(self)
        self._timer.setInterval(LIVE_REDRAW_MS)
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
        self._set_mode("masks")
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
            self.history.update(
                {
                    "invariance": (list(steps), list(history.invariance.astype(float))),
                    "kept fraction": (list(steps), list(history.kept_fraction.astype(float))),
                    "prediction kept / accuracy": (list(steps), list(history.preserved.astype(float))),
                }
            )
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
        for name in self.history:
            self.history[name] = ([], [])
        self.latest_mask = None
        self.mask.clear()
        self._stage, self._done = "", 0.0
        self._smoothed = {}
        self._dirty = True

    def _set_mode(self, mode: str) -> None:
        """Show the mask curves (``masks``) or a model's training curves (``training``)."""
        if mode == self.mode:
            return
        self.mode = mode
        self.stack.setCurrentWidget(self.training_view if mode == "training" else self.mask_page)
        if mode == "training":
            self.xlabel = "epoch"
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
        training = "train_loss" in payload or "val_loss" in payload
        if not training and "masks" not in payload and "mask" not in payload:
            return
        if self.source.currentText() != LIVE:
            self.source.blockSignals(True)
            if self.source.findText(LIVE) < 0:
                self.source.insertItem(0, LIVE)
            self.source.setCurrentText(LIVE)
            self.source.blockSignals(False)
            self._set_replay_enabled(False)
            self.reset()
        if event.stage not in ("study", "report") and (event.stage != self._stage or event.done < self._done):
            self.reset()
            self._stage = event.stage
        self._done = event.done
        if training:
            self._on_training_progress(event)
            return
        self._set_mode("masks")
        if "masks" in payload and len(payload["masks"]):
            x = float(payload.get("batch_steps", event.done))
            self.xlabel = "batch step"
            self.latest_mask = payload["masks"][0]
            self._append("invariance", x, float(np.mean(payload["invariance"])))
            self._append("kept fraction", x, float(np.mean(payload["kept_fraction"])))
            self._append("prediction kept / accuracy", x, float(np.mean(payload["prediction_kept"])))
            first = payload["ids"][0]
            self._live_status = f"{event.stage}: {event.message} · showing {first} (step {int(payload['steps'][0])})"
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
            self._live_status = f"{event.stage}: {event.message}"
            self._dirty = True

    def _on_training_progress(self, event: Progress) -> None:
        """A model in training: its loss and accuracy batch by batch (a moving average), and
        the validation's at each epoch's end, against (fractional) epochs."""
        self._set_mode("training")
        payload = event.payload
        x = float(payload.get("epochs_done", payload.get("epoch", event.done)))
        for name, key in (("train loss", "batch_loss"), ("train accuracy", "batch_accuracy")):
            if key in payload:
                last = self._smoothed.get(name, float(payload[key]))
                self._smoothed[name] = last + SMOOTHING * (float(payload[key]) - last)
                self._append(name, x, self._smoothed[name])
        if "val_loss" in payload and "val_accuracy" in payload:
            self._append("validation loss", x, float(payload["val_loss"]))
            self._append("validation accuracy", x, float(payload["val_accuracy"]))
        self._live_status = f"{event.stage}: {event.message}"
        self._dirty = True

    def _append(self, name: str, x: float, y: float) -> None:
        xs, ys = self.history[name]
        xs.append(x)
        ys.append(y)

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self._live_status:
            # Here, not per event: a new text can re-wrap the label and resize (repaint) the plots.
            self.status.setText(self._live_status)
            self._live_status = ""
        if self.mode == "training":
            for name in TRAINING_CURVES:
                xs, ys = self.history[name]
                self.training_curves[name].setData(np.asarray(xs), np.asarray(ys))
            return
        if self.latest_mask is not None:
            self.mask.show(self.latest_mask, stored_mask=True)
        else:
            self.mask.clear()
        for name in CURVES:
            xs, ys = self.history[name]
            few = len(xs) <= SYMBOLS_UP_TO  # a short history reads better as dots on the line
            self.curves[name].setData(np.asarray(xs), np.asarray(ys), symbol="o" if few else None, symbolSize=5)
            self.plots[name].setLabel("bottom", self.xlabel if name == CURVES[-1] else None)

    # --- export ------------------------------------------------------------------------------

    def figures(self):
        return {"mask convergence": self.figure}

    def tables(self):
        return {"convergence curves": self.table}

    def _shown_curves(self) -> dict[str, tuple[list[float], list[float]]]:
        names = TRAINING_CURVES if self.mode == "training" else CURVES
        return {name: self.history[name] for name in names}

    def figure(self):
        mask = None if self.mode == "training" else self.latest_mask
        if mask is None and not any(xs for xs, _ in self._shown_curves().values()):
            return None
        curves = {name: data for name, data in self._shown_curves().items() if data[0]}
        title = self._stage if self.source.currentText() == LIVE else self.status.text().split(":")[0]
        return convergence_figure(mask, curves, xlabel=self.xlabel, title=title)

    def table(self) -> Table | None:
        rows = [(name, x, y) for name, (xs, ys) in self._shown_curves().items() for x, y in zip(xs, ys)]
        if not rows:
            return None
        title = "Training curves" if self.mode == "training" else "Mask convergence curves"
        table = Table.build("convergence", title, [("curve", ""), (self.xlabel, "count"), ("value", "1")])
        for row in rows:
            table.add_row(*row)
        return table
