"""Analyses beyond the main paper: adversarial frequency maps and IdCor (Basile et al.),
Fourier heat maps (Yin et al.), robustness to band-limited noise and the input gradient's
spectrum (the JaFR evaluation), common corruptions and mCE (Hendrycks and Dietterich),
cutoff sweeps, the Fourier sensitivity of input gradients, layer spectra (Park and Kim), the
zoo profile, and the blue-shift illustration. ``run_*`` run one into a results store, so the
command line and the app write the same files."""

from .advmaps import AdversarialMapsConfig, AdversarialMapsResult, AttackComparison, adversarial_maps, cosine_similarity
from .analyses import (
    run_adversarial_maps,
    run_blue_shift,
    run_corruptions,
    run_cutoff_sweep,
    run_heat_map,
    run_layer_spectra,
    run_profile,
    run_robustness,
    run_sensitivity,
)
from .blueshift import NONLINEARITIES, BlueShift, blue_shift
from .corruptions import (
    CORRUPTIONS,
    SEVERITIES,
    CorruptionResult,
    corrupt,
    corruption_accuracy,
    read_cifar10_c,
    read_imagenet_c,
)
from .idcor import IdCorResult, idcor, twonn_dimension
from .profile import ProfileConfig, ProfileResult, profile_models
from .robustness import (
    HEAT_MAP_SIGNS,
    HeatMapResult,
    RobustnessResult,
    band_noise,
    fourier_heat_map,
    heat_map_stride,
    high_frequency_share,
    input_gradients,
    measure_robustness,
)
from .sensitivity import LayerSpectraResult, LayerSpectrum, SensitivityResult, fourier_sensitivity, layer_spectra
from .sweeps import DEFAULT_RADII, CutoffSweepResult, cutoff_sweep, halving_radius

__all__ = [
    "AdversarialMapsConfig",
    "AdversarialMapsResult",
    "AttackComparison",
    "BlueShift",
    "CORRUPTIONS",
    "CorruptionResult",
    "CutoffSweepResult",
    "DEFAULT_RADII",
    "HEAT_MAP_SIGNS",
    "HeatMapResult",
    "IdCorResult",
    "LayerSpectraResult",
    "LayerSpectrum",
    "NONLINEARITIES",
    "ProfileConfig",
    "ProfileResult",
    "RobustnessResult",
    "SEVERITIES",
    "SensitivityResult",
    "adversarial_maps",
    "band_noise",
    "blue_shift",
    "corrupt",
    "corruption_accuracy",
    "cosine_similarity",
    "cutoff_sweep",
    "fourier_heat_map",
    "fourier_sensitivity",
    "halving_radius",
    "heat_map_stride",
    "high_frequency_share",
    "idcor",
    "input_gradients",
    "layer_spectra",
    "measure_robustness",
    "profile_models",
    "read_cifar10_c",
    "read_imagenet_c",
    "run_adversarial_maps",
    "run_blue_shift",
    "run_corruptions",
    "run_cutoff_sweep",
    "run_heat_map",
    "run_layer_spectra",
    "run_profile",
    "run_robustness",
    "run_sensitivity",
    "twonn_dimension",
]
