import numpy as np
import pytest

from fourier_masks.core.spectra.energy import (
    angular_partition,
    band_energies,
    centred_difference,
    mask_energies,
    per_image_exceedance,
    radial_partition,
)


@pytest.mark.parametrize("shape", [(32, 32), (33, 33), (16, 24), (7, 9)])
@pytest.mark.parametrize("n", [1, 4, 32])
def test_partitions_cover_the_spectrum_exactly_once(shape, n):
    for partition in (radial_partition(shape, n), angular_partition(shape, n)):
        counts = partition.one_hot().sum(axis=0)
        np.testing.assert_array_equal(counts, np.ones(shape))
        assert partition.labels.min() >= 0 and partition.labels.max() < n


def test_radial_edges_run_from_centre_to_corner():
    partition = radial_partition((32, 32), 8)
    assert partition.edges[0] == 0
    assert partition.edges[-1] == pytest.approx(np.hypot(16, 16))


def _sinusoid_mask(size: int, ky: int, kx: int) -> np.ndarray:
    """Spectrum support of a pure sinusoid: its frequency and the mirror, stored layout."""
    image = np.cos(2 * np.pi * (ky * np.arange(size)[:, None] + kx * np.arange(size)[None, :]) / size)
    return np.abs(np.fft.fft2(image))


def test_a_sinusoid_lands_in_its_own_band():
    size, n = 32, 16
    mask = _sinusoid_mask(size, 0, 6)  # horizontal frequency 6 -> radius 6, angle 0° and 180°
    radial = band_energies(mask, radial_partition((size, size), n))
    width = np.hypot(16, 16) / n
    assert np.argmax(radial) == int(6 / width)
    assert radial.max() == pytest.approx(1.0)
    angular = band_energies(mask, angular_partition((size, size), 8))
    np.testing.assert_allclose(angular[[0, 4]], [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-9)
    assert np.allclose(np.delete(angular, [0, 4]), 0)


def test_a_vertical_frequency_points_up_and_down():
    mask = _sinusoid_mask(32, 5, 0)
    angular = band_energies(mask, angular_partition((32, 32), 4))  # sectors of 90° from +x
    # 90° lies on the boundary of sectors 0/1 and 270° of 2/3: the energy sits in sectors 1 and 3.
    assert angular[1] > 0.5 and angular[3] > 0.5


def test_band_energies_have_unit_norm():
    rng = np.random.default_rng(0)
    masks = rng.random((5, 20, 20))
    energies = band_energies(masks, radial_partition((20, 20), 7))
    np.testing.assert_allclose((energies**2).sum(axis=1), 1.0, rtol=1e-9)
    scaled = band_energies(3 * masks, radial_partition((20, 20), 7))
    np.testing.assert_allclose(scaled, energies)


def test_mask_energies_pools_channels():
    mask = np.zeros((1, 16, 16))
    mask[0, 0, 3] = 1
    np.testing.assert_allclose(
        mask_energies(mask, radial_partition((16, 16), 4)), band_energies(mask[0], radial_partition((16, 16), 4))
    )


def test_centred_difference_is_scaled_around_zero():
    rng = np.random.default_rng(1)
    a, b = rng.random((4, 8, 8)), rng.random((4, 8, 8))
    diff = centred_difference(a, b)
    assert diff.min() == pytest.approx(-0.5) and diff.max() == pytest.approx(0.5)
    expected = np.fft.fftshift(a.mean(0) - b.mean(0))
    assert np.corrcoef(diff.ravel(), expected.ravel())[0, 1] == pytest.approx(1.0)


def test_per_image_exceedance_counts_images():
    partition = radial_partition((16, 16), 4)
    low = np.zeros((16, 16))
    low[0, 1] = low[0, -1] = 1  # lowest band
    high = np.zeros((16, 16))
    high[8, 8] = 1  # corner: highest band
    first = np.stack([low, low, low, high])
    second = np.stack([high, high, low, high])
    pct = per_image_exceedance(first, second, partition)
    assert pct[-1] == pytest.approx(50.0)  # images 0 and 1 gained high-band energy
    assert pct[0] == pytest.approx(0.0)
