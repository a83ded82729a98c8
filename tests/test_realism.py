"""Optional checks on real photographs (5 CIFAR-10 classes); skipped where the data is absent."""

import numpy as np
import pytest
from conftest import SHARED_DATA

from fourier_masks.core.data.datasets import load_dataset
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.training.train import TrainConfig, train_model

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "cifar5").is_dir(), reason="shared CIFAR-5 data not present")


@pytest.mark.slow
def test_rgb_photographs_through_training_and_per_channel_masks():
    splits = load_dataset(str(SHARED_DATA / "cifar5"), size=32, channels=3, limit=60)
    model = train_model(splits.train, splits.val, config=TrainConfig(epochs=3, batch_size=64, max_lr=3e-3)).model
    assert model.info.class_names == ("airplane", "automobile", "bird", "cat", "deer")
    assert len(model.info.mean) == 3
    shared = learn_image_masks(model, splits.val.images[:8], config=ImageMaskConfig(max_steps=300))
    per_channel = learn_image_masks(
        model, splits.val.images[:8], config=ImageMaskConfig(max_steps=300, per_channel=True)
    )
    assert shared.masks.shape == (8, 1, 32, 32) and per_channel.masks.shape == (8, 3, 32, 32)
    # Real photographs: masks end up sparse yet keep the prediction (the paper's finding).
    assert np.median(shared.kept_fraction) < 0.5
    assert shared.prediction_kept.mean() >= 0.75
