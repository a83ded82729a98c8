"""What the app's dialogs answer: small frozen dataclasses, one per kind of request.

A dialog (:mod:`.forms`) builds one of these when OK is pressed, or one of the engine's
own configs where one exists (``ImageMaskConfig``, ``StudyConfig``); the window reads it
after ``exec()`` returns and hands it to the job. No Qt here, so the requests can be built
and checked anywhere (tests, scripts) without a dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fourier_masks.core.attacks import AttackConfig
from fourier_masks.core.beyond import CORRUPTIONS, DEFAULT_RADII, SEVERITIES, AdversarialMapsConfig, ProfileConfig
from fourier_masks.core.data import DataRequest
from fourier_masks.core.masks import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.training import TrainConfig

__all__ = [
    "AdversarialMapsRequest",
    "AnalysisRequest",
    "AttackRequest",
    "CompareRequest",
    "CorruptionsRequest",
    "CutoffSweepRequest",
    "LayerSpectraRequest",
    "ProfileRequest",
    "SensitivityRequest",
    "HeatMapRequest",
    "ModelDetails",
    "TrainRequest",
]


@dataclass(frozen=True)
class TrainRequest:
    """Models to train on one dataset, at ``size`` px and ``channels`` channels: one per
    configuration (one per augmentation)."""

    data: DataRequest
    size: int
    channels: int
    configs: tuple[TrainConfig, ...]


@dataclass(frozen=True)
class CompareRequest:
    """Dataset masks of every loaded model on one validation set and, when
    ``images_per_class`` > 0, single-image masks of that many images per class."""

    data: DataRequest
    set_masks: SetMaskConfig
    images_per_class: int
    image_masks: ImageMaskConfig


@dataclass(frozen=True)
class AttackRequest:
    """Adversarial counterparts of a group's images, and the masks learned for them."""

    attack: AttackConfig
    masks: ImageMaskConfig


@dataclass(frozen=True)
class AnalysisRequest:
    """An analysis that needs only its images (the robustness table)."""

    data: DataRequest


@dataclass(frozen=True)
class HeatMapRequest:
    """A Fourier heat map: its images and the L2 norm ε of each basis perturbation."""

    data: DataRequest
    eps: float = 4.0


@dataclass(frozen=True)
class CutoffSweepRequest:
    """Every loaded model's accuracy on low- and high-pass filtered images, at each cutoff
    radius (× Nyquist) and each PGD ε (0 = the clean images; ``attack``'s own ε is replaced)."""

    data: DataRequest
    radii: tuple[float, ...] = DEFAULT_RADII
    eps: tuple[float, ...] = (0.0,)
    attack: AttackConfig = AttackConfig()


@dataclass(frozen=True)
class SensitivityRequest:
    """The Fourier spectrum of one model's input gradients: only its images."""

    data: DataRequest


@dataclass(frozen=True)
class LayerSpectraRequest:
    """The relative log amplitude of one model's feature maps per stage; ``layers`` names the
    stages (module names), empty for the model's own."""

    data: DataRequest
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorruptionsRequest:
    """Every loaded model's accuracy under the common corruptions at ``severities``; mCE
    against ``reference`` (a loaded model's name, None for none)."""

    data: DataRequest
    corruptions: tuple[str, ...] = tuple(CORRUPTIONS)
    severities: tuple[int, ...] = SEVERITIES
    reference: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class ProfileRequest:
    """The zoo profile of ``models`` (loaded models' names), mCE against ``reference``."""

    data: DataRequest
    models: tuple[str, ...]
    config: ProfileConfig = ProfileConfig()
    reference: str | None = None


@dataclass(frozen=True)
class AdversarialMapsRequest:
    """Essential vs adversarial frequency maps: their images and the engine's config."""

    data: DataRequest
    config: AdversarialMapsConfig


@dataclass(frozen=True)
class ModelDetails:
    """What a model file may not say about itself: the keyword arguments of
    :func:`fourier_masks.core.models.load_model`. ``None`` (or empty) leaves one to the file."""

    arch: str | None = None
    in_channels: int | None = None
    num_classes: int | None = None
    image_size: int | None = None
    class_names: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def load_kwargs(self) -> dict[str, Any]:
        """The details given, as keyword arguments of ``load_model``."""
        kwargs: dict[str, Any] = {
            "arch": self.arch,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "class_names": self.class_names or None,
            "mean": self.mean,
            "std": self.std,
        }
        return {key: value for key, value in kwargs.items() if value is not None}
