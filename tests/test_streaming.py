"""Image sets streamed from an 8-bit file on disk: the same images (to 8-bit rounding) and the
same results as in memory, with subsets that stay 8-bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fourier_masks.core.data import datasets, pixels
from fourier_masks.core.data.datasets import DataRequest, load_image_folder
from fourier_masks.core.data.pixels import Pixels, take_rows
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks.inference import correctly_classified
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.models.classifier import ModelInfo, predict
from fourier_masks.core.preparation import Preparation

PREP = Preparation(24, 28, "bicubic")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for k in range(6):
            Image.fromarray((rng.random((30, 40, 3)) * 255).astype(np.uint8)).save(
                tmp_path / "data" / name / f"{k}.png"
            )
    (tmp_path / "data" / "a" / "broken.png").write_text("not an image")
    return tmp_path / "data"


def test_pixels_behave_as_float_images_and_convert_only_what_is_taken():
    raw = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8)
    images = raw.as_subclass(Pixels)
    assert images.shape == (5, 3, 4, 4) and len(images) == 5
    assert images[1:3].dtype == torch.float32 and torch.equal(images[1:3], raw[1:3].float() / 255)
    assert torch.equal(images * 2, raw.float() / 255 * 2)  # any other operation sees floats too
    kept = take_rows(images, torch.tensor([True, False, True, False, False]))
    assert isinstance(kept, Pixels) and torch.equal(kept[:], raw[[0, 2]].float() / 255)


def test_a_streamed_folder_holds_the_same_images_and_is_decoded_once(folder, monkeypatch):
    in_memory = load_image_folder(folder, 3, PREP, stream=False)
    streamed = load_image_folder(folder, 3, PREP, stream=True)
    assert isinstance(streamed.images, Pixels) and streamed.ids == in_memory.ids
    assert len(streamed.skipped) == 1 and "broken.png" in streamed.skipped[0]
    assert (streamed.images[:] - in_memory.images).abs().max() <= 0.5 / 255 + 1e-6  # 8-bit rounding
    calls = []
    monkeypatch.setattr(datasets, "load_image", lambda *a: calls.append(a))
    again = load_image_folder(folder, 3, PREP, stream=True)
    assert calls == [] and torch.equal(again.images[:], streamed.images[:])  # read from the cache
    first, second = streamed.halves()
    assert isinstance(first.images, Pixels) and isinstance(streamed.balanced_subset(2).images, Pixels)


def test_a_large_folder_streams_by_itself_and_gives_the_same_results(folder, monkeypatch):
    monkeypatch.setattr(pixels, "STREAM_ABOVE_BYTES", 1000)
    streamed = DataRequest(spec=str(folder), whole=True).validation(PREP, 3)
    assert isinstance(streamed.images, Pixels) and len(streamed) == 18
    in_memory = load_image_folder(folder, 3, PREP, stream=False)
    torch.manual_seed(0)
    model = build_classifier(ModelInfo("small_cnn", 3, 3, 24, (0.5,) * 3, (0.25,) * 3)).eval()
    assert torch.allclose(predict(model, streamed.images)[0], predict(model, in_memory.images)[0], atol=1e-2)
    assert np.array_equal(
        correctly_classified(model, streamed.images, streamed.labels),
        correctly_classified(model, in_memory.images, in_memory.labels),
    )


def test_the_cache_lives_under_the_app_home(monkeypatch, tmp_path):
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path))
    assert pixels.cache_dir() == tmp_path / "cache" / "pixels"


def test_streaming_can_be_forced_either_way(folder, monkeypatch):
    monkeypatch.setenv("FOURIER_MASKS_STREAM", "always")
    assert isinstance(load_image_folder(folder, 3, PREP).images, Pixels)
    monkeypatch.setattr(pixels, "STREAM_ABOVE_BYTES", 1000)
    monkeypatch.setenv("FOURIER_MASKS_STREAM", "never")
    assert not isinstance(load_image_folder(folder, 3, PREP).images, Pixels)
    monkeypatch.setenv("FOURIER_MASKS_STREAM", "sometimes")
    with pytest.raises(ConfigError, match="FOURIER_MASKS_STREAM='sometimes'"):
        load_image_folder(folder, 3, PREP)
