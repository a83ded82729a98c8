"""User-facing errors.

Every problem a user can cause (a bad file, a wrong setting, a missing dataset) raises a
subclass of :class:`FourierMasksError` whose message names the problem and what to do. The
CLI prints such messages without a traceback and the app shows them in the window; anything
else that escapes is a bug.
"""

from __future__ import annotations

__all__ = [
    "FourierMasksError",
    "BadImageError",
    "BadDatasetError",
    "DatasetUnavailableError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "ModelMismatchError",
    "MissingModelDetailsError",
    "NonFiniteError",
    "ModelRunError",
    "ConfigError",
    "OutputError",
    "RunInUseError",
    "DeviceError",
]


class FourierMasksError(Exception):
    """Base class of every error whose message is meant for the user."""


class BadImageError(FourierMasksError):
    """An image file that cannot be read, or has the wrong shape or channel count."""


class BadDatasetError(FourierMasksError):
    """A folder or dataset that holds no usable images, or is laid out wrongly."""


class DatasetUnavailableError(FourierMasksError):
    """A named dataset that is neither on disk nor downloadable (e.g. offline)."""


class ModelUnavailableError(FourierMasksError):
    """A model by name that is neither in its library's cache nor downloadable (e.g. offline),
    or whose optional library is not installed."""


class CheckpointError(FourierMasksError):
    """A file that is not a readable checkpoint (corrupt, truncated, not a model at all)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that would need to run Python code to load; refused."""


class ModelMismatchError(CheckpointError):
    """Weights that do not fit the requested architecture, class count or input shape."""


class MissingModelDetailsError(CheckpointError):
    """A readable model file that needs details it does not carry: ``needs`` is
    ``"arch"`` (a plain state_dict of an unknown architecture) or ``"shapes"`` (a TorchScript
    or torch.export file without our metadata: channels, classes, image size)."""

    def __init__(self, message: str, needs: str) -> None:
        super().__init__(message)
        self.needs = needs


class NonFiniteError(FourierMasksError):
    """A model produced NaN or Inf values (or has them in its weights)."""


class ModelRunError(FourierMasksError):
    """A model that raised an error when run (a TorchScript graph that fails, an input size
    it does not accept)."""


class ConfigError(FourierMasksError):
    """A parameter outside its valid range (λ < 0, lr = 0, batch size 0, ...)."""


class OutputError(FourierMasksError):
    """An output folder or file that cannot be written."""


class RunInUseError(OutputError):
    """A run folder another live process is writing to (its lock is held); one writer per run."""


class DeviceError(FourierMasksError):
    """A compute device that was asked for but is not available."""
