"""Intrinsic-dimension correlation (IdCor) between two sets of paired samples (METHOD.md §7).

``I(·)`` is the TwoNN intrinsic dimension: for every point, ``μ = r₂ / r₁`` (distances to its
second and first nearest neighbours); the largest 10 % of ``μ`` are dropped; the dimension is
the slope, through the origin, of ``−log(1 − F(μ))`` against ``log μ`` where ``F`` is the
empirical CDF. Each set is standardised (per feature) and each row L2-normalised; then

    corr = (I₁ + I₂ − I₁₂) / (I₁ + I₂ − max(I₁, I₂))

where ``I₁₂`` is the dimension of the concatenated features ``[X₁, X₂]``. Independent sets give
``I₁₂ ≈ I₁ + I₂`` (corr ≈ 0); a set and a smooth function of it give ``I₁₂ ≈ max(I₁, I₂)``
(corr ≈ 1). The p-value comes from shuffling the rows of one set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


def twonn_dimension(points: np.ndarray, discard_fraction: float = 0.1) -> float:
    """TwoNN intrinsic dimension of ``points`` ``(N, D)``."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] < 4:
        raise ConfigError(f"the intrinsic dimension needs at least 4 points, got {points.shape[0]}")
    distances, _ = cKDTree(points).query(points, k=3)
    r1, r2 = distances[:, 1], distances[:, 2]
    valid = r1 > 0  # duplicates carry no information about the dimension
    mu = np.sort(r2[valid] / r1[valid])
    n = len(mu)
    if n < 4:
        raise ConfigError("too many duplicate points to estimate an intrinsic dimension")
    keep = int(np.floor(n * (1 - discard_fraction)))
    cdf = np.arange(1, n + 1) / n
    x = np.log(mu[:keep])
    y = -np.log(1 - cdf[:keep])
    return float((x @ y) / (x @ x))


def prepare(points: np.ndarray) -> np.ndarray:
    """Standardise each feature, then scale each row to unit L2 norm."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    std = points.std(axis=0)
    points = (points - points.mean(axis=0)) / np.where(std > 0, std, 1.0)
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class IdCorResult:
    correlation: float
    p_value: float
    dimension_1: float
    dimension_2: float
    dimension_joint: float
    permutations: int
    null: np.ndarray


def _correlation(a: np.ndarray, b: np.ndarray, i1: float, i2: float) -> tuple[float, float]:
    joint = twonn_dimension(np.concatenate([a, b], axis=1))
    denominator = i1 + i2 - max(i1, i2)
    return (i1 + i2 - joint) / denominator, joint


def idcor(first: np.ndarray, second: np.ndarray, *, permutations: int = 100, seed: int = 0) -> IdCorResult:
    """IdCor between paired sets ``first[i] ↔ second[i]`` with a permutation p-value
    ``(1 + #{corr_perm ≥ corr}) / (1 + permutations)``."""
    if len(first) != len(second):
        raise ConfigError(f"IdCor needs paired samples: {len(first)} and {len(second)} rows")
    if permutations < 0:
        raise ConfigError("the number of permutations must be ≥ 0")
    a, b = prepare(first), prepare(second)
    i1, i2 = twonn_dimension(a), twonn_dimension(b)
    correlation, joint = _correlation(a, b, i1, i2)
    rng = np.random.default_rng(seed)
    null = np.array([_correlation(a, b[rng.permutation(len(b))], i1, i2)[0] for _ in range(permutations)])
    p_value = (1 + np.sum(null >= correlation)) / (1 + permutations)
    return IdCorResult(correlation, float(p_value), i1, i2, joint, permutations, null)
