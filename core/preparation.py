"""How an image file becomes a model's input: the shorter side resized, then a centre crop,
as torchvision's, timm's and Hugging Face's evaluation transforms do. A model records its own
(:class:`~fourier_masks.core.models.ModelInfo`); the data layer prepares images by it."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preparation:
    """Shorter side to ``resize`` pixels (``interpolation``, antialiased), then a centre crop
    of ``size × size``. ``resize`` 0 means ``size``: the whole image, no border cropped (this
    product's own models). torchvision's ResNet-50 V1 weights are ``Preparation(224, 256)``."""

    size: int
    resize: int = 0
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ConfigError(f"images must be at least 8 pixels, got {self.size}")
        if self.resize and self.resize < self.size:
            raise ConfigError(f"the resize ({self.resize} px) must not be below the crop ({self.size} px)")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation {self.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")

    @classmethod
    def of(cls, value: int | Preparation) -> Preparation:
        """A size in pixels (resize to it, crop nothing) or a preparation as it is."""
        return value if isinstance(value, Preparation) else cls(int(value))

    @property
    def resize_to(self) -> int:
        return self.resize or self.size

    @property
    def crop_fraction(self) -> float:
        """The share of the resized image's side the crop keeps (timm's ``crop_pct``)."""
        return self.size / self.resize_to

    def describe(self) -> str:
        if self.resize_to == self.size:
            return f"shorter side to {self.size} px ({self.interpolation}), centre {self.size}×{self.size}"
        return (
            f"shorter side to {self.resize_to} px ({self.interpolation}), centre crop {self.size}×{self.size} "
            f"(crop fraction {self.crop_fraction:.3f})"
        )
