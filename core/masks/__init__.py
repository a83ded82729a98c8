"""Fourier masks (METHOD.md §1–2): one mask for a whole set or per class, and one per image,
many images at once; and masked inference (predictions on ``M(x)``).

The learners take the model and the images, a frozen config with the published defaults, and
keyword-only ``on_progress`` and ``cancel``; they return results that say how each mask was
learned (steps, whether its stop rule was met, whether it keeps the prediction)."""

from .config import OBJECTIVES, PUBLISHED_SCHEDULE_STEPS, SCHEDULES, ImageMaskConfig, SetMaskConfig
from .engine import learn_image_masks
from .inference import correctly_classified, masked_accuracy, masked_predictions, masked_probabilities
from .results import ImageMaskResult, MaskHistory, SetMaskResult
from .set_masks import learn_class_masks, learn_set_mask

__all__ = [
    "OBJECTIVES",
    "PUBLISHED_SCHEDULE_STEPS",
    "SCHEDULES",
    "ImageMaskConfig",
    "ImageMaskResult",
    "MaskHistory",
    "SetMaskConfig",
    "SetMaskResult",
    "correctly_classified",
    "learn_class_masks",
    "learn_image_masks",
    "learn_set_mask",
    "masked_accuracy",
    "masked_predictions",
    "masked_probabilities",
]
