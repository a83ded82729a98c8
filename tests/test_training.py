import threading

import pytest
import torch

from fourier_masks.core.errors import ConfigError
from fourier_masks.core.training.augment import AugmentConfig, augment_batch
from fourier_masks.core.training.train import AUGMENTATIONS, TrainConfig, train_model


def _dot(size=16, y=4, x=5):
    image = torch.zeros(1, 1, size, size)
    image[0, 0, y, x] = 1
    return image


def _centre_of_mass(image):
    total = image.sum()
    ys, xs = torch.meshgrid(torch.arange(image.shape[-2]).float(), torch.arange(image.shape[-1]).float(), indexing="ij")
    return (image[0, 0] * ys).sum() / total, (image[0, 0] * xs).sum() / total


def test_base_transform_without_crop_or_flip_is_the_identity():
    images = torch.rand(4, 1, 16, 16)
    out = augment_batch(
        images,
        AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=False),
        torch.Generator().manual_seed(0),
    )
    assert torch.allclose(out, images, atol=1e-6)


def test_augmentations_draw_parameters_per_image():
    images = _dot().repeat(8, 1, 1, 1)
    out = augment_batch(
        images,
        AugmentConfig(variant="translation", crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=False),
        torch.Generator().manual_seed(1),
    )
    positions = {tuple(torch.nonzero(o[0] > 0.2)[0].tolist()) for o in out if (o > 0.2).any()}
    assert len(positions) > 3


def test_rotation_by_up_to_180_degrees_moves_the_dot_around_the_centre():
    images = _dot(y=2, x=8).repeat(64, 1, 1, 1)
    out = augment_batch(
        images,
        AugmentConfig(variant="rotation", crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=False),
        torch.Generator().manual_seed(2),
    )
    centres = [_centre_of_mass(o[None]) for o in out if o.sum() > 0.5]
    distances = [((cy - 7.5) ** 2 + (cx - 7.5) ** 2) ** 0.5 for cy, cx in centres]
    assert all(abs(d - 5.5) < 1.5 for d in distances)  # stays on its circle
    assert max(cy for cy, _ in centres) > 10  # some went past 90°


def test_scale_changes_size():
    image = torch.zeros(1, 1, 32, 32)
    image[..., 12:20, 12:20] = 1
    out = augment_batch(
        image.repeat(16, 1, 1, 1),
        AugmentConfig(variant="scale", crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=False),
        torch.Generator().manual_seed(3),
    )
    areas = out.sum(dim=(1, 2, 3))
    assert areas.min() < 64 * 0.6 and areas.max() > 64 * 1.5
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("augmentation", AUGMENTATIONS)
def test_every_variant_trains(tiny_shapes, augmentation):
    config = TrainConfig(augmentation=augmentation, epochs=1, batch_size=64)
    result = train_model(tiny_shapes.train, tiny_shapes.val, config=config)
    info = result.model.info
    assert info.training["augmentation"] == augmentation and info.num_classes == 6
    assert len(result.history) == 1 and result.best_epoch == 1
    assert not result.model.training


def test_keeps_the_best_validation_loss_weights(tiny_shapes):
    config = TrainConfig(epochs=4, batch_size=32, max_lr=3e-3)
    result = train_model(tiny_shapes.train, tiny_shapes.val, config=config)
    losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))
    assert result.model.info.metrics["val_loss"] == pytest.approx(min(losses))
    from fourier_masks.core.training.train import evaluate_loss

    loss, _ = evaluate_loss(result.model, tiny_shapes.val, 64, torch.device("cpu"))
    assert loss == pytest.approx(min(losses), rel=1e-5)


def test_training_is_reproducible(tiny_shapes):
    config = TrainConfig(epochs=1, batch_size=32, seed=5)
    a = train_model(tiny_shapes.train, tiny_shapes.val, config=config).model
    b = train_model(tiny_shapes.train, tiny_shapes.val, config=config).model
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), key


def test_cancel_returns_the_partial_model(tiny_shapes):
    cancel = threading.Event()
    events = []

    def on_progress(event):
        events.append(event)
        if len(events) == 2:
            cancel.set()

    result = train_model(
        tiny_shapes.train,
        tiny_shapes.val,
        config=TrainConfig(epochs=5, batch_size=32),
        on_progress=on_progress,
        cancel=cancel,
    )
    assert result.cancelled and result.history == [] and result.model.info.metrics["cancelled"]


@pytest.mark.parametrize(
    "changes",
    [dict(epochs=0), dict(batch_size=0), dict(max_lr=0.0), dict(augmentation="blur"), dict(crop_scale=(0.0, 1.0))],
)
def test_bad_training_settings(changes):
    with pytest.raises(ConfigError):
        TrainConfig(**changes)


def test_mismatched_splits_are_refused(tiny_shapes):
    from fourier_masks.core.data.datasets import load_builtin

    other = load_builtin("planted", 2, 2, size=16)
    with pytest.raises(ConfigError, match="different classes"):
        train_model(tiny_shapes.train, other.val)
