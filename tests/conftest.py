"""Shared fixtures: tiny seeded models and datasets so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import copy
import dataclasses
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Logs, settings and session runs of the code under test go to a scratch folder, never the
# user's own platform folders.
os.environ.setdefault("FOURIER_MASKS_HOME", __import__("tempfile").mkdtemp(prefix="fourier-masks-tests-"))

import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fourier_masks.core.data.datasets import load_builtin
from fourier_masks.core.data.images import DataSplits
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.masks.results import ImageMaskResult
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.models.class_names import imagenet_categories
from fourier_masks.core.models.classifier import Classifier, ModelInfo
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


@dataclasses.dataclass(frozen=True)
class TrainedMaskModel:
    """A model whose single-image masks are worth testing, and the data it learned."""

    data: DataSplits  # 16-px planted-frequency images, 5 classes
    model: Classifier  # float32, eval mode; tests that compare to 1e-9 take a float64 copy


@pytest.fixture(scope="session")
def mask_model() -> TrainedMaskModel:
    """The small CNN trained (80 Adam steps, ~1 s of CPU) on 16-px planted-frequency images
    until it classifies the validation images correctly: its single-image masks keep the
    planted frequency of their image (neither all zeros nor all ones), and under the
    published stop rule each image stops at its own step. An untrained model's masks are all
    zero within ~150 steps and run in lock-step to ``max_steps``, so the mask-content tests
    (symmetry, phase masks, batching, the queue, resuming) use this model instead;
    ``tests/test_masks.py::test_trained_masks_are_not_trivial_and_stop_at_their_own_steps``
    fails if it ever degenerates."""
    data = load_builtin("planted", train_per_class=30, val_per_class=6, size=16)
    train = data.train
    info = dataclasses.replace(
        tiny_info(classes=train.num_classes),
        mean=(train.images.mean().item(),),
        std=(train.images.std().item(),),
        class_names=train.class_names,
        name="planted16",
    )
    steps, batch = 80, 32
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_classifier(info)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
        generator = torch.Generator().manual_seed(0)
        model.train()
        for _ in range(steps):
            index = torch.randint(0, len(train), (batch,), generator=generator)
            loss = F.cross_entropy(model(train.images[index]), train.labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return TrainedMaskModel(data, model.eval())


@dataclasses.dataclass(frozen=True)
class PublishedMasks:
    """Single-image masks of :func:`mask_model` under the published settings and stop rule."""

    model: Classifier  # float64 copy
    images: torch.Tensor  # float64, the first validation images
    labels: torch.Tensor
    config: ImageMaskConfig
    result: ImageMaskResult


@pytest.fixture(scope="session")
def published_masks(mask_model) -> PublishedMasks:
    """Masks of the first 6 validation images learned together with the published objective,
    schedule and stop rule (``max_steps`` lowered to 800: most stop between ~450 and ~750
    steps), in float64 so exact comparisons can use 1e-9 (Adam's normalisation magnifies
    float32 rounding in tiny gradients). Learned once per test run; several tests read it."""
    model = copy.deepcopy(mask_model.model).double()
    val = mask_model.data.val
    images, labels = val.images[:6].double(), val.labels[:6]
    config = ImageMaskConfig(max_steps=800)
    return PublishedMasks(model, images, labels, config, learn_image_masks(model, images, config=config))


# --- models from the zoos, in each library's own on-disk layout (random weights) -------------


@pytest.fixture
def network_off(monkeypatch):
    """No connection can be opened: what an offline machine does to every library."""

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (switched off by the test)")

    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A torch hub cache holding torchvision's SqueezeNet 1.1 file, by its published name,
    with random weights."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = torchvision.models.get_model_weights("squeezenet1_1").IMAGENET1K_V1
    path = tmp_path / "torch" / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.get_model("squeezenet1_1", weights=None).state_dict(), path)
    return path


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """A Hugging Face hub cache holding timm's tiny test ResNet (random weights), laid out as
    ``hf download`` leaves it."""
    timm = pytest.importorskip("timm")
    from huggingface_hub import constants
    from safetensors.torch import save_file

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--timm--test_resnet.r160_in1k"
    revision = "0" * 40
    (repo / "snapshots" / revision).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    net = timm.create_model("test_resnet.r160_in1k", pretrained=False)
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, repo / "snapshots" / revision / "model.safetensors"
    )
    return net


@pytest.fixture
def timm_folder(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("test_resnet.r160_in1k", pretrained=False)
    folder = tmp_path / "timm-test-resnet"
    timm.models.save_for_hf(net, str(folder), safe_serialization=True)
    return folder


@pytest.fixture
def hf_folder(tmp_path):
    """A tiny transformers ResNet over ImageNet's 1000 classes with a ConvNeXt-style processor
    (64-px crops of 73-px resizes, bicubic), as ``save_pretrained`` writes it."""
    transformers = pytest.importorskip("transformers")
    names = imagenet_categories()
    config = transformers.ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        num_labels=1000,
        id2label=dict(enumerate(names)),
        label2id={name: k for k, name in enumerate(names)},
    )
    folder = tmp_path / "hf-tiny-resnet"
    transformers.ResNetForImageClassification(config).save_pretrained(folder)
    transformers.ConvNextImageProcessor(size={"shortest_edge": 64}, crop_pct=0.875).save_pretrained(folder)
    return folder
