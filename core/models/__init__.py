"""Models: a :class:`Classifier` is a network with its normalisation inside (it takes images in
[0, 1]) and a :class:`ModelInfo` saying what it takes and predicts; checkpoints in every format
the product reads, loaded without running code from them."""

from .architectures import ARCHITECTURES, SmallCNN, adapt_input_channels, build_classifier, build_network
from .checkpoints import (
    CHECKPOINT_FORMAT,
    GRAPH_FORMATS,
    TRUSTED_ONLY,
    CheckpointSummary,
    export_program,
    export_torchscript,
    inspect_checkpoint,
    load_model,
    model_file_kind,
    output_width,
    safetensors_sidecar,
    save_checkpoint,
)
from .class_names import IMAGENET_CLASSES, class_index_map, imagenet_categories, imagenet_wnids, read_class_names
from .classifier import (
    PAPER_MEAN,
    PAPER_STD,
    Classifier,
    ModelInfo,
    Normalization,
    common_input,
    frozen,
    model_device,
    predict,
)
from .zoo import EXAMPLES as MODEL_NAME_EXAMPLES
from .zoo import ZOOS, folder_library, is_model_name, open_model

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_FORMAT",
    "GRAPH_FORMATS",
    "IMAGENET_CLASSES",
    "PAPER_MEAN",
    "PAPER_STD",
    "CheckpointSummary",
    "Classifier",
    "ModelInfo",
    "Normalization",
    "SmallCNN",
    "MODEL_NAME_EXAMPLES",
    "TRUSTED_ONLY",
    "ZOOS",
    "adapt_input_channels",
    "build_classifier",
    "build_network",
    "class_index_map",
    "common_input",
    "export_program",
    "export_torchscript",
    "folder_library",
    "frozen",
    "imagenet_categories",
    "imagenet_wnids",
    "inspect_checkpoint",
    "is_model_name",
    "load_model",
    "model_device",
    "model_file_kind",
    "open_model",
    "output_width",
    "predict",
    "read_class_names",
    "safetensors_sidecar",
    "save_checkpoint",
]
