"""The "blue shift" (the main paper's Figure 1): a sinusoid through common non-linearities
spreads its energy to higher frequencies (harmonics).

A teaching view: ``sin`` sampled over a whole number of periods, passed through softplus,
tanh, ReLU and hardtanh, with the magnitude spectrum of each output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..tables import Table

NONLINEARITIES = {
    "input: sin": lambda s: s,
    "softplus": F.softplus,
    "tanh": torch.tanh,
    "ReLU": F.relu,
    "hardtanh": F.hardtanh,
}


@dataclass(frozen=True)
class BlueShift:
    time: np.ndarray
    signals: dict[str, np.ndarray]
    frequencies: np.ndarray  # cycles per window
    spectra: dict[str, np.ndarray]  # magnitude, DC excluded from the harmonic share

    def harmonic_share(self, name: str, fundamental: int) -> float:
        """Share of the non-DC spectral energy above the fundamental frequency."""
        energy = self.spectra[name][1:] ** 2
        return float(energy[self.frequencies[1:] > fundamental].sum() / energy.sum())

    def table(self, fundamental: int) -> Table:
        table = Table.build(
            "blue-shift",
            "Blue shift of a sinusoid through non-linearities",
            [("frequency", "cycles/window"), *[(name, "magnitude") for name in self.spectra]],
            notes=f"Input: sin with {fundamental} cycles per window; one-sided magnitude spectra.",
        )
        for k, f in enumerate(self.frequencies):
            table.add_row(float(f), *[float(self.spectra[name][k]) for name in self.spectra])
        return table


# Far beyond where every saturating non-linearity is flat; the spectra of much larger values
# overflow float64.
MAX_AMPLITUDE = 1e6


MAX_SAMPLES = 2**20


def blue_shift(cycles: int = 4, samples: int = 512, amplitude: float = 3.0) -> BlueShift:
    """``amplitude · sin`` with ``cycles`` periods in ``samples`` points, through each
    non-linearity; larger amplitudes drive the saturating ones harder."""
    if not 4 <= samples <= MAX_SAMPLES:
        raise ConfigError(f"blue-shift samples must be in [4, {MAX_SAMPLES}], got {samples}; the default is 512")
    if not 1 <= cycles < samples / 2:
        raise ConfigError(
            f"blue-shift cycles must be in [1, {(samples - 1) // 2}] for {samples} samples (below Nyquist), got {cycles}"
        )
    if not (np.isfinite(amplitude) and 0 < amplitude <= MAX_AMPLITUDE):
        raise ConfigError(
            f"blue-shift amplitude must be in (0, {MAX_AMPLITUDE:g}], got {amplitude:g}; the default is 3"
        )
    t = np.arange(samples) / samples
    signal = torch.tensor(amplitude * np.sin(2 * np.pi * cycles * t))
    outputs = {name: f(signal).numpy() for name, f in NONLINEARITIES.items()}
    spectra = {name: np.abs(np.fft.rfft(values)) / samples for name, values in outputs.items()}
    return BlueShift(time=t, signals=outputs, frequencies=np.fft.rfftfreq(samples, d=1 / samples), spectra=spectra)
