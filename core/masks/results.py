"""What the mask learners return: masks with their statistics and convergence histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..spectra.fourier import MASK_LAYOUT
from .config import ImageMaskConfig, SetMaskConfig


@dataclass
class MaskHistory:
    """How one mask converged, for plotting and replay.

    Curves at ``steps`` (optimiser steps; epochs for set masks, see ``unit``): ``invariance``
    (the objective's data term), ``kept_fraction``, and ``preserved`` (1 or 0: the prediction
    was kept, for per-image masks; the masked accuracy, for set masks). ``snapshots``
    ``(S, Cm, H, W)`` are the mask at ``snapshot_steps``, as uint8 (steps of 1/255, a quarter
    of float32); :meth:`frame` gives one in [0, 1]."""

    unit: str
    steps: np.ndarray
    invariance: np.ndarray
    kept_fraction: np.ndarray
    preserved: np.ndarray
    snapshot_steps: np.ndarray
    snapshots: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)

    def frame(self, k: int) -> np.ndarray:
        return self.snapshots[k].astype(np.float32) / 255


@dataclass
class ImageMaskResult:
    """Masks for a set of images, in the order the images were given.

    ``masks`` has shape ``(N, Cm, H, W)`` (``Cm`` = 1, or C for per-channel masks) in the
    unshifted DFT layout; ``histories`` says how each mask converged. When cancelled, only
    the finished images are present.
    """

    ids: list[str]
    masks: np.ndarray | None
    targets: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    prediction_kept: np.ndarray
    kept_fraction: np.ndarray
    final_loss: np.ndarray
    config: ImageMaskConfig
    histories: list[MaskHistory] | None = None
    cancelled: bool = False
    layout: str = MASK_LAYOUT

    def __len__(self) -> int:
        return len(self.ids)

    ARRAY_FIELDS = ("masks", "targets", "steps", "converged", "prediction_kept", "kept_fraction", "final_loss")

    def subset(self, index: Sequence[int] | np.ndarray) -> ImageMaskResult:
        index = np.asarray(index, dtype=np.int64)
        arrays: dict[str, Any] = {
            name: None if getattr(self, name) is None else getattr(self, name)[index] for name in self.ARRAY_FIELDS
        }
        histories = None if self.histories is None else [self.histories[i] for i in index]
        return ImageMaskResult(
            ids=[self.ids[i] for i in index],
            config=self.config,
            histories=histories,
            cancelled=self.cancelled,
            **arrays,
        )

    @classmethod
    def empty(cls, mask_shape: tuple[int, ...], config: ImageMaskConfig) -> ImageMaskResult:
        """No masks (a job cancelled before any finished)."""
        nothing = np.zeros(0)
        return cls(
            ids=[],
            masks=np.zeros((0, *mask_shape), dtype=np.float32),
            targets=nothing.astype(np.int64),
            steps=nothing.astype(np.int64),
            converged=nothing.astype(bool),
            prediction_kept=nothing.astype(bool),
            kept_fraction=nothing.astype(np.float32),
            final_loss=nothing.astype(np.float32),
            config=config,
            histories=[],
        )

    @classmethod
    def concatenate(cls, parts: Sequence[ImageMaskResult], config: ImageMaskConfig) -> ImageMaskResult:
        if not parts:
            raise ValueError("nothing to concatenate")
        arrays: dict[str, Any] = {
            name: None
            if any(getattr(p, name) is None for p in parts)
            else np.concatenate([getattr(p, name) for p in parts])
            for name in cls.ARRAY_FIELDS
        }
        ids = [i for p in parts for i in p.ids]
        histories = None if any(p.histories is None for p in parts) else [h for p in parts for h in p.histories or ()]
        return cls(ids=ids, config=config, histories=histories, cancelled=any(p.cancelled for p in parts), **arrays)


@dataclass
class SetMaskResult:
    """One mask for a set of images, with the per-epoch curves that led to it.

    ``epochs``: epochs run; ``converged``: whether the stop rule was met; ``epoch_kept``: the
    epoch whose end-of-epoch mask is ``mask`` (the last epoch run, unless the rule was never
    met and an earlier epoch was the last to meet the accuracy criterion)."""

    mask: np.ndarray
    accuracy: float
    masked_accuracy: float
    kept_fraction: float
    epochs: int
    converged: bool
    epoch_kept: int
    config: SetMaskConfig
    history: dict[str, list[float]] = field(default_factory=dict)
    num_images: int = 0
    accuracy_met: bool = True
    cancelled: bool = False
    layout: str = MASK_LAYOUT
    snapshots: np.ndarray | None = None  # the mask after each epoch, uint8 (see quantised)

    def mask_history(self) -> MaskHistory:
        """The per-epoch curves and mask snapshots, in the form per-image masks keep theirs."""
        epochs = len(self.history.get("kept_fraction", ()))
        snapshots = self.snapshots if self.snapshots is not None else np.zeros((0, *self.mask.shape), np.uint8)
        return MaskHistory(
            unit="epoch",
            steps=np.arange(1, epochs + 1, dtype=np.int32),
            invariance=np.asarray(self.history.get("invariance", ()), dtype=np.float32),
            kept_fraction=np.asarray(self.history.get("kept_fraction", ()), dtype=np.float32),
            preserved=np.asarray(self.history.get("masked_accuracy", ()), dtype=np.float32),
            snapshot_steps=np.arange(1, len(snapshots) + 1, dtype=np.int32),
            snapshots=snapshots,
        )

    def summary(self) -> dict[str, Any]:
        """What the mask's metadata records about how it was learned (JSON-ready), so every
        stored set mask says whether its stop rule was met and which epoch's mask it is."""
        return {
            "images": self.num_images,
            "accuracy": self.accuracy,
            "masked_accuracy": self.masked_accuracy,
            "kept_fraction": self.kept_fraction,
            "epochs": self.epochs,
            "converged": self.converged,
            "epoch_kept": self.epoch_kept,
            "accuracy_met": self.accuracy_met,
            "history": self.history,
        }


def quantised(masks: torch.Tensor | np.ndarray) -> np.ndarray:
    """Masks in [0, 1] as uint8 (steps of 1/255): snapshots for replay, a quarter of float32."""
    masks = torch.as_tensor(masks).detach()
    return (masks.float().clamp(0.0, 1.0) * 255).round().to(torch.uint8).cpu().numpy()
