"""Analyses beyond the main paper: adversarial frequency maps and IdCor (Basile et al.),
Fourier heat maps (Yin et al.), robustness to band-limited noise and the input gradient's
spectrum (the JaFR evaluation), and the blue-shift illustration. ``run_*`` run one into a
results store, so the command line and the app write the same files."""

from .advmaps import AdversarialMapsConfig, AdversarialMapsResult, AttackComparison, adversarial_maps, cosine_similarity
from .analyses import run_adversarial_maps, run_blue_shift, run_heat_map, run_robustness
from .blueshift import NONLINEARITIES, BlueShift, blue_shift
from .idcor import IdCorResult, idcor, twonn_dimension
from .robustness import (
    HeatMapResult,
    RobustnessResult,
    band_noise,
    fourier_heat_map,
    high_frequency_share,
    input_gradients,
    measure_robustness,
)

__all__ = [
    "NONLINEARITIES",
    "AdversarialMapsConfig",
    "AdversarialMapsResult",
    "AttackComparison",
    "BlueShift",
    "HeatMapResult",
    "IdCorResult",
    "RobustnessResult",
    "adversarial_maps",
    "band_noise",
    "blue_shift",
    "cosine_similarity",
    "fourier_heat_map",
    "high_frequency_share",
    "idcor",
    "input_gradients",
    "measure_robustness",
    "run_adversarial_maps",
    "run_blue_shift",
    "run_heat_map",
    "run_robustness",
    "twonn_dimension",
]
