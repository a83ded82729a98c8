import numpy as np
import pytest
import torch

from fourier_masks.core.models.classifier import Normalization
from fourier_masks.core.spectra.fourier import (
    apply_mask,
    centred,
    complement_mask,
    filter_images,
    log_spectrum,
    mirrored,
    uncentred,
)


@pytest.fixture
def images():
    return torch.rand(3, 2, 16, 12)


def test_identity_mask_returns_input(images):
    out = apply_mask(images, torch.ones(1, 1, 16, 12))
    assert torch.allclose(out, images, atol=1e-6)


def test_zero_mask_removes_everything(images):
    assert torch.allclose(apply_mask(images, torch.zeros(1, 1, 16, 12)), torch.zeros_like(images), atol=1e-7)


def test_dc_only_mask_keeps_the_mean(images):
    mask = torch.zeros(1, 1, 16, 12)
    mask[..., 0, 0] = 1
    out = apply_mask(images, mask)
    assert torch.allclose(out, images.mean(dim=(-2, -1), keepdim=True).expand_as(out), atol=1e-6)


def test_parseval(images):
    spectrum = torch.fft.fft2(images)
    assert torch.allclose((images**2).sum(), (spectrum.abs() ** 2).sum() / (16 * 12), rtol=1e-5)


def test_only_the_symmetric_part_of_a_mask_matters(images):
    mask = torch.rand(1, 1, 16, 12)
    symmetric = 0.5 * (mask + mirrored(mask))
    assert torch.allclose(apply_mask(images, mask), apply_mask(images, symmetric), atol=1e-6)


def test_mirrored_indexes_negative_frequencies():
    mask = np.arange(20.0).reshape(4, 5)
    flipped = mirrored(mask)
    for ky in range(4):
        for kx in range(5):
            assert flipped[ky, kx] == mask[(-ky) % 4, (-kx) % 5]


def test_filter_images_with_normalisation_round_trips(images):
    norm = Normalization((0.4, 0.5), (0.2, 0.3))
    assert torch.allclose(filter_images(images, torch.ones(1, 1, 16, 12), norm), images, atol=1e-5)


def test_filter_images_masks_the_normalised_image(images):
    # Dropping only the DC term of the normalised image leaves the model seeing zero-mean input.
    norm = Normalization((0.4, 0.5), (0.2, 0.3))
    mask = torch.ones(1, 1, 16, 12)
    mask[..., 0, 0] = 0
    seen_by_net = norm(filter_images(images, mask, norm))
    assert torch.allclose(seen_by_net.mean(dim=(-2, -1)), torch.zeros(3, 2), atol=1e-5)


def test_complement_is_binary_and_a_new_array():
    mask = np.array([[0.0, 1e-9, 0.3], [1.0, 0.0, 2e-8]], dtype=np.float32)
    before = mask.copy()
    comp = complement_mask(mask)
    np.testing.assert_array_equal(comp, [[1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(mask, before)
    assert not np.shares_memory(comp, mask)
    tensor = torch.from_numpy(mask)
    assert torch.equal(complement_mask(tensor), torch.from_numpy(comp))


def test_centred_puts_zero_frequency_in_the_middle():
    mask = np.zeros((6, 7))
    mask[0, 0] = 1
    shifted = centred(mask)
    assert shifted[3, 3] == 1
    np.testing.assert_array_equal(uncentred(shifted), mask)


def test_log_spectrum_is_centred_and_channel_pooled(images):
    spectrum = log_spectrum(images)
    assert spectrum.shape == (3, 16, 12)
    assert np.all(spectrum[:, 8, 6] >= spectrum.max(axis=(1, 2)) - 1e-6)  # DC dominates positive images
