"""Jacobian frequency regularisation, JaFR (METHOD.md §7, seed ``003``).

During training the input gradient ``g = ∂ℓ/∂x`` is taken with ``create_graph=True``;
``G = |rfft2(g)|`` averaged over batch and channels, rows ``0..H/2`` (a map of non-negative
frequencies). With ``p_i`` falling linearly from +1 at index 0 to −1 at the last (plus 1e-5),

    A_r = Π_c (G[r, c] + 1e-5)^{p_c},   B_c = Π_r (G[r, c] + 1e-5)^{p_r},
    v = log(Σ_r A_r + Σ_c B_c)

and the training loss is ``ℓ − λ_freq · v``: positive λ_freq rewards gradient energy at low
frequencies, negative at high ones. The products are computed as sums of logarithms and
``v`` with log-sum-exp, which is the same number without overflow.
"""

from __future__ import annotations

import torch

EPS = 1e-5


def _exponents(n: int, device, dtype) -> torch.Tensor:
    return torch.linspace(1.0, -1.0, n, device=device, dtype=dtype) + EPS


def frequency_bias(gradient: torch.Tensor) -> torch.Tensor:
    """The JaFR bias value ``v`` of input gradients ``(N, C, H, W)`` (differentiable)."""
    h = gradient.shape[-2]
    spectrum = torch.fft.rfft2(gradient).abs().mean(dim=(0, 1))[: h // 2 + 1]  # (H/2+1, W/2+1)
    logs = torch.log(spectrum + EPS)
    p_rows = _exponents(logs.shape[0], logs.device, logs.dtype)
    p_cols = _exponents(logs.shape[1], logs.device, logs.dtype)
    log_a = logs @ p_cols  # log A_r = Σ_c p_c log(G[r, c] + ε)
    log_b = p_rows @ logs  # log B_c = Σ_r p_r log(G[r, c] + ε)
    return torch.logsumexp(torch.cat([log_a, log_b]), dim=0)
