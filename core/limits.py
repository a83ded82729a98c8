"""How much of the machine one input may ask for.

A 140 KB PNG can claim 12 000 × 12 000 pixels, a 1 MB checkpoint can inflate to gigabytes, and
a model's metadata can claim a 60 000-px input: each is refused, with one clear line, before the
memory is asked for. The defaults leave room for every real case we know of (a 50-megapixel
photo, a ViT-H checkpoint, a 1024-px detector backbone); each can be raised for one process with
an environment variable, e.g. ``FOURIER_MASKS_MAX_IMAGE_PIXELS=200000000``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .errors import ConfigError

__all__ = ["Limits", "limits"]

ENV_PREFIX = "FOURIER_MASKS_"


@dataclass(frozen=True)
class Limits:
    """The bounds in force; :func:`limits` reads them, environment overrides included."""

    max_image_pixels: int = 64_000_000
    """Decoded pixels of one image file (width × height): a 64-megapixel photo takes ~190 MB."""

    max_checkpoint_bytes: int = 8 * 2**30
    """Total uncompressed size of a checkpoint's records, read from its zip directory before any
    record is inflated (ViT-H/14 in float32 is 2.5 GB)."""

    max_image_side: int = 4096
    """Input size of a model, from its metadata or ``--size``/``--model-size`` (one 4096² RGB
    image in float32 is 200 MB)."""

    max_bands: int = 1024
    """Frequency bands of an energy profile (a 2048-px image has 1448 distinct radii)."""

    max_class_names_bytes: int = 16 * 2**20
    """A class-names file (ImageNet-21k's 21 843 names take 500 KB)."""

    def describe(self, name: str) -> str:
        """How to raise bound ``name``: its environment variable."""
        return f"{ENV_PREFIX}{name.upper()}"


def limits() -> Limits:
    """The bounds in force: the defaults, each replaced by its ``FOURIER_MASKS_<NAME>``
    environment variable when set (read at every call, so a test or a notebook can change it)."""
    values = {}
    for field in fields(Limits):
        variable = f"{ENV_PREFIX}{field.name.upper()}"
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{variable}={text!r}: expected a whole number; unset it or give one") from None
        if value < 1:
            raise ConfigError(f"{variable}={text!r}: must be ≥ 1; unset it or give a positive number")
        values[field.name] = value
    return Limits(**values)
