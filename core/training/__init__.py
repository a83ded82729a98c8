"""Training the model variants the study compares: plain, adversarial (PGD), scale-,
translation- and rotation-augmented, optionally with Jacobian frequency regularisation."""

from .augment import AUGMENTATIONS, AugmentConfig, augment_batch
from .jafr import frequency_bias
from .train import AUGMENTATION_CODES, TrainConfig, TrainResult, history_table, train_model

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_CODES",
    "AugmentConfig",
    "TrainConfig",
    "TrainResult",
    "augment_batch",
    "frequency_bias",
    "history_table",
    "train_model",
]
