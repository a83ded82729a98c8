"""Parameter forms generated from the engine's frozen config dataclasses.

A form shows every field of a config with its current value (the published defaults), and
``value()`` builds a new config, so the engine's own validation (``ConfigError``) decides
what is acceptable and its message is shown in the dialog. Each dialog answers one typed
value (``dialog.answer``): an engine config where one exists, else a request of
:mod:`.requests`.

A form shows first the few settings a newcomer changes; the rest wait folded under
“Advanced settings”. Every dialog fits a 1366×768 laptop screen: its forms scroll, while its
introduction, error line and OK/Cancel buttons stay in view (:func:`fit_to_screen`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.attacks import ATTACKS, AttackConfig
from fourier_masks.core.beyond import CORRUPTIONS, DEFAULT_RADII, SEVERITIES, AdversarialMapsConfig, ProfileConfig
from fourier_masks.core.data import DataRequest
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks import OBJECTIVES, SCHEDULES, ImageMaskConfig, SetMaskConfig
from fourier_masks.core.models import ARCHITECTURES, MODEL_NAME_EXAMPLES
from fourier_masks.core.spectra import COMPONENTS
from fourier_masks.core.study import MODEL_CODES, STUDY_PRESETS, StudyConfig, given_models, study_config
from fourier_masks.core.training import AUGMENTATION_CODES, AUGMENTATIONS, TrainConfig

from .requests import (
    AdversarialMapsRequest,
    AnalysisRequest,
    AttackRequest,
    CompareRequest,
    CorruptionsRequest,
    CutoffSweepRequest,
    HeatMapRequest,
    LayerSpectraRequest,
    ModelDetails,
    ProfileRequest,
    SensitivityRequest,
    TrainRequest,
)

__all__ = [
    "DataclassForm",
    "AdvancedSection",
    "ConfigDialog",
    "fit_to_screen",
    "ImageMaskDialog",
    "TrainDialog",
    "CompareDialog",
    "AttackDialog",
    "ModelDetailsDialog",
    "AnalysisDialog",
    "AdversarialMapsDialog",
    "HeatMapDialog",
    "CutoffSweepDialog",
    "SensitivityDialog",
    "LayerSpectraDialog",
    "CorruptionsDialog",
    "ProfileDialog",
    "StudyDialog",
    "DATASET_CHOICES",
]

CHOICES: dict[str, Sequence[str]] = {
    "objective": OBJECTIVES,
    "schedule": SCHEDULES,
    "augmentation": AUGMENTATIONS,
    "arch": tuple(ARCHITECTURES),
    "component": COMPONENTS,
    "method": ATTACKS,
}
HELP = {
    "lam": "λ: weight of the sparsity term",
    "lr": "learning rate (maximum of the one-cycle schedule)",
    "schedule": "published: the reference code's effective rate (≈ lr/25); nominal: one cycle over max_steps",
    "max_steps": "stop after this many steps even if the stop rule has not held",
    "patience": "steps (or epochs) in a row the stop rule must hold",
    "batch_size": "0 = chosen automatically",
    "eps": "PGD ε in [0, 1] pixel units (the paper's 0.06 normalised ≈ 0.01356)",
    "alpha": "PGD step size in pixel units; 0 = ε/8",
    "per_channel": "one mask per colour channel instead of one shared mask",
    "crop_scale": "random resized crop: range of the kept area",
    "component": "what the mask modulates: magnitude (the published mask) or phase",
    "fallback_to_last_kept": "not the published behaviour: replace a final mask that lost the prediction "
    "by the last earlier one that kept it",
    "jafr_lambda": "Jacobian frequency regularisation λ_freq: > 0 favours low frequencies (published 0.001)",
    "method": "pgd, fgsm, or deepfool (minimal perturbation, ignores ε)",
    "steps": "attack iterations (PGD, DeepFool)",
    "random_start": "PGD starts from a random point of the ε-ball",
    "arch": "network architecture",
    "epochs": "passes over the training images",
    "max_lr": "peak learning rate of the one-cycle schedule",
    "max_epochs": "stop after this many passes over the images even if the stop rule has not held",
    "pct_start": "share of the steps spent raising the learning rate (one-cycle warm-up)",
    "objective": "invariance (published) or basile: the cross-entropy objective of Basile et al.",
    "min_steps": "never stop before this many steps",
    "invariance_tol": "stop rule: largest change of the invariance term per step that counts as settled",
    "kept_tol": "stop rule: largest change of the kept fraction per step (or epoch) that counts as settled",
    "loss_tol": "Basile stop rule: the loss within this of the mean of its last values",
    "loss_window": "Basile stop rule: how many recent loss values make that mean",
    "settle_after": "from this step on the learning rate anneals to zero at max steps; 0 = never (published)",
    "accuracy_ratio": "stop only once the masked accuracy is at least this share of the unmasked one",
    "weight_decay": "Adam's L2 weight decay",
    "hflip": "random horizontal flips",
    "scale_range": "variant S: range of the random rescaling",
    "translate": "variant T: largest random shift, as a share of the image size",
    "rotate_deg": "variant R: largest random rotation in degrees",
    "pgd": "the attack adversarial training (variant A) trains against",
    "seed": "random seed, for repeatable runs",
    "heat_map_eps": "L2 norm of each Fourier basis perturbation, pixel units (Yin et al.: 4 for 32×32)",
    "heat_map_stride": "measure every n-th frequency of the heat map; 0 = chosen for the image size",
    "corruptions": "common corruptions measured (Hendrycks and Dietterich), comma-separated",
    "severities": "corruption severities, among 1–5",
}
# The settings a newcomer changes; the others are folded under “Advanced settings”.
IMAGE_MASK_BASIC = ("lam", "lr", "max_steps")
SET_MASK_BASIC = ("lam", "lr", "max_epochs", "batch_size")
DATASET_CHOICES = ("builtin", "builtin:planted", "torchvision:CIFAR10", "torchvision:MNIST", "torchvision:FashionMNIST")


def _label(name: str) -> str:
    return {
        "lam": "λ",
        "lr": "learning rate",
        "max_lr": "learning rate",
        "eps": "ε",
        "arch": "architecture",
        "heat_map_eps": "heat-map ε",
        "heat_map_stride": "heat-map stride",
    }.get(name, name.replace("_", " "))


def _text(value: Any) -> str:
    """A value as its widget shows it."""
    if isinstance(value, tuple):
        return ", ".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


# Title bar and borders the window manager adds around a dialog; Qt knows them only once the
# dialog is on screen, and the size has to be chosen before.
WINDOW_FRAME_PX = 40
# Narrower dialogs wrap their introductions and notes into tall columns.
READABLE_CHARS = 90


def fit_to_screen(dialog: QWidget, available: QRect | None = None) -> None:
    """Give ``dialog`` the size its contents ask for, its scrolled forms (``dialog.scroll``)
    whole, but no more than ``available`` (by default the free area of its parent's screen,
    without the task bar) less a title bar, and keep it inside that area: what does not fit
    scrolls, so OK and Cancel stay on screen."""
    if available is None:
        # The screen under the parent window, found through the application: with
        # QWidget.screen() here, a dialog freed by the garbage collector crashed the process
        # (tests/test_gc_stress.py; why is not established).
        anchor = dialog.parentWidget() or dialog
        centre = anchor.mapToGlobal(anchor.rect().center())
        screen = QGuiApplication.screenAt(centre) or QGuiApplication.primaryScreen()
        available = screen.availableGeometry()
    scroll = getattr(dialog, "scroll", None)
    content = scroll.widget() if isinstance(scroll, QScrollArea) else None
    bar = scroll.verticalScrollBar().sizeHint().width() if content is not None else 0
    wanted = dialog.sizeHint().width()
    if content is not None:  # a scroll area asks for less than its forms: ask for them whole
        wanted += max(0, content.sizeHint().width() + bar - scroll.sizeHint().width())
    width = min(max(wanted, READABLE_CHARS * dialog.fontMetrics().averageCharWidth()), available.width())
    height = dialog.heightForWidth(width) if dialog.hasHeightForWidth() else dialog.sizeHint().height()
    if content is not None:
        margins = dialog.layout().contentsMargins()
        inner = width - margins.left() - margins.right() - bar
        whole = content.heightForWidth(inner) if content.hasHeightForWidth() else content.sizeHint().height()
        height += max(0, whole - scroll.sizeHint().height())
    dialog.resize(width, min(height, available.height() - WINDOW_FRAME_PX))
    if dialog.isVisible():
        frame = dialog.frameGeometry()
        x = max(available.left(), min(frame.left(), available.right() + 1 - frame.width()))
        y = max(available.top(), min(frame.top(), available.bottom() + 1 - frame.height()))
        dialog.move(x, y)


class AdvancedSection(QWidget):
    """Settings a newcomer leaves alone, folded under an “Advanced settings” arrow, or with
    ``switch`` under a check box that also turns them on; folded widgets keep their values,
    so a form still reads them."""

    def __init__(self, title: str = "Advanced settings", switch: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.button: QAbstractButton
        if switch:
            self.button = QCheckBox(title)
        else:
            arrow = QToolButton()
            arrow.setText(title)
            arrow.setCheckable(True)
            arrow.setAutoRaise(True)
            arrow.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            arrow.setArrowType(Qt.ArrowType.RightArrow)
            self.button = arrow
        self.button.toggled.connect(self._on_button_toggled)
        self.content = QWidget()
        self.rows = QFormLayout(self.content)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.content.hide()
        layout.addWidget(self.button)
        layout.addWidget(self.content)

    def _on_button_toggled(self, shown: bool) -> None:
        if isinstance(self.button, QToolButton):
            self.button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.content.setVisible(shown)


class DataclassForm(QWidget):
    """Widgets for the fields of a frozen dataclass instance; ``value()`` rebuilds it.

    With ``basic``, those fields come first, then a line naming the fields whose values
    differ from ``reference`` (its source, its config: by default the published defaults),
    and the other fields folded in an :class:`AdvancedSection`.
    """

    changed = Signal()

    def __init__(
        self,
        config: Any,
        hidden: Sequence[str] = (),
        basic: Sequence[str] | None = None,
        reference: tuple[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.fields: dict[str, tuple[QWidget, Any]] = {}
        self.reference = reference or ("Karantzas et al.", type(config)())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        rows = QFormLayout()
        layout.addLayout(rows)
        self.note: QLabel | None = None
        self.advanced: AdvancedSection | None = None
        folded = rows  # where the other fields go: the same rows when every field is basic
        if basic is not None:
            self.note = QLabel()
            self.note.setWordWrap(True)
            self.note.setStyleSheet("color: palette(placeholder-text);")
            self.advanced = AdvancedSection()
            layout.addWidget(self.note)
            layout.addWidget(self.advanced)
            folded = self.advanced.rows
        for field in dataclasses.fields(config):
            if field.name in hidden:
                continue
            value = getattr(config, field.name)
            widget = self._widget(field.name, value)
            widget.setToolTip(HELP.get(field.name, ""))
            (rows if basic is None or field.name in basic else folded).addRow(_label(field.name), widget)
            self.fields[field.name] = (widget, value)
        if self.note is not None:
            self.changed.connect(self._update_note)
            self._update_note()

    def _update_note(self) -> None:
        """Say which values are not the reference's, so a newcomer knows the starting point."""
        assert self.note is not None
        source, reference = self.reference
        differ = []
        for name, (widget, original) in self.fields.items():
            wanted = getattr(reference, name)
            try:
                now = self._read(name, widget, original)
            except ConfigError:
                now = None
            if now != wanted:
                published = "" if dataclasses.is_dataclass(wanted) else f" (published: {_text(wanted)})"
                differ.append(_label(name) + published)
        self.note.setText(
            f"Values as published ({source}) except " + ", ".join(differ) + "."
            if differ
            else f"Values as published ({source})."
        )

    def _widget(self, name: str, value: Any) -> QWidget:
        """The widget for one field, wired to ``changed``."""
        if dataclasses.is_dataclass(value):
            box = QGroupBox()
            inner = QVBoxLayout(box)
            nested = DataclassForm(value)
            nested.changed.connect(self.changed)
            inner.addWidget(nested)
            return box
        if isinstance(value, bool):
            check = QCheckBox()
            check.setChecked(value)
            check.toggled.connect(self.changed)
            return check
        if isinstance(value, str) and name in CHOICES:
            combo = QComboBox()
            combo.addItems(list(CHOICES[name]))
            combo.setCurrentText(value)
            combo.currentTextChanged.connect(self.changed)
            return combo
        if isinstance(value, int):
            spin = QSpinBox()
            spin.setRange(-1, 100_000_000)
            spin.setValue(value)
            spin.valueChanged.connect(self.changed)
            return spin
        edit = QLineEdit(_text(value))
        edit.textChanged.connect(self.changed)
        return edit

    def set_value(self, name: str, value: Any) -> None:
        widget, _ = self.fields[name]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QLineEdit):
            widget.setText(_text(value))

    def value(self) -> Any:
        changes = {}
        for name, (widget, original) in self.fields.items():
            changes[name] = self._read(name, widget, original)
        return dataclasses.replace(self.config, **changes)

    @staticmethod
    def _read(name: str, widget: QWidget, original: Any) -> Any:
        if isinstance(widget, QGroupBox):
            return widget.findChild(DataclassForm).value()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QSpinBox):
            return widget.value()
        text = widget.text().strip()
        try:
            if isinstance(original, tuple):
                parts = [p for p in text.replace(" ", "").split(",") if p]
                return tuple(type(original[0])(p) if original else float(p) for p in parts)
            if isinstance(original, float):
                return float(text)
        except ValueError:
            raise ConfigError(f"{_label(name)}: {text!r} is not a number") from None
        return text


