"""Cutoff sweeps: known answers from a model that sees only low frequencies."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images
from fourier_masks.core.beyond.sweeps import DEFAULT_RADII, MAX_RADIUS, cutoff_sweep, disk_mask, halving_radius
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks.inference import masked_accuracy
from fourier_masks.core.models.classifier import Classifier, ModelInfo
from fourier_masks.core.spectra.fourier import apply_mask

SIZE = 16
CUTOFF = 0.25  # the low-pass model's own disk, in Nyquist units
# Four classes, each a cosine at a frequency inside the disk: radii 0.125, 0.125, 0.177, 0.177.
FREQUENCIES = ((1, 0), (0, 1), (1, 1), (1, -1))
RADII = (0.0625, 0.125, 0.1875, 0.25, 0.375, 0.5, 0.75, 1.0, MAX_RADIUS)


class LowPass(nn.Module):
    """A fixed ideal disk filter, the product's own Fourier filtering."""

    def __init__(self, radius: float) -> None:
        super().__init__()
        self.register_buffer("mask", disk_mask(SIZE, SIZE, radius, "low"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_mask(x, self.mask)


def patterns() -> torch.Tensor:
    """``(4, H, W)`` unit-amplitude cosines, one per class."""
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    return torch.stack([torch.cos(2 * math.pi * (fy * y + fx * x) / SIZE) for fy, fx in FREQUENCIES]).float()


def cosine_data(per_class: int = 8, seed: int = 0, noise_std: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey images with their class's cosine and white noise; balanced classes."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(FREQUENCIES)).repeat_interleave(per_class)
    noise = torch.randn(len(labels), SIZE, SIZE, generator=generator)
    images = (0.5 + 0.2 * patterns()[labels] + noise_std * noise).clamp(0, 1)
    return images.unsqueeze(1), labels


def matched_filter(low_pass: bool) -> Classifier:
    """A linear classifier whose class weights are the class's cosine plus as much fixed
    high-frequency noise (radius > 0.5): it classifies the cosine data perfectly, and its
    input gradient has high frequencies unless a low-pass filter of radius 0.25 sits in front
    (which removes them exactly, along with anything the input has above 0.25). A tiny bias
    breaks the tie when nothing reaches it, so it then predicts class 0, not float noise."""
    generator = torch.Generator().manual_seed(1)
    high = apply_mask(
        torch.randn(len(FREQUENCIES), SIZE, SIZE, generator=generator), disk_mask(SIZE, SIZE, 0.5, "high")
    )
    low = patterns()
    high = high / high.flatten(1).norm(dim=1)[:, None, None] * low.flatten(1).norm(dim=1)[:, None, None]
    weights = low + high
    linear = nn.Linear(SIZE * SIZE, len(FREQUENCIES))
    with torch.no_grad():
        linear.weight.copy_(0.5 * weights.flatten(1) / weights.flatten(1).norm(dim=1, keepdim=True))
        linear.bias.copy_(torch.tensor([1e-4, 0, 0, 0]))  # seeing nothing, it says class 0
    layers: list[nn.Module] = [LowPass(CUTOFF)] if low_pass else []
    info = ModelInfo(
        arch="matched_filter", in_channels=1, num_classes=len(FREQUENCIES), image_size=SIZE, mean=(0.5,), std=(0.25,)
    )
    return Classifier(nn.Sequential(*layers, nn.Flatten(), linear), info).eval()


@pytest.fixture(scope="module")
def cosines():
    return cosine_data()


def test_the_known_answer_models_classify_the_cosines(cosines):
    images, labels = cosines
    assert masked_accuracy(matched_filter(low_pass=True), images, labels) == 1.0
    assert masked_accuracy(matched_filter(low_pass=False), images, labels) == 1.0


def test_a_low_frequency_model_needs_only_the_disk(cosines):
    images, labels = cosines
    result = cutoff_sweep(matched_filter(low_pass=True), images, labels, radii=RADII)
    radii = np.array(RADII)
    low, high = result.accuracy["low"][0], result.accuracy["high"][0]
    chance = 1 / len(FREQUENCIES)
    # Nothing the model sees survives a high-pass at r ≥ 0.25: a constant prediction, chance.
    assert np.allclose(high[radii >= CUTOFF], chance)
    # A low-pass at r ≥ 0.25 leaves what the model sees unchanged.
    assert np.allclose(low[radii >= CUTOFF], 1.0)
    assert low[0] == pytest.approx(chance)  # only the mean is left
    assert result.halving["low"][0] < CUTOFF
    assert result.unfiltered[0] == 1.0 and not result.cancelled


def test_a_low_pass_of_the_whole_spectrum_changes_nothing():
    images, labels = cosine_data(noise_std=1.5)  # hard enough that some images are missed
    model = matched_filter(low_pass=False)
    result = cutoff_sweep(model, images, labels, radii=(0.5, MAX_RADIUS))
    clean = masked_accuracy(model, images, labels)
    assert 0.3 < clean < 0.9
    assert result.accuracy["low"][0, 1] == result.unfiltered[0] == clean
    assert result.accuracy["low"][0, 0] != clean
    assert DEFAULT_RADII[-1] == MAX_RADIUS and len(DEFAULT_RADII) == 16 and DEFAULT_RADII[0] > 0


def test_the_disk_masks_split_the_spectrum():
    for r in (0.1, 0.5, 1.0, MAX_RADIUS):
        low, high = disk_mask(SIZE, SIZE, r, "low"), disk_mask(SIZE, SIZE, r, "high")
        assert torch.equal(low + high, torch.ones_like(low))
        assert low[0, 0, 0] == 1 and high[0, 0, 0] == 0  # the mean goes with the low band
    assert disk_mask(SIZE, SIZE, MAX_RADIUS, "low").all()


def test_eps_zero_is_the_clean_sweep_and_eps_attacks(cosines):
    images, labels = cosines
    model = matched_filter(low_pass=False)
    attack = AttackConfig(eps=0.5)  # the sweep's ε replaces the attack's own
    clean = cutoff_sweep(model, images, labels, radii=RADII[3:6])
    both = cutoff_sweep(model, images, labels, radii=RADII[3:6], eps=(0.0, 0.1), attack=attack)
    for kind in ("low", "high"):
        assert np.array_equal(both.accuracy[kind][0], clean.accuracy[kind][0])
    adversarial = attack_images(model, images, labels, config=dataclasses.replace(attack, eps=0.1))
    assert both.unfiltered[1] == masked_accuracy(model, adversarial, labels) < both.unfiltered[0]
    assert both.eps == (0.0, 0.1)
    assert [row[:2] for row in both.halving_table.rows] == [
        ["low-pass", 0.0],
        ["low-pass", 0.1],
        ["high-pass", 0.0],
        ["high-pass", 0.1],
    ]
    assert len(both.table.rows) == 2 * 2 * 3


def test_halving_radius_interpolates_a_hand_made_curve():
    radii = (0.25, 0.5, 0.75, 1.0)
    # Low-pass: walking down from √2, 0.7 at 0.75 then 0.3 at 0.5; half of 0.8 is 0.4.
    assert halving_radius(radii, (0.1, 0.3, 0.7, 0.9), 0.8, "low") == pytest.approx(0.5625)
    # High-pass: walking up, 0.6 at 0.5 then 0.2 at 0.75.
    assert halving_radius(radii, (0.9, 0.6, 0.2, 0.1), 0.8, "high") == pytest.approx(0.625)
    # The low-pass curve is anchored at √2 with the unfiltered accuracy.
    expected = MAX_RADIUS + (0.8 - 0.4) / (0.8 - 0.2) * (0.5 - MAX_RADIUS)
    assert halving_radius((0.25, 0.5), (0.1, 0.2), 0.8, "low") == pytest.approx(expected)
    assert math.isnan(halving_radius(radii, (0.7, 0.7, 0.7, 0.7), 0.8, "high"))  # never reached
    assert math.isnan(halving_radius(radii, (0.3, 0.2, 0.1, 0.1), 0.8, "high"))  # below the grid
    assert math.isnan(halving_radius(radii, (0.0,) * 4, 0.0, "low"))  # nothing to halve


def test_a_cancel_between_radii_keeps_what_finished(cosines):
    images, labels = cosines
    cancel = threading.Event()
    result = cutoff_sweep(
        matched_filter(low_pass=True), images, labels, radii=RADII, cancel=cancel, on_progress=lambda _: cancel.set()
    )
    assert result.cancelled and result.eps == (0.0,)
    assert np.isfinite(result.accuracy["low"][0, 0]) and np.isnan(result.accuracy["low"][0, 1:]).all()
    assert math.isnan(result.halving["low"][0])
    assert len(result.table.rows) == 2 and result.halving_table.rows[0][3] is None


def test_bad_settings_are_refused(cosines):
    images, labels = cosines
    model = matched_filter(low_pass=True)
    for settings in ({"radii": ()}, {"radii": (0.0,)}, {"radii": (1.5,)}, {"eps": (-0.1,)}, {"eps": ()}):
        with pytest.raises(ConfigError):
            cutoff_sweep(model, images, labels, **settings)


def test_radii_may_be_a_numpy_array(cosines):
    images, labels = cosines
    model = matched_filter(low_pass=True)
    as_array = cutoff_sweep(model, images, labels, radii=np.asarray(RADII))
    as_tuple = cutoff_sweep(model, images, labels, radii=RADII)
    np.testing.assert_array_equal(as_array.accuracy["low"], as_tuple.accuracy["low"])
