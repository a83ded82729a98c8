"""Live mask convergence: the current mask and its curves while a mask job runs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer

from core.figures import convergence_figure
from core.progress import Progress
from core.tables import Table

from ..widgets import ImageView
from .base import Panel

__all__ = ["ConvergencePanel"]

CURVES = ("invariance", "kept fraction", "prediction kept / accuracy")


class ConvergencePanel(Panel):
    """Shows the mask being learned (centred spectrum, magma, 0–1 colour bar) and curves of
    the invariance term, kept fraction and prediction kept (per-image jobs: mean over the
    batch; set masks: per batch, with masked accuracy per epoch). Redraws from a timer only
    when something changed, so progress at any rate costs the GUI little."""

    title = "Convergence"

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        self.view = pg.GraphicsLayoutWidget()
        self.mask = ImageView(self.view.addPlot(row=0, col=0, rowspan=3), "mask", colorbar=True, frequency_axes=True)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        for row, name in enumerate(CURVES):
            plot = self.view.addPlot(row=row, col=1, title=name)
            plot.showGrid(x=True, y=True, alpha=0.2)
            curve = plot.plot(pen=pg.mkPen("#2166ac", width=1.5))
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.plots[name], self.curves[name] = plot, curve
        self.view.ci.layout.setColumnStretchFactor(0, 3)
        self.view.ci.layout.setColumnStretchFactor(1, 2)
        self.outer.addWidget(self.view, 1)
        self.history: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CURVES}
        self.latest_mask: np.ndarray | None = None
        self.xlabel = "step"
        self._dirty = False
        self._stage = ""
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self.status.setText("Masks appear here while they are learned.")

    def reset(self) -> None:
        for xs, ys in self.history.values():
            xs.clear()
            ys.clear()
        self.latest_mask = None
        self.mask.clear()
        self._dirty = True

    def on_progress(self, event: Progress) -> None:
        """Called on the GUI thread with each (throttled) progress event of a job."""
        payload = event.payload
        if event.stage != self._stage and event.stage not in ("study", "report"):
            if "masks" in payload or "mask" in payload:
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
        for name, (xs, ys) in self.history.items():
            self.curves[name].setData(np.asarray(xs), np.asarray(ys))
            self.plots[name].setLabel("bottom", self.xlabel)

    def figures(self):
        return {"mask convergence": self.figure}

    def tables(self):
        return {"convergence curves": self.table}

    def figure(self):
        if self.latest_mask is None and not any(xs for xs, _ in self.history.values()):
            return None
        curves = {name: data for name, data in self.history.items() if data[0]}
        return convergence_figure(self.latest_mask, curves, xlabel=self.xlabel, title=self._stage)

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
