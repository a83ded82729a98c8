"""Clusters: UMAP of single-image masks coloured by predicted class, with the linear probe's
accuracy next to its permuted-label control; clicking a point selects that image.

The probe-output UMAP embeds out-of-fold scores (each from a probe that never saw the mask);
the same picture for permuted labels is one choice away, since a probe's own training scores
cluster by class for any masks."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from fourier_masks.core.figures import embedding_figure
from fourier_masks.core.tables import Table

from ..widgets import AXIS_PX, MIN_DATA_PX, ElidingComboBox, readable_axes, refill_combo
from .base import EmptyState, Panel

__all__ = ["ClustersPanel"]

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
SPACES = {
    "linear-probe outputs (out-of-fold)": "probe_xy",
    "linear-probe outputs, permuted labels (control)": "shuffled_xy",
    "masks": "mask_xy",
}


class ClustersPanel(Panel):
    title = "Clusters"
    computeRequested = Signal()

    def __init__(self, workbench, parent=None) -> None:
        super().__init__(workbench, parent)
        controls = QHBoxLayout()
        self.groups = ElidingComboBox()
        self.space = QComboBox()
        self.space.addItems(list(SPACES))
        self.compute = QPushButton("Compute clusters")
        self.compute.clicked.connect(self.computeRequested)
        controls.addWidget(QLabel("masks of"))
        controls.addWidget(self.groups, 1)
        controls.addWidget(QLabel("UMAP of"))
        controls.addWidget(self.space)
        controls.addWidget(self.compute)
        self.outer.addLayout(controls)
        self.probe = QLabel("")
        self.probe.setWordWrap(True)
        self.outer.addWidget(self.probe)
        self.view = pg.PlotWidget(axisItems=readable_axes())
        self.view.setLabel("bottom", "UMAP 1")
        self.view.setLabel("left", "UMAP 2")
        self.view.setMinimumSize(160, MIN_DATA_PX + AXIS_PX + 12)
        self.scatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen(None), hoverable=True)
        self.view.addItem(self.scatter)
        self.scatter.sigClicked.connect(self._on_scatter_clicked)
        # The legend sits beside the plot, never over its points.
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        plot_and_legend = QWidget()
        row = QHBoxLayout(plot_and_legend)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.view, 1)
        legend_column = QVBoxLayout()
        legend_column.addWidget(self.legend)
        legend_column.addStretch(1)
        row.addLayout(legend_column)
        self.empty = EmptyState(plot_and_legend)
        self.empty_compute = self.empty.add_button("Compute tables and clusters", self.computeRequested)
        self.outer.addWidget(self.empty, 1)
        self.current: dict | None = None
        self.groups.currentTextChanged.connect(self._draw)
        self.space.currentTextChanged.connect(self._draw)
        workbench.runChanged.connect(self.refresh)
        workbench.contentsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        refill_combo(self.groups, self.workbench.image_groups(), (f"image/{self.workbench.current_model}-clean",))
        self._draw()

    def _probe_text(self, group: str) -> str:
        table = self.workbench.tables().get("table3")
        label = group.split("/", 1)[-1]
        if table is None:
            return ""
        for values in table.rows:
            row = dict(zip([c.name for c in table.columns], values))
            if row["masks"] == label:
                if row.get("note"):
                    return f"linear probe: {row['note']}"
                text = (
                    f"linear probe: {row['test accuracy']:.1f} ± {row['test accuracy std']:.1f} % test accuracy vs "
                    f"{row['shuffled-label accuracy']:.1f} ± {row['shuffled-label std']:.1f} % with permuted labels "
                    f"(chance {row['chance']:.1f} %, {row['masks used']} masks)"
                )
                if isinstance(row.get("p-value"), float):
                    text += f"; p = {row['p-value']:.3f} over {row['permutations']} permutations"
                return text
        return ""

    def _draw(self, *args) -> None:
        group = self.groups.currentText()
        embedding = self.workbench.embedding(group) if group else None
        self.scatter.clear()
        self.legend.clear()
        self.compute.setEnabled(bool(group))
        self.empty_compute.setVisible(bool(group))
        if embedding is None:
            self.current = None
            self.probe.setText("")
            self.status.setText("")
            reason = self._probe_text(group) if group else ""
            self.empty.show_empty(
                True,
                f"<p><b>No clusters of {html.escape(group)}.</b></p><p>{html.escape(reason)}</p>"
                if reason  # computed, and Table 3 says why there are none
                else f"<p><b>No clusters of {html.escape(group)} yet.</b></p><p>Compute them: a UMAP of its single-image masks, "
                "and a linear probe that predicts the class from a mask.</p>"
                if group
                else "<p><b>No single-image masks yet.</b></p><p>Learn masks for some images (drop them on the "
                "window, or run the demo study) to see how they cluster by class.</p>",
            )
            return
        space = SPACES[self.space.currentText()]
        if space not in embedding:
            self.current = None
            self.probe.setText("")
            self.status.setText("")
            self.empty.show_empty(
                True,
                f"<p><b>{html.escape(group)}'s clusters were computed before the permuted-label control existed.</b></p>"
                "<p>Compute them again to see it.</p>",
            )
            return
        self.empty.show_empty(False)
        names = self.workbench.class_names(group)
        xy = embedding[space]
        labels = embedding["labels"].astype(int)
        ids = embedding["ids"].tolist()
        spots = [
            {"pos": xy[k], "data": ids[k], "brush": pg.mkBrush(COLOURS[labels[k] % len(COLOURS)])}
            for k in range(len(ids))
        ]
        self.scatter.addPoints(spots)
        self.legend.setText(
            "<br>".join(
                f"<span style='color:{COLOURS[k % len(COLOURS)]};font-size:14px'>●</span>&nbsp;"
                f"{html.escape(names[k] if k < len(names) else str(k))}"
                for k in sorted(set(labels.tolist()))
            )
        )
        self.view.autoRange()
        self.current = {"group": group, "xy": xy, "labels": labels, "ids": ids, "names": names}
        self.probe.setText(self._probe_text(group))
        self.status.setText(f"{group}: {len(ids)} masks (class-balanced); click a point to see its image")

    def _on_scatter_clicked(self, item, points, event=None) -> None:
        if points is not None and len(points) and self.current is not None:
            self.workbench.select_image(self.current["group"], str(points[0].data()))

    def figures(self):
        return {"UMAP": self._figure}

    def tables(self):
        return {"UMAP coordinates": self._table}

    def _figure(self):
        c = self.current
        if c is None:
            return None
        return embedding_figure(
            np.asarray(c["xy"]), c["labels"], c["names"], f"UMAP of {self.space.currentText()} ({c['group']})"
        )

    def _table(self) -> Table | None:
        c = self.current
        if c is None:
            return None
        table = Table.build(
            "umap",
            f"UMAP of {self.space.currentText()} ({c['group']})",
            [("image", ""), ("predicted class", ""), ("umap x", "1"), ("umap y", "1")],
        )
        for k, image_id in enumerate(c["ids"]):
            label = c["labels"][k]
            table.add_row(
                image_id,
                c["names"][label] if label < len(c["names"]) else str(label),
                float(c["xy"][k, 0]),
                float(c["xy"][k, 1]),
            )
        return table
