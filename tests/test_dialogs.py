"""Every dialog fits a 1366×768 laptop screen with OK and Cancel in view, shows its advanced
settings folded, and still answers with them when folded.

How the screen is made 1366×768: Qt's offscreen platform takes its screens from a JSON file
(``QT_QPA_PLATFORM=offscreen:configfile=…``, Qt ≥ 6.5), but it reads that once, when the
process's QApplication starts, and the test session's QApplication already runs on the
default 800×800 screen. So the dialogs are opened in a child process (this file run as a
script) whose only screen is the laptop's: each dialog finds that screen itself, through its
parent window, and sizes itself exactly as in the app; the child reports what Qt placed where,
and the tests here judge it. The offscreen platform cannot reserve a task bar (its available
area is the whole screen) nor draw a title bar, so the child's screen is the 1366×728 that a
40-px task bar leaves, and the dialogs must leave a title bar's 28 px more: at most 700 px.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMainWindow, QPushButton, QWidget  # noqa: E402

from fourier_masks.app import forms
from fourier_masks.app.forms import (
    AdvancedSection,
    AdversarialMapsDialog,
    AnalysisDialog,
    AttackDialog,
    CompareDialog,
    HeatMapDialog,
    ImageMaskDialog,
    ModelDetailsDialog,
    StudyDialog,
    TrainDialog,
)
from fourier_masks.core.masks.config import ImageMaskConfig

SCREEN = (1366, 768)
TASK_BAR_PX = 40
TITLE_BAR_PX = 28
AVAILABLE = (SCREEN[0], SCREEN[1] - TASK_BAR_PX)


def _robustness(parent: QWidget) -> QDialog:
    dialog = AnalysisDialog("Robustness", "Accuracy of every loaded model under noise and PGD.", 0, parent)
    dialog.finish()
    return dialog


# Every dialog of app/forms.py, opened as the main window opens it.
DIALOGS: dict[str, Callable[[QWidget], QDialog]] = {
    "image-masks": lambda parent: ImageMaskDialog(ImageMaskConfig(), 32, parent),
    "train": TrainDialog,
    "compare": CompareDialog,
    "attack": lambda parent: AttackDialog(ImageMaskConfig(), parent),
    "model-details-arch": lambda parent: ModelDetailsDialog("weights.pt", "arch", parent),
    "model-details-shapes": lambda parent: ModelDetailsDialog("graph.pt2", "shapes", parent),
    "robustness": _robustness,
    "study": StudyDialog,
    "heat-map": HeatMapDialog,
    "adversarial-maps": lambda parent: AdversarialMapsDialog(32, parent),
    "cutoff-sweep": forms.CutoffSweepDialog,
    "sensitivity": forms.SensitivityDialog,
    "layer-spectra": forms.LayerSpectraDialog,
    "corruptions": lambda parent: forms.CorruptionsDialog(["N", "A", "a model with a long name"], parent),
    "profile": lambda parent: forms.ProfileDialog(["N", "A", "a model with a long name"], parent),
}
# Dialogs that are only ever the base of others.
BASES = {forms.ConfigDialog, forms._EvaluationDialog}


def _rect(widget: QWidget) -> list[int]:
    """The widget's rectangle on the screen: x, y, width, height."""
    corner = widget.mapToGlobal(widget.rect().topLeft())
    return [corner.x(), corner.y(), widget.width(), widget.height()]


def _measure(dialog: QDialog) -> dict[str, Any]:
    frame = dialog.frameGeometry()
    buttons = {}
    for role, which in (("ok", QDialogButtonBox.StandardButton.Ok), ("cancel", QDialogButtonBox.StandardButton.Cancel)):
        button = dialog.buttons.button(which)
        buttons[role] = {
            "rect": _rect(button),
            "visible": button.isVisible(),
            "unclipped": button.visibleRegion().boundingRect() == button.rect(),
        }
    return {
        "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
        "buttons": buttons,
        "sections_folded": [not section.content.isVisible() for section in dialog.findChildren(AdvancedSection)],
        "scrolls": dialog.scroll.verticalScrollBar().isVisible(),
    }


def _unfold(dialog: QDialog) -> None:
    for section in dialog.findChildren(AdvancedSection):
        section.button.click()


