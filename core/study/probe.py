"""Class specificity of single-image masks: linear probe, UMAP and seed stability (METHOD.md §6).

The probe is a linear classifier (logistic regression, :class:`LogisticProbe`) on flattened,
centred masks; the control is the same procedure with the labels permuted (scikit-learn's
permutation test), which should fall to chance. The paper's Figure 8 is a UMAP of the probe's outputs (one score per class):
here the *out-of-fold* outputs, since a probe's outputs on the masks it was fitted to separate
the classes for any masks, noise included; the same picture for permuted labels sits beside it.
A UMAP of the masks themselves is offered too.
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
    """The probe's test accuracy over repeated stratified splits against the same with permuted
    labels (:func:`sklearn.model_selection.permutation_test_score`: ``shuffled_accuracy`` is the
    mean over the ``permutations``, ``pvalue`` how often a permutation scored at least as well).

    ``scores`` are out-of-fold per-class outputs (each sample scored by a probe that never saw
    it) for every balanced sample, the Figure 8 UMAP's input; ``shuffled_scores`` the same for
    permuted labels (its control); ``index`` their rows in the input."""

    accuracy: float
    accuracy_std: float
    shuffled_accuracy: float
    shuffled_std: float
    pvalue: float
    permutations: int
    out_of_fold_accuracy: float
    chance: float
    samples: int
    classes: int
    repeats: int
    scores: np.ndarray
    shuffled_scores: np.ndarray
    index: np.ndarray
    labels: np.ndarray


def balanced_index(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    classes, counts = np.unique(labels, return_counts=True)
    usable = classes[counts >= 2]
    if len(usable) < 2:
        raise ConfigError("the linear probe needs at least two classes with two or more masks each")
    per_class = counts[counts >= 2].min()
    chosen = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in usable]
    return np.sort(np.concatenate(chosen))


class LogisticProbe:
    """The linear classifier: L2-regularised multinomial logistic regression (scikit-learn's
    ``LogisticRegression``, ``C``) on the masks as they are. Not standardised: scaling every
    frequency to unit variance would weigh the rarely kept ones, nearly constant across masks,
    as much as the ones that tell masks apart. On CIFAR-5 masks standardised logistic
    regression scored 7–15 points lower and a standardised ridge classifier (the probe before
    this one) 23–25 points lower (``benchmarks/probe-choice-cifar5.csv``, written by
    ``benchmarks/probe_choice.py``).

    Fitted in the span of the training masks: with an unpenalised intercept the solution's
    weights are a combination of the training masks (the loss gradient is), so the fit runs on
    their coordinates in that span (samples × samples instead of samples × frequencies) and
    gives the same classifier (the tests check it against ``LogisticRegression`` on the
    masks). Solved by Newton-CG, a few iterations on so few coordinates (lbfgs, scikit-learn's
    default, takes about 100): the permutation test's thousand fits take seconds.

    Follows scikit-learn's estimator protocol (``get_params``/``set_params``, ``fit``,
    ``decision_function``, ``predict``, ``score``), so its model-selection tools use it as is.
    """

    _estimator_type = "classifier"

    def __init__(self, C: float = 1.0, tol: float = 1e-4, max_iter: int = 1000) -> None:
        self.C = C
        self.tol = tol
        self.max_iter = max_iter

    def get_params(self, deep: bool = True) -> dict[str, float]:
        return {"C": self.C, "tol": self.tol, "max_iter": self.max_iter}

    def set_params(self, **params: float) -> LogisticProbe:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier", target_tags=TargetTags(required=True), classifier_tags=ClassifierTags()
        )

    def fit(self, features: np.ndarray, labels: np.ndarray) -> LogisticProbe:
        from sklearn.linear_model import LogisticRegression

        features = np.asarray(features, dtype=np.float64)
        _, singular, right = np.linalg.svd(features, full_matrices=False)
        rank = int((singular > singular.max(initial=0.0) * 1e-10).sum())
        self.basis_ = right[: max(rank, 1)].T  # frequencies × rank, orthonormal columns
        self.model_ = LogisticRegression(C=self.C, solver="newton-cg", tol=self.tol, max_iter=self.max_iter)
        self.model_.fit(features @ self.basis_, labels)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """One score per class (for two classes, the log-odds of the second against zero)."""
        scores = self.model_.decision_function(np.asarray(features, dtype=np.float64) @ self.basis_)
        return np.stack([np.zeros_like(scores), scores], axis=1) if scores.ndim == 1 else scores

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(features).argmax(axis=1)]

    def score(self, features: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(self.predict(features) == np.asarray(labels)))


def _probe() -> LogisticProbe:
    return LogisticProbe()


def out_of_fold_scores(features: np.ndarray, labels: np.ndarray, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each sample's per-class probe outputs (``decision_function``) from a probe fitted on the
    other folds (:func:`sklearn.model_selection.cross_val_predict`), so a picture of them shows
    what the probe learned, not what it memorised."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    per_class = np.unique(labels, return_counts=True)[1].min()
    split = StratifiedKFold(n_splits=max(2, min(folds, per_class)), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_predict(_probe(), features, labels, cv=split, method="decision_function")
    return scores


def linear_probe(
    masks: np.ndarray,
    labels: np.ndarray,
    *,
    test_fraction: float = 0.15,
    repeats: int = 5,
    permutations: int = 200,
    seed: int = 0,
) -> ProbeResult:
    """Test accuracy of a linear classifier separating masks by ``labels`` (the predicted
    classes), on a class-balanced subset, over ``repeats`` stratified 85/15 splits; its
    permutation p-value over ``permutations`` label permutations (the same splits); and
    out-of-fold scores for the pictures."""
    from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score, permutation_test_score
    from threadpoolctl import threadpool_limits

    labels = np.asarray(labels)
    if len(labels) != len(masks):
        raise ConfigError(f"{len(labels)} labels for {len(masks)} masks")
    if permutations < 1:
        raise ConfigError(f"permutations must be at least 1, got {permutations}")
    rng = np.random.default_rng(seed)
    index = balanced_index(labels, rng)
    features = mask_features(np.asarray(masks)[index])
    y = labels[index]
    classes = np.unique(y)
    test_size = max(test_fraction, len(classes) / len(y))
    splits = StratifiedShuffleSplit(n_splits=repeats, test_size=test_size, random_state=seed)
    # A thousand fits on samples × samples coordinates: one BLAS thread each, since threads only
    # contend on matrices this small (5× slower with two on a busy 2-core machine).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        real = cross_val_score(_probe(), features, y, cv=splits)
        _, shuffled, pvalue = permutation_test_score(
            _probe(), features, y, cv=splits, n_permutations=permutations, random_state=seed
        )
        scores = out_of_fold_scores(features, y, seed=seed)
        shuffled_scores = out_of_fold_scores(features, rng.permutation(y), seed=seed)
    return ProbeResult(
        accuracy=float(np.mean(real)),
        accuracy_std=float(np.std(real)),
        shuffled_accuracy=float(np.mean(shuffled)),
        shuffled_std=float(np.std(shuffled)),
        pvalue=float(pvalue),
        permutations=permutations,
        out_of_fold_accuracy=float(np.mean(classes[scores.argmax(axis=1)] == y)),
        chance=1.0 / len(classes),
        samples=len(y),
        classes=len(classes),
        repeats=repeats,
        scores=scores,
        shuffled_scores=shuffled_scores,
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
    """Pairwise Pearson correlation between masks learned with different seeds; NaN where a
    mask is constant (all kept or none: a correlation is undefined there), without numpy's
    division warning."""
    flat = np.stack([np.asarray(m, dtype=np.float64).ravel() for m in masks])
    if flat.shape[0] < 2:
        raise ConfigError("stability needs masks from at least two seeds")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.corrcoef(flat))  # a matrix for 2-D input; the stubs also allow a scalar
