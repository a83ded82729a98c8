"""Shared fixtures: tiny seeded models and datasets so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Logs, settings and session runs of the code under test go to a scratch folder, never the
# user's own platform folders.
os.environ.setdefault("FOURIER_MASKS_HOME", __import__("tempfile").mkdtemp(prefix="fourier-masks-tests-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from core.data import load_builtin  # noqa: E402
from core.models import ModelInfo, build_classifier  # noqa: E402
from core.training import TrainConfig, train_model  # noqa: E402

SHARED_DATA = Path(os.environ.get("FOURIER_MASKS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def tiny_info(channels: int = 1, classes: int = 6, size: int = 16, arch: str = "small_cnn") -> ModelInfo:
    return ModelInfo(
        arch=arch,
        in_channels=channels,
        num_classes=classes,
        image_size=size,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        class_names=tuple(f"c{k}" for k in range(classes)),
    )


@pytest.fixture
def tiny_model():
    """An untrained but deterministic small CNN for 16×16 grayscale images, 6 classes."""
    torch.manual_seed(1)
    return build_classifier(tiny_info()).eval()


@pytest.fixture(scope="session")
def tiny_shapes():
    return load_builtin("shapes", train_per_class=30, val_per_class=6, size=16)


@pytest.fixture(scope="session")
def trained_shapes_model(tiny_shapes):
    """A small CNN trained briefly on 16-px shapes (better than chance, not perfect)."""
    config = TrainConfig(epochs=3, batch_size=32, max_lr=3e-3, crop_scale=(1.0, 1.0), hflip=False)
    return train_model(tiny_shapes.train, tiny_shapes.val, config=config, name="N").model


@pytest.fixture(scope="session")
def planted():
    """The planted-frequency data at 32 px and a model trained on it."""
    data = load_builtin("planted", train_per_class=150, val_per_class=30, size=32)
    config = TrainConfig(epochs=5, batch_size=64, max_lr=3e-3, crop_scale=(1.0, 1.0), hflip=False)
    model = train_model(data.train, data.val, config=config, name="planted").model
    return data, model