def measure_on_this_screen(shots: Path) -> dict[str, Any]:
    """Open every dialog over a maximised window on this process's screen, folded and then
    unfolded, and save what it shows; run in the child process."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    available = app.primaryScreen().availableGeometry()
    window = QMainWindow()
    window.showMaximized()
    app.processEvents()
    report: dict[str, Any] = {
        "screen": [available.x(), available.y(), available.width(), available.height()],
        "dialogs": {},
    }
    for name, open_dialog in DIALOGS.items():
        dialog = open_dialog(window)
        dialog.show()
        app.processEvents()
        states = {"folded": _measure(dialog)}
        dialog.grab().save(str(shots / f"dialog-{name}-{SCREEN[0]}x{SCREEN[1]}.png"))
        if dialog.findChildren(AdvancedSection):
            _unfold(dialog)
            app.processEvents()
            states["unfolded"] = _measure(dialog)
            dialog.grab().save(str(shots / f"dialog-{name}-{SCREEN[0]}x{SCREEN[1]}-advanced.png"))
        report["dialogs"][name] = {"class": type(dialog).__name__, "states": states}
        dialog.close()
        app.processEvents()
    window.close()
    return report


@pytest.fixture(scope="module")
def laptop(tmp_path_factory, screenshots) -> dict[str, Any]:
    """What the child process measured on its laptop screen."""
    folder = tmp_path_factory.mktemp("laptop-screen")
    config = folder / "screen.json"
    screen = {"name": "laptop", "x": 0, "y": 0, "width": AVAILABLE[0], "height": AVAILABLE[1]}
    config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    report = folder / "report.json"
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_SCALE_FACTOR": "1"}
    child = subprocess.run(
        [sys.executable, __file__, str(report), str(screenshots)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    return json.loads(report.read_text())


def _inside(inner: list[int], outer: list[int]) -> bool:
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def test_the_child_ran_on_the_laptop_screen_and_opened_every_dialog(laptop):
    assert laptop["screen"] == [0, 0, *AVAILABLE], "Qt ignored the offscreen screen configuration"
    classes = {
        cls.__name__
        for cls in vars(forms).values()
        if inspect.isclass(cls) and issubclass(cls, QDialog) and cls.__module__ == forms.__name__
    }
    assert classes - {cls.__name__ for cls in BASES} <= {entry["class"] for entry in laptop["dialogs"].values()}


@pytest.mark.parametrize("name", DIALOGS)
def test_the_dialog_fits_the_laptop_screen_with_its_buttons_in_view(laptop, name):
    screen = laptop["screen"]
    states = laptop["dialogs"][name]["states"]
    assert all(states["folded"]["sections_folded"]), "advanced settings are folded when the dialog opens"
    if "unfolded" in states:
        assert not any(states["unfolded"]["sections_folded"])
    for state, seen in states.items():
        frame = seen["frame"]
        assert frame[2] <= SCREEN[0] and frame[3] <= SCREEN[1] - TASK_BAR_PX - TITLE_BAR_PX, (state, frame)
        assert _inside(frame, screen), (state, frame, screen)
        for role, button in seen["buttons"].items():
            assert button["visible"] and button["unclipped"], (state, role, button)
            assert _inside(button["rect"], frame), (state, role, button["rect"], frame)


def test_a_folded_advanced_setting_is_still_in_the_answer(qtbot):
    dialog = AttackDialog(ImageMaskConfig())
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.forms["attack"]
    alpha, _ = form.fields["alpha"]
    assert not alpha.isVisible()
    form.advanced.button.click()
    assert alpha.isVisible()
    alpha.setText("0.002")
    form.advanced.button.click()
    assert not alpha.isVisible()
    dialog.accept()
    assert dialog.answer is not None and dialog.answer.attack.alpha == 0.002


def test_the_form_says_which_values_are_not_the_published_ones(qtbot):
    dialog = ImageMaskDialog(ImageMaskConfig(), 32)
    qtbot.addWidget(dialog)
    note = dialog.form.note
    assert note.text() == "Values as published (Karantzas et al.)."
    buttons = {button.text(): button for button in dialog.findChildren(QPushButton)}
    buttons["Fast (settled by step 3 000)"].click()
    assert "max steps (published: 20000)" in note.text() and "settle after (published: 0)" in note.text()
    buttons["Published (Karantzas)"].click()
    assert note.text() == "Values as published (Karantzas et al.)."
    train = TrainDialog()
    qtbot.addWidget(train)
    assert "epochs (published: 50)" in train.train_form.note.text()


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(measure_on_this_screen(Path(sys.argv[2]))))