Answer = TypeVar("Answer")


class ConfigDialog(QDialog, Generic[Answer]):
    """A dialog of forms whose OK builds one typed answer (:meth:`build`); while that raises
    :class:`ConfigError`, the dialog stays open and shows the message.

    It deletes itself when it closes: a dialog parented to the window would otherwise live
    (and pile up) until the window goes, and one without a parent would be left to Python's
    garbage collector. So read ``answer`` after ``exec()`` returns, never the child widgets:
    it is a plain (frozen) Python object that outlives them.

    Subclasses add their rows to ``body``, which scrolls when the screen is too small, and
    call :meth:`finish`.
    """

    def __init__(self, title: str, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(title)
        self._outer = QVBoxLayout(self)
        if intro:
            text = QLabel(intro)
            text.setWordWrap(True)
            self._outer.addWidget(text)
        content = QWidget()
        self.body = QVBoxLayout(content)
        self.body.setContentsMargins(0, 0, 0, 0)
        # A plain QScrollArea: a Python override of its size hints would be called by Qt while
        # the garbage collector destroys the dialog, and crash (tests/test_gc_stress.py).
        self.scroll = QScrollArea()
        self.scroll.setWidget(content)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._outer.addWidget(self.scroll, 1)
        self.forms: dict[str, DataclassForm] = {}
        self.error = QLabel("")
        self.error.setStyleSheet("color:#a31515;")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.answer: Answer | None = None

    def add_form(
        self,
        key: str,
        title: str,
        config: Any,
        hidden: Sequence[str] = (),
        basic: Sequence[str] | None = None,
        reference: tuple[str, Any] | None = None,
    ) -> DataclassForm:
        box = QGroupBox(title)
        inner = QVBoxLayout(box)
        form = DataclassForm(config, hidden, basic, reference)
        inner.addWidget(form)
        self.body.addWidget(box)
        self.forms[key] = form
        return form

    def finish(self) -> None:
        """Close the form with the error line and the buttons, below the scrolled forms, and
        size the dialog for its screen (again whenever a section unfolds or folds)."""
        self.body.addStretch(1)
        self._outer.addWidget(self.error)
        self._outer.addWidget(self.buttons)
        for section in self.findChildren(AdvancedSection):
            section.button.toggled.connect(self._on_section_toggled)
        fit_to_screen(self)

    def _on_section_toggled(self) -> None:
        """Grow (or shrink) with the forms, up to the screen: the scroll area's size hint
        follows its forms only once told that they changed."""
        self.body.activate()
        self.scroll.updateGeometry()
        fit_to_screen(self)

    def build(self) -> Answer:
        """The answer the widgets describe now; raises ConfigError when they are invalid."""
        raise NotImplementedError(f"{type(self).__name__} answers nothing")

    def accept(self) -> None:
        try:
            answer = self.build()
        except ConfigError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.answer = answer
        super().accept()


class ImageMaskDialog(ConfigDialog[ImageMaskConfig]):
    """Settings for per-image masks (used for dropped images)."""

    def __init__(self, config: ImageMaskConfig, image_size: int, parent: QWidget | None = None) -> None:
        super().__init__(
            "Single-image mask settings",
            "Defaults are the published ones (Karantzas et al.). “Fast” keeps the published "
            "objective, schedule and stop rule, but masks still learning at step 2 000 settle "
            "(their learning rate anneals to zero) by step 3 000: masks that stop earlier are the "
            "published ones, the others end less sparse. On the built-in shapes 60 of 64 masks kept "
            "within 10 % of the published share of the spectrum, in 2.3 times fewer steps (Help → Speed "
            "and memory). "
            "“Basile” switches to the cross-entropy objective of Basile et al.",
            parent,
        )
        presets = QHBoxLayout()
        self.body.addLayout(presets)
        self.form = self.add_form(
            "masks", "single-image masks", config, hidden=("check_every",), basic=IMAGE_MASK_BASIC
        )
        for text, preset in (
            ("Published (Karantzas)", ImageMaskConfig()),
            ("Fast (settled by step 3 000)", ImageMaskConfig.fast()),
            ("Basile et al.", ImageMaskConfig.basile(image_size)),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda checked=False, p=preset: self.apply(p))
            presets.addWidget(button)
        self.finish()

    def apply(self, preset: ImageMaskConfig) -> None:
        for field in dataclasses.fields(preset):
            if field.name in self.form.fields:
                self.form.set_value(field.name, getattr(preset, field.name))

    def build(self) -> ImageMaskConfig:
        return self.form.value()


class _DatasetRow(QWidget):
    def __init__(self, default: str = "builtin", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.addItems(list(DATASET_CHOICES))
        self.combo.setCurrentText(default)
        self.combo.setToolTip("builtin, builtin:planted, torchvision:<Name>, or the path of an ImageFolder directory")
        layout.addWidget(self.combo, 1)

    @property
    def spec(self) -> str:
        spec = self.combo.currentText().strip()
        if not spec:
            raise ConfigError("choose a dataset")
        return spec


def _spin(value: int, low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


class TrainDialog(ConfigDialog[TrainRequest]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Train models",
            "Adam with a one-cycle schedule, keeping the lowest validation loss, as in the paper's "
            "training setup. One model is trained per ticked augmentation.",
            parent,
        )
        data = QFormLayout()
        self.dataset = _DatasetRow()
        self.size = _spin(32, 16, 512)
        self.channels = QComboBox()
        self.channels.addItems(["1", "3"])
        self.train_per_class = _spin(600, 1, 1_000_000)
        self.val_per_class = _spin(60, 1, 1_000_000)
        data.addRow("dataset", self.dataset)
        data.addRow("image size (px)", self.size)
        data.addRow("channels", self.channels)
        data.addRow("built-in: training images per class", self.train_per_class)
        data.addRow("built-in: validation images per class", self.val_per_class)
        self.body.addLayout(data)
        row = QHBoxLayout()
        self.augmentations: dict[str, QCheckBox] = {}
        for name in AUGMENTATIONS:
            box = QCheckBox(f"{AUGMENTATION_CODES[name]} ({name})")
            box.setChecked(name == "none")
            self.augmentations[name] = box
            row.addWidget(box)
        data.addRow("augmentations (one model each)", row)
        self.train_form = self.add_form(
            "train",
            "training",
            TrainConfig(epochs=10, max_lr=3e-3, crop_scale=(0.8, 1.0)),
            hidden=("augmentation", "mean", "std"),
            basic=("arch", "epochs", "max_lr", "batch_size"),
        )
        self.finish()

    def build(self) -> TrainRequest:
        chosen = [name for name, box in self.augmentations.items() if box.isChecked()]
        if not chosen:
            raise ConfigError("tick at least one augmentation")
        train = self.train_form.value()
        return TrainRequest(
            data=DataRequest(
                spec=self.dataset.spec,
                train_per_class=self.train_per_class.value(),
                val_per_class=self.val_per_class.value(),
            ),
            size=self.size.value(),
            channels=int(self.channels.currentText()),
            configs=tuple(train.replace(augmentation=name) for name in chosen),
        )


class CompareDialog(ConfigDialog[CompareRequest]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Compare models",
            "Learns each loaded model's dataset mask on a validation set and, "
            "optionally, single-image masks on the same images, then the comparison tables.",
            parent,
        )
        data = QFormLayout()
        self.dataset = _DatasetRow()
        self.val_per_class = _spin(60, 1, 1_000_000)
        self.images_per_class = _spin(5, 0, 100_000)
        data.addRow("validation data", self.dataset)
        data.addRow("built-in: validation images per class", self.val_per_class)
        data.addRow("single-image masks per class (0 = none)", self.images_per_class)
        self.body.addLayout(data)
        self.set_form = self.add_form(
            "set", "dataset masks", SetMaskConfig(lr=1e-2, batch_size=32, max_epochs=30), basic=SET_MASK_BASIC
        )
        self.image_form = self.add_form(
            "image",
            "single-image masks",
            ImageMaskConfig(max_steps=2000),
            hidden=("check_every",),
            basic=IMAGE_MASK_BASIC,
        )
        self.finish()

    def build(self) -> CompareRequest:
        return CompareRequest(
            data=DataRequest(spec=self.dataset.spec, val_per_class=self.val_per_class.value()),
            set_masks=self.set_form.value(),
            images_per_class=self.images_per_class.value(),
            image_masks=self.image_form.value(),
        )


class AttackDialog(ConfigDialog[AttackRequest]):
    def __init__(self, image_config: ImageMaskConfig, parent: QWidget | None = None) -> None:
        super().__init__(
            "Adversarial counterparts",
            "An attack on the model (PGD unless you choose another), then a mask for each adversarial "
            "image that keeps its (wrong) prediction.",
            parent,
        )
        self.attack_form = self.add_form("attack", "attack", AttackConfig(), basic=("method", "eps", "steps"))
        self.masks_form = self.add_form(
            "image", "single-image masks", image_config, hidden=("check_every",), basic=IMAGE_MASK_BASIC
        )
        self.finish()

    def build(self) -> AttackRequest:
        return AttackRequest(attack=self.attack_form.value(), masks=self.masks_form.value())


class ModelDetailsDialog(ConfigDialog[ModelDetails]):
    """What a model file does not say about itself: its torchvision architecture (plain
    state_dicts), or its input and output shapes (TorchScript / torch.export files)."""

    def __init__(self, file_name: str, needs: str, parent: QWidget | None = None) -> None:
        intro = (
            f"{file_name} holds weights without saying which network they belong to."
            if needs == "arch"
            else f"{file_name} is a compiled graph without Fourier Masks metadata: give its input and output."
        )
        super().__init__("Model details", intro, parent)
        self.needs = needs
        form = QFormLayout()
        self.arch = QComboBox()
        self.arch.setEditable(True)
        self.arch.addItems(["resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg16", "mobilenet_v3_small", "small_cnn"])
        self.channels = QComboBox()
        self.channels.addItems(["1", "3"])
        self.classes = _spin(10, 2, 100_000)
        self.size = _spin(224 if needs == "arch" else 32, 8, 4096)
        self.mean = QLineEdit("")
        self.std = QLineEdit("")
        self.mean.setPlaceholderText("e.g. 0.485, 0.456, 0.406 (empty: standard)")
        self.std.setPlaceholderText("e.g. 0.229, 0.224, 0.225")
        for edit in (self.mean, self.std):
            edit.setToolTip("one value per channel; empty: the standard normalisation for that number of channels")
        if needs == "arch":
            form.addRow("architecture (torchvision name)", self.arch)
        else:
            form.addRow("input channels", self.channels)
            form.addRow("classes", self.classes)
        form.addRow("image size (px)", self.size)
        form.addRow("normalisation mean", self.mean)
        form.addRow("normalisation std", self.std)
        self.body.addLayout(form)
        self.finish()

    @staticmethod
    def _numbers(widget: QLineEdit, name: str) -> tuple[float, ...] | None:
        text = widget.text().strip()
        if not text:
            return None
        try:
            return tuple(float(v) for v in text.replace(" ", "").split(",") if v)
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not a list of numbers") from None

    def build(self) -> ModelDetails:
        mean, std = self._numbers(self.mean, "mean"), self._numbers(self.std, "std")
        if (mean is None) != (std is None):
            raise ConfigError("give both mean and std, or neither")
        if self.needs == "arch":
            arch = self.arch.currentText().strip()
            if not arch:
                raise ConfigError("name the architecture")
            return ModelDetails(arch=arch, image_size=self.size.value(), mean=mean, std=std)
        return ModelDetails(
            in_channels=int(self.channels.currentText()),
            num_classes=self.classes.value(),
            image_size=self.size.value(),
            mean=mean,
            std=std,
        )


class _EvaluationDialog(ConfigDialog[Answer]):
    """Images (and settings) for one of the analyses beyond the main paper; subclasses add
    their settings to ``extra`` and call ``finish()``."""

    def __init__(self, title: str, intro: str, per_class: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(title, intro, parent)
        data = QFormLayout()
        self.dataset = _DatasetRow()
        self.val_per_class = _spin(60, 1, 1_000_000)
        self.per_class = _spin(per_class, 0, 1_000_000)
        data.addRow("validation data", self.dataset)
        data.addRow("built-in: validation images per class", self.val_per_class)
        data.addRow("images per class used (0 = all)", self.per_class)
        self.body.addLayout(data)
        self.extra = QFormLayout()
        self.body.addLayout(self.extra)

    def data(self) -> DataRequest:
        return DataRequest(
            spec=self.dataset.spec, val_per_class=self.val_per_class.value(), per_class=self.per_class.value()
        )


class AnalysisDialog(_EvaluationDialog[AnalysisRequest]):
    """Only the images of an analysis (the robustness table); call ``finish()`` after any
    additions."""

    def build(self) -> AnalysisRequest:
        return AnalysisRequest(data=self.data())


PRESET_VALUE = "the preset's"


def _preset_spin(below: int, high: int) -> QSpinBox:
    """A spin box whose lowest value, ``below`` (one under the smallest real choice), reads
    "the preset's" and means: leave it to the preset."""
    spin = _spin(below, below, high)
    spin.setSpecialValueText(PRESET_VALUE)
    return spin


def _chosen(spin: QSpinBox) -> int | None:
    return None if spin.value() == spin.minimum() else spin.value()


class StudyDialog(ConfigDialog[StudyConfig]):
    """A new study (the ``study`` command): the paper's whole study on a data folder,
    torchvision data or the built-in data; the answer is its StudyConfig."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "New study",
            "Trains the chosen variants of one architecture, or takes the models you give, learns every "
            "mask of the paper, and writes Tables 1–3, the findings table and the figures. A folder needs "
            "the ImageFolder layout (one folder per class; train/ and val/ or test/ inside to train). "
            "Interrupted studies resume where they stopped.",
            parent,
        )
        rows = QFormLayout()
        self.dataset = _DatasetRow()
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._on_browse_clicked)
        self.dataset.layout().addWidget(browse)
        self.preset = QComboBox()
        self.preset.addItems(list(STUDY_PRESETS))
        self.preset.setToolTip(
            "standard: sized for a CPU (32 px, small CNN, 20 epochs), not the published settings; "
            "quick: a few minutes on a CPU; paper: the paper's published settings (128 px, VGG11-bn)"
        )
        self.arch = QComboBox()
        self.arch.setEditable(True)
        self.arch.addItems([PRESET_VALUE, *ARCHITECTURES])
        self.size = _preset_spin(7, 1024)
        self.channels = QComboBox()
        self.channels.addItems([PRESET_VALUE, "1", "3"])
        self.models = {code: QCheckBox(code) for code in MODEL_CODES}
        models = QHBoxLayout()
        for code, box in self.models.items():
            box.setChecked(True)
            box.setToolTip(MODEL_CODES[code])
            models.addWidget(box)
        self.models["N"].setEnabled(False)  # every model is compared with the vanilla one
        self.epochs = _preset_spin(0, 10_000)
        self.per_class = _preset_spin(1, 1_000_000)
        rows.addRow("data", self.dataset)
        rows.addRow("preset", self.preset)
        rows.addRow("models", models)
        self.body.addLayout(rows)
        overrides = AdvancedSection("Change the preset's settings")
        overrides.rows.addRow("architecture", self.arch)
        overrides.rows.addRow("image size (px)", self.size)
        overrides.rows.addRow("channels", self.channels)
        overrides.rows.addRow("training epochs", self.epochs)
        overrides.rows.addRow("single-image masks per class", self.per_class)
        self.body.addWidget(overrides)
        given_section = AdvancedSection("Study given models instead (nothing is trained)", switch=True)
        self.given_box = given_section.button
        self.given = {code: QLineEdit() for code in MODEL_CODES}
        for code, edit in self.given.items():
            edit.setPlaceholderText(
                f"a model file, folder or name, e.g. {MODEL_NAME_EXAMPLES[0 if code == 'N' else 3]}"
                if code in ("N", "A")
                else "optional"
            )
            edit.setToolTip(edit.placeholderText())
            given_section.rows.addRow(f"{code} ({MODEL_CODES[code]})", edit)
        self.given_box.toggled.connect(self._on_given_toggled)
        self.body.addWidget(given_section)
        self.finish()

    def _on_given_toggled(self, on: bool) -> None:
        """Given models bring their own architecture, size, channels and variants."""
        for widget in (self.arch, self.size, self.channels, self.epochs, *self.models.values()):
            widget.setEnabled(not on and widget is not self.models["N"])

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A data folder (ImageFolder layout)")
        if folder:
            self.dataset.combo.setCurrentText(folder)

    def build(self) -> StudyConfig:
        if self.given_box.isChecked():
            pairs = [(code, edit.text().strip()) for code, edit in self.given.items() if edit.text().strip()]
            return study_config(
                self.preset.currentText(),
                dataset=self.dataset.spec,
                images_per_class=_chosen(self.per_class),
                **given_models(pairs),
            )
        return study_config(
            self.preset.currentText(),
            epochs=_chosen(self.epochs),
            dataset=self.dataset.spec,
            arch=None if self.arch.currentText().strip() in ("", PRESET_VALUE) else self.arch.currentText().strip(),
            image_size=_chosen(self.size),
            channels=None if self.channels.currentText() == PRESET_VALUE else int(self.channels.currentText()),
            augmentations=tuple(MODEL_CODES[code] for code, box in self.models.items() if box.isChecked()),
            images_per_class=_chosen(self.per_class),
        )


class HeatMapDialog(_EvaluationDialog[HeatMapRequest]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Fourier heat map",
            "Error rate when each image is perturbed by ±ε times each real Fourier basis image (Yin et al. 2019).",
            20,
            parent,
        )
        self.eps = QDoubleSpinBox()
        self.eps.setRange(0.01, 100.0)
        self.eps.setValue(4.0)
        self.extra.addRow("ε (L2 norm, pixel units; 4 for 32×32)", self.eps)
        self.finish()

    def build(self) -> HeatMapRequest:
        return HeatMapRequest(data=self.data(), eps=self.eps.value())


class AdversarialMapsDialog(_EvaluationDialog[AdversarialMapsRequest]):
    def __init__(self, image_size: int, parent: QWidget | None = None) -> None:
        super().__init__(
            "Adversarial frequency maps",
            "Essential maps of correctly classified images and "
            "adversarial maps of the images each attack flips, learned with Basile et al.'s objective "
            "by default; compared by cosine similarity and IdCor.",
            10,
            parent,
        )
        self.attacks = {name: QCheckBox(name.upper()) for name in ATTACKS}
        row = QHBoxLayout()
        for name, box in self.attacks.items():
            box.setChecked(name in ("pgd", "fgsm"))
            row.addWidget(box)
        self.extra.addRow("attacks", row)
        self.permutations = _spin(100, 0, 100_000)
        self.extra.addRow("IdCor permutations", self.permutations)
        self.attack_form = self.add_form("attack", "attack", AttackConfig(), hidden=("method",), basic=("eps", "steps"))
        self.masks_form = self.add_form(
            "masks",
            "maps",
            ImageMaskConfig.basile(image_size),
            hidden=("check_every",),
            basic=IMAGE_MASK_BASIC,
            reference=("Basile et al.", ImageMaskConfig.basile(image_size)),
        )
        self.finish()

    def build(self) -> AdversarialMapsRequest:
        chosen = tuple(name for name, box in self.attacks.items() if box.isChecked())
        if not chosen:
            raise ConfigError("tick at least one attack")
        config = AdversarialMapsConfig(
            attacks=chosen,
            attack=self.attack_form.value(),
            masks=self.masks_form.value(),
            permutations=self.permutations.value(),
        )
        return AdversarialMapsRequest(data=self.data(), config=config)


def cutoff_radii(count: int) -> tuple[float, ...]:
    """``count`` radii evenly spaced up to √2 × Nyquist (the corners): the sweep's default
    radii for 16."""
    if count == len(DEFAULT_RADII):
        return DEFAULT_RADII
    top = DEFAULT_RADII[-1]
    return tuple(top * (k + 1) / count for k in range(count))


def _numbers_of(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a comma-separated list of numbers") from None


def _ticks(
    names: Sequence[str], ticked: Sequence[str], columns: int, label=str
) -> tuple[QWidget, dict[str, QCheckBox]]:
    """A grid of check boxes, ``columns`` a row, those in ``ticked`` ticked."""
    widget = QWidget()
    grid = QGridLayout(widget)
    grid.setContentsMargins(0, 0, 0, 0)
    boxes = {}
    for k, name in enumerate(names):
        box = QCheckBox(label(name))
        box.setChecked(name in ticked)
        grid.addWidget(box, k // columns, k % columns)
        boxes[name] = box
    return widget, boxes


def _reference_combo(models: Sequence[str], default: str | None, optional: bool = True) -> QComboBox:
    combo = QComboBox()
    if optional:
        combo.addItem(NO_REFERENCE)
    combo.addItems(list(models))
    if default in models:
        combo.setCurrentText(default)
    combo.setToolTip("mCE: each model's corruption errors over this model's (100 % = as robust as it)")
    return combo


NO_REFERENCE = "none (no mCE)"


def _reference(combo: QComboBox) -> str | None:
    return None if combo.currentText() == NO_REFERENCE else combo.currentText()


class CutoffSweepDialog(_EvaluationDialog[CutoffSweepRequest]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Cutoff sweep",
            "Accuracy of every loaded model on low-pass (keep radius ≤ r) and high-pass (keep radius > r) "
            "filtered images, for evenly spaced cutoff radii r; the radius where accuracy halves summarises each "
            "curve. With ε > 0, on PGD adversarial images too.",
            20,
            parent,
        )
        self.radii = _spin(len(DEFAULT_RADII), 2, 256)
        self.extra.addRow("cutoff radii (evenly spaced up to √2 × Nyquist)", self.radii)
        self.eps = QLineEdit("0")
        self.eps.setToolTip("comma-separated; 0 = the clean images, others PGD's ε in [0, 1] pixel units")
        self.extra.addRow("PGD ε (0 = clean images)", self.eps)
        self.attack_form = self.add_form("attack", "attack (for ε > 0)", AttackConfig(), hidden=("method", "eps"))
        self.finish()

    def build(self) -> CutoffSweepRequest:
        eps = _numbers_of(self.eps.text(), "ε")
        if not eps or any(not 0 <= e <= 1 for e in eps):
            raise ConfigError("ε: one or more values in [0, 1] (0 = the clean images)")
        return CutoffSweepRequest(
            data=self.data(), radii=cutoff_radii(self.radii.value()), eps=eps, attack=self.attack_form.value()
        )


class SensitivityDialog(_EvaluationDialog[SensitivityRequest]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Gradient spectrum",
            "The Fourier spectrum of the model's input gradients (the loss's, per image, unit energy): where in "
            "frequency the model is sensitive, per channel, with its radial profile and spread over images.",
            20,
            parent,
        )
        self.finish()

    def build(self) -> SensitivityRequest:
        return SensitivityRequest(data=self.data())


class LayerSpectraDialog(_EvaluationDialog[LayerSpectraRequest]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Layer spectra",
            "The log amplitude of each stage's feature maps from the zero frequency to Nyquist, relative to the "
            "zero frequency (Park and Kim): how much high frequency each stage keeps.",
            10,
            parent,
        )
        self.layers = QLineEdit("")
        self.layers.setPlaceholderText("the model's own stages")
        self.layers.setToolTip("module names, comma-separated (e.g. layer1, layer2); empty = the model's stages")
        self.extra.addRow("stages", self.layers)
        self.finish()

    def build(self) -> LayerSpectraRequest:
        layers = tuple(p.strip() for p in self.layers.text().split(",") if p.strip())
        return LayerSpectraRequest(data=self.data(), layers=layers)


class CorruptionsDialog(_EvaluationDialog[CorruptionsRequest]):
    def __init__(self, models: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(
            "Common corruptions",
            "Accuracy of every loaded model under Hendrycks and Dietterich's common corruptions at each "
            "severity, their mean corruption error (mCE) against a reference model, and where in frequency "
            "each corruption changes the images (spectral centroid).",
            10,
            parent,
        )
        widget, self.corruptions = _ticks(tuple(CORRUPTIONS), tuple(CORRUPTIONS), 3, lambda n: n.replace("_", " "))
        self.extra.addRow("corruptions", widget)
        widget, self.severities = _ticks(SEVERITIES, SEVERITIES, 5)
        self.extra.addRow("severities", widget)
        self.reference = _reference_combo(models, "N" if "N" in models else (models[0] if models else None))
        self.extra.addRow("mCE reference", self.reference)
        self.seed = _spin(0, 0, 2**31 - 1)
        self.extra.addRow("seed", self.seed)
        self.finish()

    def build(self) -> CorruptionsRequest:
        corruptions = tuple(name for name, box in self.corruptions.items() if box.isChecked())
        severities = tuple(level for level, box in self.severities.items() if box.isChecked())
        if not corruptions:
            raise ConfigError("tick at least one corruption")
        if not severities:
            raise ConfigError("tick at least one severity")
        return CorruptionsRequest(
            data=self.data(),
            corruptions=corruptions,
            severities=severities,
            reference=_reference(self.reference),
            seed=self.seed.value(),
        )


class ProfileDialog(_EvaluationDialog[ProfileRequest]):
    """Models to profile (the run's loaded ones), the mCE reference and the profile's settings."""

    def __init__(self, models: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(
            "Profile models",
            "One table for a zoo of models: clean, PGD and corruption accuracy, mCE, the dataset mask's kept "
            "fraction and radial centroid, the heat map's mean error, the gradient's high-frequency share and "
            "the cutoff halving radii, with rank correlations between them. Models already profiled with the "
            "same settings and images are read back, not measured again.",
            10,
            parent,
        )
        widget, self.models = _ticks(tuple(models), tuple(models), 3)
        self.extra.addRow("models", widget)
        self.reference = _reference_combo(models, "N" if "N" in models else None, optional=False)
        self.extra.addRow("mCE reference", self.reference)
        self.config_form = self.add_form(
            "profile",
            "settings",
            ProfileConfig(),
            hidden=("radii",),
            basic=("heat_map_eps", "severities", "seed"),
            reference=("each measure's authors", ProfileConfig()),
        )
        self.finish()

    def build(self) -> ProfileRequest:
        chosen = tuple(name for name, box in self.models.items() if box.isChecked())
        if not chosen:
            raise ConfigError("tick at least one model")
        reference = self.reference.currentText() or None
        if reference is not None and reference not in chosen:
            raise ConfigError(f"the mCE reference {reference} must be among the models profiled")
        return ProfileRequest(data=self.data(), models=chosen, config=self.config_form.value(), reference=reference)
