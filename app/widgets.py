"""Small reusable widgets: image plots, readable axes and titles, combo boxes that elide in
the middle, the message bar and the job bar."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QFontMetricsF
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolButton,
    QToolTip,
    QWidget,
)

from fourier_masks.core.progress import JobEta, Progress
from fourier_masks.core.spectra import centred

__all__ = [
    "COLORMAPS",
    "MIN_DATA_PX",
    "TITLE_PX",
    "AXIS_PX",
    "ImageView",
    "ReadableAxis",
    "readable_axes",
    "compact_title",
    "ElidingComboBox",
    "MessageBar",
    "JobBar",
    "refill_combo",
]

COLORMAPS = {
    "mask": ("magma", (0.0, 1.0)),
    "difference": ("CET-D1", (-0.5, 0.5)),
    "image": ("CET-L1", (0.0, 1.0)),
    "spectrum": ("viridis", None),
    "heat": ("inferno", (0.0, 1.0)),
}
# The least a plot's data area is drawn either way (px): three labelled ticks of a 9-pt font
# with room between them. Views size their plots (or scroll) so none is drawn smaller.
MIN_DATA_PX = 80
TITLE_PX = 18  # a compact title's row
AXIS_PX = 45  # a bottom axis with its tick labels and a label below them


def refill_combo(combo: QComboBox, items: list[str], preferred: tuple[str, ...] = (), last: bool = False) -> None:
    """Replace a combo box's items without emitting change signals, keeping the current
    choice when it is still there, else the first of ``preferred`` present, else the first
    (or ``last``) item."""
    keep = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    for choice in (keep, *preferred):
        if choice in items:
            combo.setCurrentText(choice)
            break
    else:
        if items:
            combo.setCurrentIndex(len(items) - 1 if last else 0)
    combo.blockSignals(False)


class ElidingComboBox(QComboBox):
    """A combo box that shortens a long choice in the middle ("image/N…/000001"), where names
    and paths differ at both ends, with the whole choice in its tooltip; Qt's own cuts the end."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)
        self.view().setTextElideMode(Qt.TextElideMode.ElideMiddle)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.currentText():
            text = "\n".join(part for part in (self.currentText(), self.toolTip()) if part)
            QToolTip.showText(event.globalPos(), text, self)
            return True
        return super().event(event)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        option.currentText = self.fontMetrics().elidedText(
            option.currentText, Qt.TextElideMode.ElideMiddle, field.width()
        )
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


class ReadableAxis(pg.AxisItem):
    """An axis whose tick labels never overlap. pyqtgraph labels every major tick however
    short the axis (and a log axis' 2…9 crowd near each decade), so labels land on each other;
    this one leaves out a label that would overlap one already placed, major ticks first."""

    def generateDrawSpecs(self, p):  # noqa: N802 - pyqtgraph API
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        metrics = QFontMetricsF(p.font())
        placed: list[QRectF] = []
        kept = []
        for rect, flags, text in texts:
            box = metrics.boundingRect(rect, int(flags), text)
            if not any(box.intersects(other) for other in placed):
                placed.append(box)
                kept.append((rect, flags, text))
        return axis, ticks, kept


def readable_axes() -> dict[str, pg.AxisItem]:
    """``axisItems`` for a new plot (``addPlot(axisItems=readable_axes())``): left and bottom
    axes whose tick labels never overlap."""
    return {side: ReadableAxis(side) for side in ("left", "bottom")}


class _TitleLabel(pg.LabelItem):
    """A plot title that never widens its plot: pyqtgraph makes a label's text its minimum
    width (again on every resize); this one is shortened to fit instead (:func:`compact_title`)."""

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph API
        super().updateMin()
        self.setMinimumWidth(0)


def compact_title(plot: pg.PlotItem, text: str, height: int = TITLE_PX) -> None:
    """A 9-pt title in a row ``height`` px high (pyqtgraph's own is 30 px, a fifth of a small
    plot), shortened in the middle to the plot's width, the whole title in its tooltip."""
    if not isinstance(plot.titleLabel, _TitleLabel):
        old = plot.titleLabel
        plot.layout.removeItem(old)
        old.setParentItem(None)
        if old.scene() is not None:
            old.scene().removeItem(old)
        plot.titleLabel = _TitleLabel("", parent=plot)
        plot.layout.addItem(plot.titleLabel, 0, 1)
        plot.geometryChanged.connect(lambda: _elide_title(plot))
    plot.setTitle(text, size="9pt")
    plot.titleLabel.setMaximumHeight(height)
    plot.layout.setRowFixedHeight(0, height)
    plot.titleLabel.setToolTip(text)
    plot.setProperty("full_title", text)
    _elide_title(plot)


