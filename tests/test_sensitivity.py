"""Fourier sensitivity of input gradients and layer spectra: known answers."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pytest
import torch
from test_sweeps import CUTOFF, FREQUENCIES, SIZE, cosine_data, matched_filter
from torch import nn

from fourier_masks.core.beyond.robustness import high_frequency_share, input_gradients
from fourier_masks.core.beyond.sensitivity import fourier_sensitivity, layer_spectra
from fourier_masks.core.beyond.sweeps import disk_mask
from fourier_masks.core.errors import ConfigError, ModelRunError
from fourier_masks.core.models.classifier import Classifier, ModelInfo


@pytest.fixture(scope="module")
def cosines():
    return cosine_data()


def outside_share(spectrum: np.ndarray) -> float:
    """Share of a ``(C, H, W)`` magnitude map's energy beyond the low-pass model's disk."""
    outside = ~disk_mask(SIZE, SIZE, CUTOFF, "low").numpy().astype(bool)
    energy = spectrum**2
    return float(energy[:, outside[0]].sum() / energy.sum())


def test_a_low_frequency_model_is_sensitive_only_inside_its_disk(cosines):
    images, labels = cosines
    low = fourier_sensitivity(matched_filter(low_pass=True), images, labels, bins=10)
    assert low.images == len(images) and low.zero_gradients == 0 and not low.cancelled
    assert low.mean.shape == low.std.shape == (1, SIZE, SIZE)
    assert outside_share(low.mean) < 1e-10  # the map is in the stored layout, like the disk
    # Behind the filter the gradient is a mix of the class cosines: their frequencies only.
    expected = {(fy * s % SIZE, fx * s % SIZE) for fy, fx in FREQUENCIES for s in (1, -1)}
    assert {tuple(k) for k in np.argwhere(low.mean[0] > 1e-6)} == expected
    # The profile is the map's mean over each ring (rings of √2 / 10: no frequency of this
    # grid inside the disk lies on an edge).
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(SIZE), np.fft.fftfreq(SIZE), indexing="ij")) / 0.5
    for b in range(10):
        ring = (radius >= low.edges[b]) & (radius < low.edges[b + 1])
        assert low.profile[0, b] == pytest.approx(low.mean[0][ring].mean(), abs=1e-6)
    assert low.profile[0, :2].min() > 0.05 and np.all(low.profile[0, 2:] < 1e-6)
    # Each image was scaled to unit spectral energy.
    assert (low.mean**2 + low.std**2).sum() == pytest.approx(1.0, rel=1e-4)
    control = fourier_sensitivity(matched_filter(low_pass=False), images, labels, bins=16)
    assert outside_share(control.mean) > 0.3
    assert control.high_frequency_share > 0.3 > low.high_frequency_share


def test_the_high_frequency_share_is_the_robustness_tables(cosines):
    images, labels = cosines
    model = matched_filter(low_pass=False)
    result = fourier_sensitivity(model, images, labels, batch_size=5, cutoff=0.5)
    assert result.high_frequency_share == pytest.approx(high_frequency_share(input_gradients(model, images, labels)))
    assert len(result.table.rows) == 16


def test_a_sensitivity_cancel_keeps_the_finished_batches(cosines):
    images, labels = cosines
    cancel = threading.Event()
    result = fourier_sensitivity(
        matched_filter(low_pass=True), images, labels, batch_size=8, cancel=cancel, on_progress=lambda _: cancel.set()
    )
    assert result.cancelled and result.images == 8


def blur_net() -> Classifier:
    """Stages with known filters: identity, a 3 × 3 box blur, and a head (not a feature map)."""
    net = nn.Sequential(
        OrderedDict(
            stem=nn.Identity(),
            blur=nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            head=nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 4)),
        )
    )
    info = ModelInfo(arch="blur", in_channels=1, num_classes=4, image_size=SIZE, mean=(0.5,), std=(0.25,))
    return Classifier(net, info).eval()


def white_noise(n: int = 12) -> torch.Tensor:
    return torch.rand(n, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def test_a_blurring_stage_lowers_the_high_frequencies():
    result = layer_spectra(blur_net(), white_noise(), batch_size=5)
    stem, blur = result.stages
    assert (stem.name, blur.name) == ("stem", "blur") and stem.shape == (1, SIZE, SIZE)
    assert result.skipped[0][0] == "head" and result.images == 12 and not result.cancelled
    assert stem.profile[0] == 0 and stem.radii[-1] == 1 and len(stem.radii) == SIZE // 2 + 1
    assert abs(stem.delta) < 1.5  # white noise: flat, but for the mean (zero frequency)
    assert blur.delta < stem.delta - 1.0  # the box blur passes about a third at Nyquist
    assert result.table.column("stage") == ["stem", "blur"]


def test_named_layers_and_vit_tokens():
    class Tokens(nn.Module):
        """(N, C, H, W) → ViT-style tokens (N, 1 + H·W, C), a class token first."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = x.flatten(2).transpose(1, 2)
            return torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)

    net = nn.Sequential(
        OrderedDict(
            tokens=Tokens(),
            head=nn.Sequential(nn.Flatten(), nn.Linear((SIZE * SIZE + 1), 4)),
        )
    )
    info = ModelInfo(arch="tokens", in_channels=1, num_classes=4, image_size=SIZE, mean=(0.5,), std=(0.25,))
    result = layer_spectra(Classifier(net, info), white_noise(), layers=["tokens", "head.1"])
    assert [s.name for s in result.stages] == ["tokens"] and result.stages[0].shape == (1, SIZE, SIZE)
    assert [name for name, _ in result.skipped] == ["head.1"]
    with pytest.raises(ConfigError, match="not modules"):
        layer_spectra(Classifier(net, info), white_noise(), layers=["nowhere"])


def test_hooks_are_removed_even_on_error():
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("broken stage")

    model = blur_net()
    model.net.head = Broken()
    with pytest.raises(ModelRunError):
        layer_spectra(model, white_noise())
    assert all(not module._forward_hooks for module in model.modules())


def test_layer_spectra_refuse_graphs_and_stop_on_cancel():
    model = blur_net()
    scripted = Classifier(torch.jit.script(model.net), model.info)
    with pytest.raises(ConfigError, match="TorchScript"):
        layer_spectra(scripted, white_noise())
    cancel = threading.Event()
    result = layer_spectra(model, white_noise(), batch_size=4, cancel=cancel, on_progress=lambda _: cancel.set())
    assert result.cancelled and result.images == 4 and len(result.stages) == 2
