import warnings

import numpy as np
import pytest

from fourier_masks.core.errors import ConfigError
from fourier_masks.core.study.probe import linear_probe, mask_features, mask_stability, umap_embedding


def _separable_masks(per_class=30, classes=4, size=12, seed=0):
    """Each class keeps its own frequency blob; noise on top."""
    rng = np.random.default_rng(seed)
    masks, labels = [], []
    for k in range(classes):
        template = np.zeros((size, size))
        template[k, k + 1] = template[-k, -(k + 1)] = 1
        for _ in range(per_class):
            masks.append(np.clip(template + 0.3 * rng.random((size, size)), 0, 1)[None])
            labels.append(k)
    return np.stack(masks), np.array(labels)


def test_probe_beats_the_shuffled_control_on_separable_masks():
    masks, labels = _separable_masks()
    result = linear_probe(masks, labels, seed=0, permutations=50)
    assert result.accuracy > 0.9
    assert result.shuffled_accuracy < 0.5
    assert result.chance == pytest.approx(0.25)
    assert result.scores.shape == (result.samples, 4)


def test_probe_on_noise_masks_is_at_chance_and_its_figure_shows_no_classes():
    """80 masks of uniform noise, 5 classes: held-out accuracy near chance, a permutation
    p-value that does not call it significant, and Figure 8's out-of-fold scores without class
    clusters (the in-sample scores separated them perfectly: silhouette 0.88)."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(1)
    masks = rng.uniform(size=(80, 1, 32, 32))
    labels = np.repeat(np.arange(5), 16)
    result = linear_probe(masks, labels, seed=0)
    assert abs(result.accuracy - result.chance) <= 0.15
    assert abs(result.out_of_fold_accuracy - result.chance) <= 0.15
    assert result.pvalue > 0.05 and result.permutations >= 200
    assert silhouette_score(result.scores, result.labels) < 0.2
    assert silhouette_score(result.shuffled_scores, result.labels) < 0.2


def test_probe_on_separable_masks_is_significant_out_of_fold():
    masks, labels = _separable_masks()
    result = linear_probe(masks, labels, seed=0)
    assert result.pvalue == pytest.approx(1 / (result.permutations + 1))
    assert result.out_of_fold_accuracy > 0.9
    assert result.shuffled_scores.shape == result.scores.shape


def test_probe_balances_classes():
    masks, labels = _separable_masks(per_class=10)
    keep = np.concatenate([np.flatnonzero(labels == 0), np.flatnonzero(labels != 0)[::3]])
    result = linear_probe(masks[keep], labels[keep], seed=0, permutations=20)
    counts = np.bincount(result.labels)
    assert counts.min() == counts.max()


def test_probe_needs_two_classes():
    masks, labels = _separable_masks(per_class=5, classes=1)
    with pytest.raises(ConfigError):
        linear_probe(masks, labels)


def test_features_are_centred_and_flat():
    masks = np.zeros((2, 1, 4, 4))
    masks[0, 0, 0, 0] = 1
    features = mask_features(masks)
    assert features.shape == (2, 16)
    assert features[0, 2 * 4 + 2] == 1  # zero frequency moved to the centre


@pytest.mark.slow
def test_umap_is_reproducible():
    masks, labels = _separable_masks(per_class=12)
    features = mask_features(masks)
    a = umap_embedding(features, seed=3)
    b = umap_embedding(features, seed=3)
    assert a.shape == (len(features), 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b)


def test_stability_of_identical_masks_is_one():
    rng = np.random.default_rng(0)
    mask = rng.random((1, 8, 8))
    r = mask_stability([mask, mask.copy(), 1 - mask])
    assert r[0, 1] == pytest.approx(1.0) and r[0, 2] == pytest.approx(-1.0)


def test_stability_with_a_constant_mask_is_undefined_and_silent():
    mask = np.random.default_rng(0).random((1, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's division warning would fail here
        r = mask_stability([mask, np.ones_like(mask)])
    assert np.isnan(r[0, 1])


@pytest.mark.parametrize("classes", [2, 5])
def test_the_probe_is_scikit_learns_logistic_regression_on_the_masks(classes):
    """Fitted in the span of the training masks, it is the same classifier as
    ``LogisticRegression`` on the masks themselves (more frequencies than masks, as in use)."""
    from sklearn.linear_model import LogisticRegression

    from fourier_masks.core.study.probe import LogisticProbe

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 300))
    features[:, 3] = 1.0  # a constant feature, as a mask's always-kept zero frequency
    labels = rng.integers(0, classes, 60)
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(features[:50], labels[:50])
    ours = LogisticProbe(C=1.0, tol=1e-10, max_iter=10_000).fit(features[:50], labels[:50])
    expected = reference.decision_function(features[50:])
    if expected.ndim == 1:
        expected = np.stack([np.zeros_like(expected), expected], axis=1)
    np.testing.assert_allclose(ours.decision_function(features[50:]), expected, atol=1e-5)
    np.testing.assert_array_equal(ours.predict(features[50:]), reference.predict(features[50:]))
