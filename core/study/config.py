"""What a study runs: its settings, the presets, and the model variants by code."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..attacks.adversarial import MAX_SEED, AttackConfig
from ..errors import ConfigError
from ..masks.config import ImageMaskConfig, SetMaskConfig
from ..runs.manifest import DataRecord
from ..training.train import AUGMENTATION_CODES, AUGMENTATIONS, TrainConfig


@dataclass(frozen=True)
class StudyConfig:
    """What the study runs; :meth:`standard`, :meth:`quick` and :meth:`paper` are the presets
    (:func:`study_config`). The field defaults are not a preset.

    ``given_models``: (code, model) pairs, a model file or name
    (:func:`~fourier_masks.core.models.open_model`) for each variant code (N, A, ...): the
    study then trains nothing, takes the image size, channels and preprocessing from the
    models and the validation images from the data (a folder without ``train/`` and ``val/``
    whole), and ``augmentations`` follow the codes."""

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
    given_models: tuple[tuple[str, str], ...] = ()

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
        # What the command line checks as it reads the options, for settings read from a file.
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels}")
        if self.image_size < 8:
            raise ConfigError(f"image_size must be at least 8 pixels, got {self.image_size}")
        if self.train_per_class < 1 or self.val_per_class < 1:
            raise ConfigError("train_per_class and val_per_class must be at least 1")
        codes = [code for code, _ in self.given_models]
        if codes and (len(set(codes)) < len(codes) or any(c not in MODEL_CODES for c in codes)):
            raise ConfigError(
                f"given models need distinct codes among {', '.join(MODEL_CODES)}, got {', '.join(codes)}"
            )
        if codes and tuple(MODEL_CODES[c] for c in codes) != self.augmentations:
            raise ConfigError("with given models, the augmentations are the models' codes")

    @classmethod
    def quick(cls, **changes: Any) -> StudyConfig:
        """A reduced study for a laptop CPU (``demo --quick``; a few minutes on 2 cores).

        Everything :meth:`standard` changes from METHOD.md's published settings, and further:
        600 training and 60 validation images per class (built-in data), 10 training epochs,
        adversarial training with 5 PGD steps of ε/4 (published: 10 of ε/8), set masks with
        Adam lr 1e-2 in batches of 32 for at most 30 epochs (published: lr 1e-3, batch 128,
        100 epochs; so a small validation set still gets enough mask updates), single-image
        masks capped at 2 000 steps (the published stop rule still applies) for 10 validation
        images per class, and one extra seed for the stability masks (standard: two).
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
    def standard(cls, **changes: Any) -> StudyConfig:
        """The default study (``study``, and ``demo`` without ``--quick``), sized for a CPU.

        It is not METHOD.md's published setting (that is :meth:`paper`). What it changes:

        - images: 32 px (published 128 px), grayscale, normalised with the training images'
          own mean and standard deviation (as the paper did; 0.449 / 0.226 were its data's);
        - network: the small CNN (published VGG11-bn or ResNet18);
        - training: 20 epochs (published up to 50), Adam max lr 3e-3 (published 1e-3),
          random resized crops of scale 0.8–1.0 (published: torchvision's default, 0.08–1.0);
          batch 128, the one-cycle schedule with 10 % warm-up, horizontal flips, adversarial
          training's PGD and keeping the lowest-validation-loss weights are the published ones;
        - single-image masks: the published objective, schedule and stop rule, but at most
          6 000 steps (published 20 000), for 30 validation images per class (published every
          validation image);
        - built-in data: 1 500 training and 200 validation images per class.

        Dataset and class masks use the published settings (:class:`SetMaskConfig` defaults).
        """
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

    @classmethod
    def paper(cls, **changes: Any) -> StudyConfig:
        """METHOD.md's published settings: 128 px grayscale normalised with mean 0.449 and std
        0.226, VGG11-bn trained with the published settings (:class:`TrainConfig` defaults: Adam
        max lr 1e-3, one-cycle with 10 % warm-up, batch 128, 50 epochs, random resized crop and
        horizontal flip, PGD of 10 steps of ε/8), published set and single-image mask settings
        (up to 20 000 steps), and single-image masks for every validation image (Tables 2–3 then
        use those each model classifies correctly). Built-in data: 1 500 training and 200
        validation images per class (folders use all their images). Far beyond 2 CPU cores."""
        defaults: dict[str, Any] = dict(
            image_size=128,
            channels=1,
            arch="vgg11_bn",
            train_per_class=1500,
            val_per_class=200,
            train=TrainConfig(epochs=50, mean=(0.449,), std=(0.226,)),
            set_mask=SetMaskConfig(),
            image_mask=ImageMaskConfig(),
            images_per_class=0,
        )
        return cls(**{**defaults, **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def same_as_recorded(self, recorded: dict[str, Any]) -> bool:
        """Whether ``recorded`` (a run's ``study`` settings) are these settings; a setting added
        since the run was made counts as recorded at its default (``given_models``: none)."""
        current = json.loads(json.dumps(self.to_dict()))
        defaults = json.loads(json.dumps(dataclasses.asdict(StudyConfig())))
        filled = {**{k: defaults[k] for k in current if k not in recorded}, **recorded}
        return filled == current

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


STUDY_PRESETS = ("standard", "quick", "paper")


MODEL_CODES = {code: augmentation for augmentation, code in AUGMENTATION_CODES.items()}  # "N" → "none", ...


def given_models(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The settings of a study of given models (``[("N", spec), ("A", spec)]``): the models,
    with the augmentations their codes name, N first. For :func:`study_config`."""
    codes = [code for code, _ in pairs]
    if "N" not in codes:
        raise ConfigError("the study compares every model with the vanilla one: give N=MODEL")
    unknown = [code for code in codes if code not in MODEL_CODES]
    if unknown:
        raise ConfigError(
            f"model code(s) {', '.join(unknown)} unknown; use {', '.join(MODEL_CODES)} (N = vanilla, A = adversarial, ...)"
        )
    if len(set(codes)) < len(codes):
        raise ConfigError(f"each code names one model; {', '.join(codes)} repeats one")
    ordered = sorted(pairs, key=lambda pair: list(MODEL_CODES).index(pair[0]))
    return {
        "given_models": tuple((code, str(spec)) for code, spec in ordered),
        "augmentations": tuple(MODEL_CODES[code] for code, _ in ordered),
    }


def study_config(preset: str | StudyConfig = "standard", *, epochs: int | None = None, **changes: Any) -> StudyConfig:
    """A study preset with fields changed (``None`` keeps the preset's); the one place the CLI's
    ``study`` and the app's *New study…* turn a preset and the user's choices into settings.
    ``preset`` may be settings already made (read from a file): the changes apply to them.

    ``standard`` (the default): :meth:`StudyConfig.standard`, a CPU-sized study that differs
    from the published settings as its docstring lists; ``quick``: :meth:`StudyConfig.quick`;
    ``paper``: METHOD.md's published settings (:meth:`StudyConfig.paper`).
    """
    if isinstance(preset, StudyConfig):
        base = preset
    elif preset in STUDY_PRESETS:
        base = {"standard": StudyConfig.standard, "quick": StudyConfig.quick, "paper": StudyConfig.paper}[preset]()
    else:
        raise ConfigError(f"unknown study preset {preset!r}; choose from {STUDY_PRESETS}")
    chosen = {name: value for name, value in changes.items() if value is not None}
    if epochs is not None:
        chosen["train"] = base.train.replace(epochs=epochs)
    return dataclasses.replace(base, **chosen)
