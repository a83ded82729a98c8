"""What the window says stays true: the selection after an attack, what a cancel keeps, why
a group has no clusters, images that wait for a model, status texts of finished jobs, and
documents a user can open instead of source files they cannot."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PIL import Image  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QLabel, QMenu, QMessageBox  # noqa: E402

from fourier_masks.app import requests as rq
from fourier_masks.core.data import DataRequest
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.models.checkpoints import save_checkpoint

JOB_TIMEOUT_MS = 120_000
SOURCE_FILE = re.compile(r"METHOD\.md|\b[\w/.-]+\.py\b|§")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from fourier_masks.app.main import create_window

    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    win = create_window()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.controller.image_config = ImageMaskConfig(max_steps=20, check_every=10)
    yield win
    win.runner.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, trained_shapes_model):
    return save_checkpoint(trained_shapes_model, tmp_path_factory.mktemp("model") / "N.pt")


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, tiny_shapes):
    """Four 16-px shapes as loose PNG files: images without labels."""
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for k in range(4):
        path = folder / f"shape {k}.png"
        Image.fromarray((tiny_shapes.val.images[k, 0].numpy() * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _run_until(qtbot, window, start, signal="finished"):
    with qtbot.waitSignal(getattr(window.runner, signal), timeout=JOB_TIMEOUT_MS) as blocker:
        start()
    return blocker.args


def test_images_opened_before_any_model_wait_for_the_one_the_user_loads(qtbot, window, checkpoint, image_files):
    window.ask_checkpoints = lambda: window.handle_paths([checkpoint])  # the file dialog's answer
    with qtbot.waitSignal(window.controller.modelNeeded):
        window.handle_paths(image_files)
    (box,) = [b for b in window.findChildren(QMessageBox) if b.windowTitle() == "A model is needed"]
    assert "4 image file(s)" in box.text()
    (load,) = [b for b in box.buttons() if b.text() == "Load checkpoints…"]
    with qtbot.waitSignal(window.runner.finished, timeout=JOB_TIMEOUT_MS):
        load.click()  # loads the model; the images' masks follow
    _run_until(qtbot, window, lambda: None)
    (group,) = window.workbench.image_groups()
    assert window.workbench.store.load_image_masks(group).ids == [p.name for p in image_files]


def test_status_texts_do_not_outlive_what_they_describe(qtbot, window, checkpoint, image_files):
    models = window.panels["models"]
    window.workbench.set_job("demo study")
    assert "No model yet" in models.status.text() and "demo study is running" in models.status.text()
    window.workbench.set_job("")
    _run_until(qtbot, window, lambda: window.handle_paths([checkpoint]))
    _run_until(qtbot, window, lambda: window.handle_paths(image_files))
    assert window.message_bar.isVisible() and "4 of 4" in window.message_bar.text
    window.controller.heat_map("N", rq.HeatMapRequest(DataRequest(spec="builtin", val_per_class=2)))
    assert not window.message_bar.isVisible(), "the last job's news stayed up during the next job"
    window.runner.stop()


def test_a_cancelled_heat_map_says_nothing_was_saved(qtbot, window, checkpoint):
    _run_until(qtbot, window, lambda: window.handle_paths([checkpoint]))

    def start_and_cancel():
        window.controller.heat_map("N", rq.HeatMapRequest(DataRequest(spec="builtin", val_per_class=2)))
        window.runner.cancel()

    _run_until(qtbot, window, start_and_cancel, "cancelled")
    text = window.message_bar.text
    assert "heat map was cancelled; nothing was saved" in text and "kept" not in text, text
    assert not window.workbench.store.path("data/heat-map-N.npz").exists()


def test_unlabelled_images_say_why_they_have_no_clusters(qtbot, window, checkpoint, image_files):
    _run_until(qtbot, window, lambda: window.handle_paths([checkpoint]))
    _run_until(qtbot, window, lambda: window.handle_paths(image_files))
    _run_until(qtbot, window, window.controller.compute_report)
    assert window.message_bar.level == "warning"
    assert re.search(r"no clusters for image/N-drop\d*: unlabelled images", window.message_bar.text)
    clusters = window.panels["clusters"]
    assert clusters.empty.is_empty and "unlabelled images" in clusters.empty.label.text()


def test_an_adversarial_image_is_selected_as_its_clean_original(qtbot, window, checkpoint, image_files):
    from fourier_masks.core.attacks.adversarial import AttackConfig

    _run_until(qtbot, window, lambda: window.handle_paths([checkpoint]))
    _run_until(qtbot, window, lambda: window.handle_paths(image_files))
    (clean,) = window.workbench.image_groups()
    name, result = _run_until(
        qtbot,
        window,
        lambda: window.controller.attack(
            clean, rq.AttackRequest(AttackConfig(eps=0.1, steps=2), window.controller.image_config)
        ),
    )
    window.workbench.select_image(result.group, "shape 2.png")  # e.g. a click on an x_A point
    assert window.workbench.selected == (clean, "shape 2.png")
    panel = window.panels["images"]
    assert panel.groups.currentText() == clean and panel.views["x_A"].data is not None


def _visible_texts(window) -> list[str]:
    texts = [window.windowTitle()]
    for widget in window.findChildren(QLabel) + window.findChildren(QAbstractButton):
        texts += [widget.text(), widget.toolTip()]
    for menu in window.findChildren(QMenu):
        texts += [action.text() for action in menu.actions()] + [action.toolTip() for action in menu.actions()]
    return [t for t in texts if t]


def test_the_ui_cites_documents_a_user_can_open_not_source_files(qtbot, window, checkpoint, image_files):
    _run_until(qtbot, window, lambda: window.handle_paths([checkpoint]))
    _run_until(qtbot, window, lambda: window.handle_paths(image_files))
    _run_until(qtbot, window, window.controller.compute_report)
    notes = [table.notes for table in window.workbench.tables().values()]
    cited = [t for t in _visible_texts(window) + notes if SOURCE_FILE.search(t)]
    assert not cited, cited
    (help_menu,) = [m for m in window.findChildren(QMenu) if m.title() == "&Help"]
    (science,) = [a for a in help_menu.actions() if a.text() == "The science"]
    science.trigger()
    from fourier_masks.app.documents import DocumentDialog

    (dialog,) = window.findChildren(DocumentDialog)
    text = dialog.browser.toPlainText()
    assert "Verdicts that can disagree" in text and "Mask layer" in text
    dialog.close()
