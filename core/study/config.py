"""What a study runs: its settings, the presets, and the model variants by code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..attacks.adversarial import AttackConfig
from ..errors import ConfigError
from ..masks.config import ImageMaskConfig, SetMaskConfig
from ..runs.manifest import DataRecord
from ..training.train import AUGMENTATION_CODES, AUGMENTATIONS, TrainConfig


@dataclass(frozen=True)
class StudyConfig:
    """What the study runs. :meth:`quick` and :meth:`full` are the demo's presets."""

    dataset: str = "builtin:shapes"
    image_size: int = 32
    channels: int = 1
    train_per_class: int = 1000
    val_per_class: int = 200
    arch: str = "small_cnn"
    augmentations: tuple[str, ...] = AUGMENTATIONS
    train: TrainConfig = TrainConfig()
    set_mask: SetMaskConfig = SetMaskConfig()
    image_mask: ImageMaskConfig = ImageMaskConfig()
    images_per_class: int = 30  # validation images per class given single-image masks; 0 = all
    attack: AttackConfig = AttackConfig()
    stability_seeds: tuple[int, ...] = (1, 2)
    bands: int = 32
    examples: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [a for a in self.augmentations if a not in AUGMENTATIONS]
        if unknown:
            raise ConfigError(f"unknown augmentation(s) {unknown}; choose from {AUGMENTATIONS}")
        if "none" not in self.augmentations:
            raise ConfigError("the study compares every model with the vanilla one: include 'none'")
        if self.images_per_class < 0 or self.images_per_class == 1:
            raise ConfigError(
                "images_per_class must be 0 (every validation image) or at least 2 (the linear probe needs two per class)"
            )
        if self.bands < 2:
            raise ConfigError("bands must be at least 2")

    @classmethod
    def quick(cls, **changes: Any) -> StudyConfig:
        """A reduced study for a laptop CPU (a few minutes on 2 cores).

        Fewer images and epochs than the published settings, a smaller set-mask batch with a
        higher learning rate (so a small validation set still gets enough mask updates), and
        single-image masks capped at 2 000 steps (the published stop rule still applies).
        """
        defaults: dict[str, Any] = dict(
            image_size=32,
            train_per_class=600,
            val_per_class=60,
            train=TrainConfig(
                epochs=10, max_lr=3e-3, crop_scale=(0.8, 1.0), pgd=AttackConfig(steps=5, alpha=AttackConfig().eps / 4)
            ),
            set_mask=SetMaskConfig(lr=1e-2, batch_size=32, max_epochs=30),
            image_mask=ImageMaskConfig(max_steps=2000),
            images_per_class=10,
            stability_seeds=(1,),
        )
        return cls(**{**defaults, **changes})

    @classmethod
    def full(cls, **changes: Any) -> StudyConfig:
        """The default demo: published optimisation settings on the built-in data, sized to
        run within about half an hour on 2 CPU cores (single-image masks capped at 6 000 steps)."""
        defaults: dict[str, Any] = dict(
            image_size=32,
            train_per_class=1500,
            val_per_class=200,
            train=TrainConfig(epochs=20, max_lr=3e-3, crop_scale=(0.8, 1.0)),
            set_mask=SetMaskConfig(),
            image_mask=ImageMaskConfig(max_steps=6000),
            images_per_class=30,
        )
        return cls(**{**defaults, **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def data_record(self) -> DataRecord:
        """The data the study runs on, as the run records it."""
        return DataRecord(
            spec=self.dataset,
            size=self.image_size,
            channels=self.channels,
            seed=self.seed,
            train_per_class=self.train_per_class,
            val_per_class=self.val_per_class,
        )


STUDY_PRESETS = ("full", "quick", "paper")


MODEL_CODES = {code: augmentation for augmentation, code in AUGMENTATION_CODES.items()}  # "N" → "none", ...


def study_config(preset: str = "full", *, epochs: int | None = None, **changes: Any) -> StudyConfig:
    """A study preset with fields changed (``None`` keeps the preset's); the one place the CLI's
    ``study`` and the app's *New study…* turn a preset and the user's choices into settings.

    ``full``: published optimisation settings sized for a CPU (:meth:`StudyConfig.full`);
    ``quick``: :meth:`StudyConfig.quick`; ``paper``: METHOD.md's settings, 128 px grayscale,
    VGG11-bn, 50 epochs, normalisation 0.449/0.226, every validation image (Tables 2–3 then use
    those each model classifies correctly), published mask settings.
    """
    if preset not in STUDY_PRESETS:
        raise ConfigError(f"unknown study preset {preset!r}; choose from {STUDY_PRESETS}")
    if preset == "paper":
        base = StudyConfig.full(
            image_size=128,
            channels=1,
            arch="vgg11_bn",
            train=TrainConfig(epochs=50, mean=(0.449,), std=(0.226,)),
            set_mask=SetMaskConfig(),
            image_mask=ImageMaskConfig(),
            images_per_class=0,
        )
    else:
        base = StudyConfig.quick() if preset == "quick" else StudyConfig.full()
    chosen = {name: value for name, value in changes.items() if value is not None}
    if epochs is not None:
        chosen["train"] = base.train.replace(epochs=epochs)
    return dataclasses.replace(base, **chosen)
