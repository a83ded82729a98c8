"""Fourier Masks engine: learn which input frequencies a trained classifier needs.

Headless and Qt-free: usable from scripts, notebooks and servers. Images are ``(N, C, H, W)``
float tensors in [0, 1]; models normalise inside (:class:`Classifier`). Masks are numpy arrays
in the unshifted DFT layout (see :mod:`fourier_masks.core.spectra.fourier`).

Typical use::

    from fourier_masks.core import load_builtin, TrainConfig, train_model, learn_image_masks

    data = load_builtin("shapes", size=32)
    model = train_model(data.train, data.val, config=TrainConfig(epochs=10)).model
    masks = learn_image_masks(model, data.val.images[:64])
"""

from .attacks.adversarial import ATTACKS, AttackConfig, AttackResult, attack_images, attack_success, pixel_eps
from .beyond.robustness import HeatMapResult, RobustnessResult, fourier_heat_map, measure_robustness
from .data.datasets import load_builtin, load_dataset, load_image_folder
from .data.images import DataSplits, ImageSet, load_image, load_images
from .devices import resolve_device
from .errors import (
    BadDatasetError,
    BadImageError,
    CheckpointError,
    ConfigError,
    DatasetUnavailableError,
    DeviceError,
    FourierMasksError,
    MissingModelDetailsError,
    ModelMismatchError,
    NonFiniteError,
    OutputError,
    UnsafeCheckpointError,
)
from .masks.config import ImageMaskConfig, SetMaskConfig
from .masks.engine import learn_image_masks
from .masks.inference import masked_accuracy, masked_predictions, masked_probabilities
from .masks.results import ImageMaskResult, MaskHistory, SetMaskResult
from .masks.set_masks import learn_class_masks, learn_set_mask
from .models.architectures import ARCHITECTURES, build_classifier
from .models.checkpoints import export_program, export_torchscript, inspect_checkpoint, load_model, save_checkpoint
from .models.class_names import read_class_names
from .models.classifier import Classifier, ModelInfo, predict
from .progress import Progress, ProgressReporter, TqdmProgress
from .runs.executors import run_mask_units
from .runs.groups import MaskUnit, image_mask_history, plan_image_masks, save_set_mask_result, set_mask_history
from .runs.store import ResultsStore
from .spectra.energy import (
    angular_energy,
    angular_partition,
    band_energies,
    centred_difference,
    mask_energies,
    per_image_exceedance,
    radial_energy,
    radial_partition,
)
from .spectra.fourier import MASK_LAYOUT, apply_mask, centred, complement_mask, filter_images, log_spectrum, uncentred
from .study.config import StudyConfig
from .study.paper_tables import single_image_evaluation
from .study.pipeline import StudyResult, run_study
from .study.probe import ProbeResult, linear_probe, mask_stability, umap_embedding
from .study.report import write_report
from .tables import Table
from .training.train import AUGMENTATIONS, TrainConfig, TrainResult, train_model

__all__ = [
    "ARCHITECTURES",
    "ATTACKS",
    "AUGMENTATIONS",
    "MASK_LAYOUT",
    "AttackResult",
    "BadDatasetError",
    "BadImageError",
    "CheckpointError",
    "Classifier",
    "ConfigError",
    "DataSplits",
    "DatasetUnavailableError",
    "DeviceError",
    "FourierMasksError",
    "HeatMapResult",
    "ImageMaskConfig",
    "ImageMaskResult",
    "ImageSet",
    "MaskUnit",
    "MissingModelDetailsError",
    "ModelInfo",
    "ModelMismatchError",
    "NonFiniteError",
    "OutputError",
    "AttackConfig",
    "ProbeResult",
    "Progress",
    "ProgressReporter",
    "ResultsStore",
    "RobustnessResult",
    "SetMaskConfig",
    "SetMaskResult",
    "StudyConfig",
    "StudyResult",
    "Table",
    "TrainConfig",
    "TrainResult",
    "TqdmProgress",
    "UnsafeCheckpointError",
    "angular_energy",
    "angular_partition",
    "apply_mask",
    "attack_success",
    "band_energies",
    "build_classifier",
    "centred",
    "centred_difference",
    "complement_mask",
    "export_program",
    "export_torchscript",
    "filter_images",
    "fourier_heat_map",
    "inspect_checkpoint",
    "learn_class_masks",
    "learn_image_masks",
    "learn_set_mask",
    "linear_probe",
    "load_builtin",
    "load_dataset",
    "load_image",
    "load_image_folder",
    "load_images",
    "load_model",
    "log_spectrum",
    "mask_energies",
    "mask_stability",
    "measure_robustness",
    "masked_accuracy",
    "masked_predictions",
    "masked_probabilities",
    "per_image_exceedance",
    "attack_images",
    "pixel_eps",
    "plan_image_masks",
    "predict",
    "radial_energy",
    "radial_partition",
    "read_class_names",
    "resolve_device",
    "run_mask_units",
    "save_set_mask_result",
    "image_mask_history",
    "set_mask_history",
    "MaskHistory",
    "run_study",
    "save_checkpoint",
    "single_image_evaluation",
    "train_model",
    "uncentred",
    "umap_embedding",
    "write_report",
]
