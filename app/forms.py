"""Parameter forms generated from the engine's frozen config dataclasses.

A form shows every field of a config with its current value (the published defaults), and
``value()`` builds a new config, so the engine's own validation (``ConfigError``) decides
what is acceptable and its message is shown in the dialog. Each dialog answers one typed
value (``dialog.answer``): an engine config where one exists, else a request of
:mod:`.requests`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.attacks import ATTACKS, AttackConfig
from fourier_masks.core.beyond import AdversarialMapsConfig
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
    HeatMapRequest,
    ModelDetails,
    TrainRequest,
)

__all__ = [
    "DataclassForm",
    "ConfigDialog",
    "ImageMaskDialog",
    "TrainDialog",
    "CompareDialog",
    "AttackDialog",
    "ModelDetailsDialog",
    "AnalysisDialog",
    "AdversarialMapsDialog",
    "HeatMapDialog",
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
}
DATASET_CHOICES = ("builtin", "builtin:planted", "torchvision:CIFAR10", "torchvision:MNIST", "torchvision:FashionMNIST")


def _label(name: str) -> str:
    return {"lam": "λ", "lr": "learning rate", "eps": "ε"}.get(name, name.replace("_", " "))


class DataclassForm(QWidget):
    """Widgets for the fields of a frozen dataclass instance; ``value()`` rebuilds it."""

    def __init__(self, config: Any, hidden: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.fields: dict[str, tuple[QWidget, Any]] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for field in dataclasses.fields(config):
            if field.name in hidden:
                continue
            value = getattr(config, field.name)
            widget = self._widget(field.name, value)
            widget.setToolTip(HELP.get(field.name, ""))
            layout.addRow(_label(field.name), widget)
            self.fields[field.name] = (widget, value)

    def _widget(self, name: str, value: Any) -> QWidget:
        if dataclasses.is_dataclass(value):
            box = QGroupBox()
            inner = QVBoxLayout(box)
            inner.addWidget(DataclassForm(value))
            return box
        if isinstance(value, bool):
            widget = QCheckBox()
            widget.setChecked(value)
            return widget
        if isinstance(value, str) and name in CHOICES:
            widget = QComboBox()
            widget.addItems(list(CHOICES[name]))
            widget.setCurrentText(value)
            return widget
        if isinstance(value, int):
            widget = QSpinBox()
            widget.setRange(-1, 100_000_000)
            widget.setValue(value)
            return widget
        if isinstance(value, tuple):
            return QLineEdit(", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value))
        if isinstance(value, float):
            return QLineEdit(f"{value:g}")
        return QLineEdit(str(value))

    def set_value(self, name: str, value: Any) -> None:
        widget, _ = self.fields[name]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QLineEdit):
            widget.setText(f"{value:g}" if isinstance(value, float) else str(value))

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
    """

    def __init__(self, title: str, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(title)
        self.layout_ = QVBoxLayout(self)
        if intro:
            text = QLabel(intro)
            text.setWordWrap(True)
            self.layout_.addWidget(text)
        self.forms: dict[str, DataclassForm] = {}
        self.error = QLabel("")
        self.error.setStyleSheet("color:#a31515;")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.answer: Answer | None = None

    def add_form(self, key: str, title: str, config: Any, hidden: Sequence[str] = ()) -> DataclassForm:
        box = QGroupBox(title)
        inner = QVBoxLayout(box)
        form = DataclassForm(config, hidden)
        inner.addWidget(form)
        self.layout_.addWidget(box)
        self.forms[key] = form
        return form

    def finish(self) -> None:
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(self.buttons)

    def build(self) -> Answer:
        """The answer the widgets describe now; raises ConfigError when they are invalid."""
        raise NotImplementedError(f"{type(self).__name__} answers nothing")

    def accept(self) -> None:
        try:
            answer = self.build()
        except ConfigError as exc:
            self.error.setText(str(exc))
            return
        self.answer = answer
        super().accept()


class ImageMaskDialog(ConfigDialog[ImageMaskConfig]):
    """Settings for per-image masks (used for dropped images)."""

    def __init__(self, config: ImageMaskConfig, image_size: int, parent: QWidget | None = None) -> None:
        super().__init__(
            "Single-image mask settings",
            "Defaults are the published ones (Karantzas et al.). “Fast” keeps the published "
            "objective, schedule and stop rule, but masks still learning at step 2 000 anneal "
            "their learning rate to zero by step 3 000: masks that stop earlier are the published "
            "ones, the others end less sparse than the published rule would leave them (measured "
            "in docs/performance.md). “Basile” switches to the cross-entropy objective of "
            "Basile et al.",
            parent,
        )
        presets = QHBoxLayout()
        self.form = self.add_form("masks", "single-image masks", config, hidden=("check_every",))
        for text, preset in (
            ("Published (Karantzas)", ImageMaskConfig()),
            ("Fast (settled by step 3 000)", ImageMaskConfig.fast()),
            ("Basile et al.", ImageMaskConfig.basile(image_size)),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda checked=False, p=preset: self.apply(p))
            presets.addWidget(button)
        self.layout_.insertLayout(1, presets)
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
            "Adam with a one-cycle schedule, keeping the lowest validation loss "
            "(METHOD.md §4). One model is trained per ticked augmentation.",
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
        self.layout_.addLayout(data)
        row = QHBoxLayout()
        self.augmentations: dict[str, QCheckBox] = {}
        for name in AUGMENTATIONS:
            box = QCheckBox(f"{AUGMENTATION_CODES[name]} ({name})")
            box.setChecked(name == "none")
            self.augmentations[name] = box
            row.addWidget(box)
        self.layout_.addLayout(row)
        self.train_form = self.add_form(
            "train",
            "training",
            TrainConfig(epochs=10, max_lr=3e-3, crop_scale=(0.8, 1.0)),
            hidden=("augmentation", "mean", "std"),
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
        self.layout_.addLayout(data)
        self.set_form = self.add_form("set", "dataset masks", SetMaskConfig(lr=1e-2, batch_size=32, max_epochs=30))
        self.image_form = self.add_form(
            "image", "single-image masks", ImageMaskConfig(max_steps=2000), hidden=("check_every",)
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
            "PGD against the model, then a mask for each adversarial image that keeps its (wrong) prediction.",
            parent,
        )
        self.attack_form = self.add_form("attack", "PGD", AttackConfig())
        self.masks_form = self.add_form("image", "single-image masks", image_config, hidden=("check_every",))
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
        self.mean.setPlaceholderText("e.g. 0.485, 0.456, 0.406 (empty: standard for the channels)")
        self.std.setPlaceholderText("e.g. 0.229, 0.224, 0.225")
        if needs == "arch":
            form.addRow("architecture (torchvision name)", self.arch)
        else:
            form.addRow("input channels", self.channels)
            form.addRow("classes", self.classes)
        form.addRow("image size (px)", self.size)
        form.addRow("normalisation mean", self.mean)
        form.addRow("normalisation std", self.std)
        self.layout_.addLayout(form)
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
        self.layout_.addLayout(data)
        self.extra = QFormLayout()
        self.layout_.addLayout(self.extra)

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
            "quick: a few minutes on a CPU; paper: METHOD.md's published settings (128 px, VGG11-bn)"
        )
        self.arch = QComboBox()
        self.arch.setEditable(True)
        self.arch.addItems([PRESET_VALUE, *ARCHITECTURES])
        # 0 (shown as "the preset's") leaves a setting to the preset.
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
        rows.addRow("architecture", self.arch)
        rows.addRow("image size (px)", self.size)
        rows.addRow("channels", self.channels)
        rows.addRow("models", models)
        rows.addRow("training epochs", self.epochs)
        rows.addRow("single-image masks per class", self.per_class)
        self.layout_.addLayout(rows)
        self.given_box = QGroupBox("Study given models instead (nothing is trained)")
        self.given_box.setCheckable(True)
        self.given_box.setChecked(False)
        given_rows = QFormLayout(self.given_box)
        self.given = {code: QLineEdit() for code in MODEL_CODES}
        for code, edit in self.given.items():
            edit.setPlaceholderText(
                f"a model file, folder or name, e.g. {MODEL_NAME_EXAMPLES[0 if code == 'N' else 3]}"
                if code in ("N", "A")
                else "optional"
            )
            given_rows.addRow(f"{code} ({MODEL_CODES[code]})", edit)
        self.given_box.toggled.connect(self._on_given_toggled)
        self.layout_.addWidget(self.given_box)
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
        self.attack_form = self.add_form("attack", "attack", AttackConfig(), hidden=("method",))
        self.masks_form = self.add_form("masks", "maps", ImageMaskConfig.basile(image_size), hidden=("check_every",))
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
