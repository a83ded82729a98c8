"""Spectra: masks applied in the Fourier domain, and band energies under radial and angular
partitions of the centred spectrum (METHOD.md §1, §4).

Masks are numpy arrays or tensors in the unshifted DFT layout (:data:`MASK_LAYOUT`);
:func:`centred` turns one into the layout people look at.
"""

from .energy import (
    Partition,
    angular_energy,
    angular_partition,
    band_energies,
    centred_difference,
    mask_energies,
    per_image_exceedance,
    radial_energy,
    radial_partition,
)
from .fourier import (
    COMPLEMENT_THRESHOLD,
    COMPONENTS,
    MASK_LAYOUT,
    apply_mask,
    apply_mask_to_spectrum,
    centred,
    complement_mask,
    filter_images,
    log_spectrum,
    mirrored,
    uncentred,
)

__all__ = [
    "COMPLEMENT_THRESHOLD",
    "COMPONENTS",
    "MASK_LAYOUT",
    "Partition",
    "angular_energy",
    "angular_partition",
    "apply_mask",
    "apply_mask_to_spectrum",
    "band_energies",
    "centred",
    "centred_difference",
    "complement_mask",
    "filter_images",
    "log_spectrum",
    "mask_energies",
    "mirrored",
    "per_image_exceedance",
    "radial_energy",
    "radial_partition",
    "uncentred",
]
