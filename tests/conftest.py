"""Shared fixtures: tiny seeded models and datasets so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Logs, settings and session runs of the code under test go to a scratch folder, never the
# user's own platform folders.
os.environ.setdefault("FOURIER_MASKS_HOME", __import__("tempfile").mkdtemp(prefix="fourier-masks-tests-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from fourier_masks.core.data.datasets import load_builtin
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.models.classifier import ModelInfo
from fourier_masks.core.training.train import TrainConfig, train_model

SHARED_DATA = Path(os.environ.get("FOURIER_MASKS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where tests save what users would see (PNG): pytest's temporary folder, or
    ``FOURIER_MASKS_ARTIFACTS`` to keep them; never the source tree."""
    chosen = os.environ.get("FOURIER_MASKS_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _collect_cycles_between_tests():
    """Once a test has started the app, automatic garbage collection stays off for the rest of
    the process and runs from a Qt timer on the GUI thread (``app.workers``). Tests that run
    no Qt event loop would then never collect: run the same threshold check after each test,
    here on the main (GUI) thread."""
    yield
    workers = sys.modules.get("fourier_masks.app.workers")
    collector = getattr(workers, "_gui_thread_collector", None)
    if collector is not None:
        collector.check()


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
