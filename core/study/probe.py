"""Class specificity of single-image masks: linear probe, UMAP and seed stability (METHOD.md §6).

The probe is scikit-learn's logistic regression on flattened, centred masks; the control is
the same procedure with the labels shuffled, which should fall to chance. The paper's
Figure 8 is a UMAP of the probe's outputs (one score per class); a UMAP of the masks
themselves is offered too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..spectra.fourier import centred


def mask_features(masks: np.ndarray) -> np.ndarray:
    """Centred (``fftshift``) masks flattened to one row per mask."""
    masks = np.asarray(masks, dtype=np.float64)
    return centred(masks).reshape(masks.shape[0], -1)


@dataclass(frozen=True)
class ProbeResult:
    """Probe accuracy vs. its shuffled control; ``scores`` are the probe's per-class outputs
    for every balanced sample (for the Figure 8 UMAP), ``index`` their rows in the input."""

    accuracy: float
    accuracy_std: float
    shuffled_accuracy: float
    shuffled_std: float
    chance: float
    samples: int
    classes: int
    repeats: int
    scores: np.ndarray
    index: np.ndarray
    labels: np.ndarray


def _balanced_index(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    classes, counts = np.unique(labels, return_counts=True)
    usable = classes[counts >= 2]
    if len(usable) < 2:
        raise ConfigError("the linear probe needs at least two classes with two or more masks each")
    per_class = counts[counts >= 2].min()
    chosen = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in usable]
    return np.sort(np.concatenate(chosen))


def linear_probe(
    masks: np.ndarray,
    labels: np.ndarray,
    *,
    test_fraction: float = 0.15,
    repeats: int = 5,
    seed: int = 0,
) -> ProbeResult:
    """Test accuracy of a linear classifier separating masks by ``labels`` (the predicted
    classes), on a class-balanced subset, over ``repeats`` stratified 85/15 splits; and the
    same with shuffled labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    if len(labels) != len(masks):
        raise ConfigError(f"{len(labels)} labels for {len(masks)} masks")
    rng = np.random.default_rng(seed)
    index = _balanced_index(labels, rng)
    features = mask_features(np.asarray(masks)[index])
    y = labels[index]
    classes = np.unique(y)
    test_size = max(test_fraction, len(classes) / len(y))

    def probe():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))

    def evaluate(targets: np.ndarray, split_seed: int) -> float:
        split = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=split_seed)
        train, test = next(split.split(features, targets))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = probe().fit(features[train], targets[train])
        return float((model.predict(features[test]) == targets[test]).mean())

    real = [evaluate(y, seed + r) for r in range(repeats)]
    shuffled = [evaluate(rng.permutation(y), seed + r) for r in range(repeats)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = probe().fit(features, y)
    scores = full.decision_function(features)
    if scores.ndim == 1:
        scores = np.stack([-scores, scores], axis=1)
    return ProbeResult(
        accuracy=float(np.mean(real)),
        accuracy_std=float(np.std(real)),
        shuffled_accuracy=float(np.mean(shuffled)),
        shuffled_std=float(np.std(shuffled)),
        chance=1.0 / len(classes),
        samples=len(y),
        classes=len(classes),
        repeats=repeats,
        scores=scores,
        index=index,
        labels=y,
    )


def umap_embedding(features: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D UMAP coordinates of ``features`` (one row per sample), reproducible for a seed."""
    features = np.asarray(features, dtype=np.float32)
    if features.shape[0] < 4:
        raise ConfigError(f"UMAP needs at least 4 samples, got {features.shape[0]}")
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, features.shape[0] - 1), random_state=seed)
        return reducer.fit_transform(features)


def mask_stability(masks: list[np.ndarray]) -> np.ndarray:
    """Pairwise Pearson correlation between masks learned with different seeds."""
    flat = np.stack([np.asarray(m, dtype=np.float64).ravel() for m in masks])
    if flat.shape[0] < 2:
        raise ConfigError("stability needs masks from at least two seeds")
    return np.asarray(np.corrcoef(flat))  # a matrix for 2-D input; the stubs also allow a scalar
