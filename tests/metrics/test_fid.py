"""FID and KID against closed forms, scipy and brute force; streaming and caching."""

import numpy as np
import pytest
import scipy.linalg

from genjax.metrics import fid


def _stats(x):
    return fid.stats_from_features(x)


def test_fid_of_commuting_gaussians_equals_the_closed_form():
    # Diagonal covariances: FID = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    a = fid.FeatureStats(np.zeros(3), np.diag(s1), 100)
    b = fid.FeatureStats(np.array([1.0, 2.0, 0.0]), np.diag(s2), 100)
    want = 5.0 + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert fid.frechet_distance(a, b) == pytest.approx(want, rel=1e-10)


def test_fid_of_non_commuting_2d_gaussians_equals_the_closed_form():
    # For 2x2 M similar to a PSD matrix: tr M^(1/2) = sqrt(tr M + 2 sqrt(det M)).
    s1 = np.array([[2.0, 0.9], [0.9, 1.0]])
    s2 = np.array([[0.5, -0.3], [-0.3, 3.0]])
    m = s1 @ s2
    tr_sqrt = np.sqrt(np.trace(m) + 2.0 * np.sqrt(np.linalg.det(m)))
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    want = 8.0 + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt
    got = fid.frechet_distance(fid.FeatureStats(mu1, s1, 10), fid.FeatureStats(mu2, s2, 10))
    assert got == pytest.approx(want, rel=1e-10)


def test_fid_matches_scipy_on_random_features_and_is_zero_against_itself():
    rng = np.random.default_rng(0)
    x, y = (
        rng.normal(size=(500, 16)),
        rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.2,
    )
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    d = x.mean(0) - y.mean(0)
    want = d @ d + np.trace(cx + cy - 2 * scipy.linalg.sqrtm(cx @ cy).real)
    assert fid.frechet_distance(_stats(x), _stats(y)) == pytest.approx(want, rel=1e-8)
    assert fid.frechet_distance(_stats(x), _stats(x)) == pytest.approx(0.0, abs=1e-9)


def test_fid_with_singular_covariances_equals_the_fid_in_their_subspace():
    # Features confined to 3 of 8 dimensions (as with dead ReLU units) give rank-3 covariances.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(300, 3)) * 2.0 + 1.0
    pad = lambda a: np.concatenate([a, np.zeros((len(a), 5))], axis=1)
    small = fid.frechet_distance(_stats(x), _stats(y))
    assert fid.frechet_distance(_stats(pad(x)), _stats(pad(y))) == pytest.approx(small, rel=1e-9)


def test_streaming_statistics_do_not_depend_on_the_batch_size():
    x = (
        np.random.default_rng(2).normal(size=(777, 8)) * 3.0 + 100.0
    )  # a large mean stresses naive sums
    a, b = fid.stats_from_features(x, batch_size=7), fid.stats_from_features(x, batch_size=777)
    np.testing.assert_allclose(a.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(a.cov, np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-9)
    y = np.random.default_rng(3).normal(size=(500, 8)) + 100.5
    assert fid.frechet_distance(a, _stats(y)) == pytest.approx(
        fid.frechet_distance(b, _stats(y)), rel=1e-9
    )


def test_bad_inputs_are_clear_errors():
    bad = fid.FeatureStats(np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), 10)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        fid.frechet_distance(bad, fid.FeatureStats(np.zeros(2), np.eye(2), 10))
    with pytest.raises(ValueError, match="feature sizes differ"):
        fid.frechet_distance(
            fid.FeatureStats(np.zeros(2), np.eye(2), 10),
            fid.FeatureStats(np.zeros(3), np.eye(3), 10),
        )
    with pytest.raises(ValueError, match="at least 2"):
        fid.stats_from_features(np.zeros((1, 4)))


def test_fid_result_carries_its_provenance():
    rng = np.random.default_rng(4)
    r = fid.fid(
        _stats(rng.normal(size=(50, 4))),
        _stats(rng.normal(size=(60, 4))),
        features="digits-classifier",
        reference_name="digits/test",
    )
    assert (r.num_generated, r.num_reference, r.features, r.reference) == (
        50,
        60,
        "digits-classifier",
        "digits/test",
    )
    assert "50 generated vs 60 reference from digits/test" in str(r)


def test_reference_stats_are_computed_once_and_cached(tmp_path):
    images = np.random.default_rng(5).normal(size=(120, 6)).astype(np.float32)
    calls = []

    def features_fn(x):
        calls.append(len(x))
        return x * 2.0

    path = str(tmp_path / "ref" / "digits_test.npz")
    first = fid.reference_stats(features_fn, images, path, batch_size=50)
    second = fid.reference_stats(features_fn, images, path, batch_size=50)
    assert calls == [50, 50, 20]
    np.testing.assert_allclose(first.cov, np.cov(images * 2.0, rowvar=False), rtol=1e-6)
    np.testing.assert_array_equal(first.mean, second.mean)
    assert second.count == 120
    with pytest.raises(ValueError, match="holds statistics of 120 images, not 100"):
        fid.reference_stats(features_fn, images[:100], path)


def _mmd2_brute(x, y):
    k = lambda a, b: (a @ b / len(a) + 1.0) ** 3
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_with_one_subset_of_everything_is_the_unbiased_mmd():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3)) + 0.3
    r = fid.kid(x, y, num_subsets=1, subset_size=12)
    assert r.mean == pytest.approx(_mmd2_brute(x, y), rel=1e-10)
    assert r.std == 0.0


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    same = fid.kid(x, y, num_subsets=20, subset_size=500)
    shifted = fid.kid(x, y + 0.5, num_subsets=20, subset_size=500)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert shifted.mean > 10 * max(same.std, 1e-3)