def _elide_title(plot: pg.PlotItem) -> None:
    text = plot.property("full_title") or ""
    label = plot.titleLabel
    font = QFont(label.item.font())
    font.setPointSizeF(9)
    elided = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideMiddle, max(int(plot.width()) - 8, 20))
    if html.escape(elided) != label.text:
        label.setText(html.escape(elided))


class ImageView:
    """One image inside a :class:`pyqtgraph.PlotItem`: created once, updated with
    :meth:`show`. Levels are fixed per kind (masks 0–1, differences ±0.5), so a live mask
    never flickers with auto-levels. Arrays are copied before being handed to pyqtgraph,
    which keeps a view of them.

    The plot's view box keeps the image's shape (what room it has to spare becomes margin
    around the plot), so the image fills its box and the axes span the image, never empty
    space beside it."""

    def __init__(self, plot: pg.PlotItem, kind: str, colorbar: bool = False, frequency_axes: bool = False) -> None:
        self.plot = plot
        self.kind = kind
        self.frequency_axes = frequency_axes
        cmap_name, levels = COLORMAPS[kind]
        self.colormap = pg.colormap.get(cmap_name)
        self.levels = levels
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setColorMap(self.colormap)
        plot.addItem(self.item)
        plot.setAspectLocked(True)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        if frequency_axes:
            plot.setLabel("bottom", "k_x")
            plot.setLabel("left", "k_y")
            for axis in ("bottom", "left"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        else:
            plot.hideAxis("left")
            plot.hideAxis("bottom")
        self.bar = None
        if colorbar and levels is not None:
            self.bar = pg.ColorBarItem(values=levels, colorMap=self.colormap, interactive=False, width=12)
            self.bar.setImageItem(self.item, insert_in=plot)
            self._label_bar(levels)
        self.data: np.ndarray | None = None
        self._margins = plot.getContentsMargins()
        self._fitting = False
        # Fitting the box to a small plot makes its minimum size its present size: the plot
        # keeps the minimum it had, so it can still shrink with its window.
        minimum = plot.effectiveSizeHint(Qt.SizeHint.MinimumSize)
        plot.setMinimumSize(minimum)
        plot.vb.sigResized.connect(self._fit_box)

    def _label_bar(self, levels: tuple[float, float]) -> None:
        """Ticks at the ends and the middle of the colour bar: readable however short it is."""
        low, high = levels
        self.bar.axis.setTicks([[(value, f"{value:g}") for value in (low, (low + high) / 2, high)]])

    def _fit_box(self, *args) -> None:
        """Margins that leave the view box the image's shape, unless it has it already:
        measured with the plain margins, since with the old ones a plot that shrank may
        overflow its box."""
        if self.data is None or self._fitting:
            return
        h, w = self.data.shape[:2]
        box = self.plot.vb.size()
        if abs(box.width() * h - box.height() * w) < max(w, h):  # within a pixel
            return
        self._fitting = True  # the box resizes below: its signal comes back here
        try:
            left, top, right, bottom = self._margins
            self.plot.setContentsMargins(left, top, right, bottom)
            self.plot.layout.activate()
            box = self.plot.vb.size()
            if box.width() > box.height() * w / h:
                spare = ((box.width() - box.height() * w / h) / 2, 0.0)
            else:
                spare = (0.0, (box.height() - box.width() * h / w) / 2)
            self.plot.setContentsMargins(left + spare[0], top + spare[1], right + spare[0], bottom + spare[1])
            self.plot.layout.activate()
        finally:
            self._fitting = False

    def clear(self) -> None:
        self.item.clear()
        self.data = None

    def set_kind(self, kind: str) -> None:
        """Switch colour map and fixed levels (e.g. from a mask to a difference of masks)."""
        if kind == self.kind:
            return
        cmap_name, levels = COLORMAPS[kind]
        self.kind, self.colormap, self.levels = kind, pg.colormap.get(cmap_name), levels
        self.item.setColorMap(self.colormap)
        if self.bar is not None and levels is not None:
            self.bar.setColorMap(self.colormap)
            self.bar.setLevels(levels)
            self._label_bar(levels)

    def show(self, array: np.ndarray, *, stored_mask: bool = False, title: str | None = None) -> None:
        """``array``: ``(H, W)``, ``(C, H, W)`` image or a stored (uncentred) mask."""
        array = np.asarray(array, dtype=np.float32)
        if stored_mask:
            array = centred(array.mean(axis=0) if array.ndim == 3 else array)
        elif array.ndim == 3:
            array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
        self.data = array
        display = np.ascontiguousarray(np.flipud(array))  # row 0 at the top, y pointing up
        levels = self.levels
        if levels is None:
            levels = (float(np.min(array)), float(np.max(array)) or 1.0)
        if self.kind == "image":
            display = np.clip(display, 0.0, 1.0)
        self.item.setImage(display, autoLevels=False, levels=levels)
        h, w = array.shape[:2]
        rect = QRectF(-(w // 2) - 0.5, -(h - h // 2) + 0.5, w, h) if self.frequency_axes else QRectF(0, 0, w, h)
        self.item.setRect(rect)
        self.plot.setRange(rect=rect, padding=0)
        self._fit_box()
        if title is not None:
            compact_title(self.plot, title)


class MessageBar(QWidget):
    """A dismissable line at the top of the window for errors and notices (never a modal
    dialog that blocks work or tests)."""

    STYLES = {
        "error": "background:#fde2e1;color:#7a1b16;border:1px solid #e8a29d;",
        "warning": "background:#fff4d6;color:#6b4e00;border:1px solid #e6cf8a;",
        "info": "background:#e5f0fb;color:#123e6b;border:1px solid #a9c8ea;",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.level = ""
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        self.setStyleSheet(f"QWidget{{{self.STYLES.get(level, self.STYLES['info'])}}} QToolButton{{border:none}}")
        self.label.setText(text)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class JobBar(QWidget):
    """Progress bar, ETA and Cancel for the running job; redrawn from a timer.

    In a study the bar is the whole study's (its share done and ETA, carried by every event)
    and reads "step k/12 · the step · what runs inside it", so the count of steps holds
    through the report's own sub-steps; any other job shows its own bar and ETA. ETAs follow
    the engine's rule (:class:`~fourier_masks.core.progress.JobEta`): "estimating…" until a
    step time is measured, "≤ …" for an upper bound, and never rising ("finishing…" once the
    work outlasts its estimate)."""

    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        self.name = QLabel("Idle")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(220)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(150)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        for widget in (self.name, self.bar, self.eta, self.cancel_button):
            layout.addWidget(widget)
        self._latest: Progress | None = None
        self._eta = JobEta(whole_study=True)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._redraw)

    def job_started(self, name: str) -> None:
        self.name.setText(name)
        self._latest, self._eta = None, JobEta(whole_study=True)
        self.bar.setValue(0)
        self.bar.setFormat("starting…")
        self.eta.setText("")
        self.cancel_button.setEnabled(True)
        self._timer.start()

    def job_progress(self, event: Progress) -> None:
        self._latest = event
        self._eta.observe(event)

    def job_ended(self, text: str) -> None:
        self._timer.stop()
        self._redraw()
        self.name.setText(text)
        self.cancel_button.setEnabled(False)
        self.eta.setText("")

    def _redraw(self) -> None:
        event = self._latest
        if event is None:
            return
        study = event.study
        if study is not None:
            self.bar.setValue(int(1000 * study.fraction))
            inner = "" if event.stage == "study" else self._label(event)
            self.bar.setFormat(" · ".join(filter(None, (f"step {study.step}/{study.steps}", study.name, inner))))
        else:
            self.bar.setValue(int(1000 * event.fraction))
            self.bar.setFormat(self._label(event))
        eta = self._eta.text()
        self.eta.setText(f"ETA {eta}" if eta else "")

    @staticmethod
    def _label(event: Progress) -> str:
        """What runs: a report's sub-step as "Table 3 3/8", else "stage: message"."""
        if event.stage in ("study", "report"):
            return f"{event.message} {min(int(event.done) + 1, int(event.total))}/{int(event.total)}"
        return f"{event.stage}: {event.message}" if event.message else event.stage
