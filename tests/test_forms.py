"""The parameter dialogs: each answers one typed value, and a mistake keeps it open."""

from __future__ import annotations

import pytest

from fourier_masks.core.data import DataRequest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QEvent, QTimer  # noqa: E402
from shiboken6 import isValid  # noqa: E402

from fourier_masks.app import requests as rq
from fourier_masks.app.forms import (
    AdversarialMapsDialog,
    AnalysisDialog,
    AttackDialog,
    CompareDialog,
    HeatMapDialog,
    ImageMaskDialog,
    ModelDetailsDialog,
    TrainDialog,
)
from fourier_masks.core.attacks.adversarial import AttackConfig
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig


def _shown(qtbot, dialog):
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_answer_outlives_the_dialog_that_deleted_itself(qtbot):
    dialog = ImageMaskDialog(ImageMaskConfig(check_every=10), 32)
    dialog.forms["masks"].set_value("lam", 0.5)
    QTimer.singleShot(0, dialog.accept)
    assert dialog.exec()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not isValid(dialog)  # WA_DeleteOnClose: the widgets are gone...
    assert dialog.answer == ImageMaskConfig(check_every=10, lam=0.5)  # ...the answer is not


def test_train_dialog_answers_one_config_per_ticked_augmentation(qtbot):
    dialog = _shown(qtbot, TrainDialog())
    dialog.augmentations["none"].setChecked(False)
    dialog.accept()
    assert dialog.isVisible() and dialog.answer is None
    assert dialog.error.text() == "tick at least one augmentation"
    dialog.augmentations["scale"].setChecked(True)
    dialog.augmentations["rotation"].setChecked(True)
    dialog.size.setValue(16)
    dialog.accept()
    request = dialog.answer
    assert isinstance(request, rq.TrainRequest) and not dialog.isVisible()
    assert (request.data.spec, request.size, request.channels) == ("builtin", 16, 1)
    assert [c.augmentation for c in request.configs] == ["scale", "rotation"]
    assert request.configs[0].epochs == 10


def test_compare_dialog_answers_both_mask_configs(qtbot):
    dialog = _shown(qtbot, CompareDialog())
    dialog.images_per_class.setValue(3)
    dialog.forms["set"].set_value("max_epochs", 7)
    dialog.accept()
    assert dialog.answer == rq.CompareRequest(
        DataRequest(spec="builtin", val_per_class=60),
        SetMaskConfig(lr=1e-2, batch_size=32, max_epochs=7),
        3,
        ImageMaskConfig(max_steps=2000),
    )


def test_a_bad_number_keeps_the_dialog_open_with_the_message(qtbot):
    dialog = _shown(qtbot, AttackDialog(ImageMaskConfig()))
    eps, _ = dialog.forms["attack"].fields["eps"]
    eps.setText("lots")
    dialog.accept()
    assert dialog.isVisible() and dialog.answer is None and "'lots' is not a number" in dialog.error.text()
    eps.setText("0.05")
    dialog.accept()
    assert dialog.answer == rq.AttackRequest(AttackConfig(eps=0.05), ImageMaskConfig())


def test_analysis_dialogs_answer_their_images_and_settings(qtbot):
    robustness = _shown(qtbot, AnalysisDialog("Robustness", "", 0))
    robustness.finish()
    robustness.dataset.combo.setCurrentText("torchvision:CIFAR10")
    robustness.accept()
    assert robustness.answer == rq.AnalysisRequest(
        DataRequest(spec="torchvision:CIFAR10", val_per_class=60, per_class=0)
    )
    heat = _shown(qtbot, HeatMapDialog())
    heat.eps.setValue(2.5)
    heat.dataset.combo.setCurrentText("")
    heat.accept()
    assert heat.answer is None and heat.error.text() == "choose a dataset"
    heat.dataset.combo.setCurrentText("builtin")
    heat.accept()
    assert heat.answer == rq.HeatMapRequest(DataRequest(spec="builtin", val_per_class=60, per_class=20), 2.5)
    maps = _shown(qtbot, AdversarialMapsDialog(16))
    for box in maps.attacks.values():
        box.setChecked(False)
    maps.accept()
    assert maps.answer is None and maps.error.text() == "tick at least one attack"
    maps.attacks["fgsm"].setChecked(True)
    maps.accept()
    assert isinstance(maps.answer, rq.AdversarialMapsRequest)
    assert maps.answer.data == DataRequest(spec="builtin", val_per_class=60, per_class=10)
    assert maps.answer.config.attacks == ("fgsm",) and maps.answer.config.masks == ImageMaskConfig.basile(16)


def test_model_details_are_load_model_keywords(qtbot):
    shapes = _shown(qtbot, ModelDetailsDialog("net.ts", "shapes"))
    shapes.classes.setValue(6)
    shapes.size.setValue(16)
    shapes.mean.setText("0.5")
    shapes.accept()
    assert shapes.isVisible() and shapes.error.text() == "give both mean and std, or neither"
    shapes.std.setText("0.25")
    shapes.accept()
    assert shapes.answer == rq.ModelDetails(in_channels=1, num_classes=6, image_size=16, mean=(0.5,), std=(0.25,))
    assert shapes.answer.load_kwargs() == {
        "in_channels": 1,
        "num_classes": 6,
        "image_size": 16,
        "mean": (0.5,),
        "std": (0.25,),
    }
    weights = _shown(qtbot, ModelDetailsDialog("weights.pt", "arch"))
    weights.arch.setCurrentText("resnet50")
    weights.accept()
    assert weights.answer is not None
    assert weights.answer.load_kwargs() == {"arch": "resnet50", "image_size": 224}
