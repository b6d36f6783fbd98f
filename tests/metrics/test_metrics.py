"""Metrics against closed forms, scipy, and cases that tell precision from recall."""

import numpy as np
import pytest
import scipy.linalg

from genjax.data import digits, transforms
from genjax.metrics import evaluation, features, fid, inception_score, likelihood, prdc

RNG = np.random.default_rng(0)


def _random_psd(d, rng):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_of_gaussian_statistics_equals_the_closed_form():
    # Commuting (diagonal) covariances: FID = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    a = fid.FeatureStats(np.zeros(3), np.diag(s1), 100)
    b = fid.FeatureStats(np.array([1.0, 2.0, 0.0]), np.diag(s2), 100)
    want = 5.0 + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert fid.frechet_distance(a, b) == pytest.approx(want, rel=1e-10)


def test_fid_matches_scipy_on_random_features_and_is_zero_against_itself():
    x, y = RNG.normal(size=(500, 16)), RNG.normal(size=(400, 16)) * 1.3 + 0.2
    sx, sy = fid.stats_from_features(x), fid.stats_from_features(y)
    covmean = scipy.linalg.sqrtm(np.cov(x, rowvar=False) @ np.cov(y, rowvar=False)).real
    d = x.mean(0) - y.mean(0)
    want = d @ d + np.trace(np.cov(x, rowvar=False) + np.cov(y, rowvar=False) - 2 * covmean)
    assert fid.frechet_distance(sx, sy) == pytest.approx(want, rel=1e-6)
    assert fid.frechet_distance(sx, sx) == pytest.approx(0.0, abs=1e-8)


def test_streaming_statistics_do_not_depend_on_the_batch_size():
    x = RNG.normal(size=(777, 8)) * 3.0 + 100.0  # a large mean stresses naive accumulation
    a, b = fid.stats_from_features(x, batch_size=7), fid.stats_from_features(x, batch_size=777)
    np.testing.assert_allclose(a.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(a.cov, np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-9)


def test_non_psd_covariance_is_a_clear_error():
    bad = fid.FeatureStats(np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), 10)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        fid.frechet_distance(bad, fid.FeatureStats(np.zeros(2), np.eye(2), 10))


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    x, y = RNG.normal(size=(1000, 8)), RNG.normal(size=(1000, 8))
    same = fid.kid(x, y, num_subsets=20, subset_size=500)
    shifted = fid.kid(x, y + 0.5, num_subsets=20, subset_size=500)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert shifted.mean > 10 * max(same.std, 1e-3)


def test_precision_and_recall_on_identical_and_far_sets():
    x = RNG.normal(size=(300, 4))
    same = prdc.prdc(x, x.copy(), k=3)
    assert same.precision == 1.0 and same.recall == 1.0 and same.coverage == 1.0
    far = prdc.prdc(x, x + 100.0, k=3)
    assert far.precision == 0.0 and far.recall == 0.0 and far.density == 0.0


def test_precision_and_recall_are_not_swapped():
    # Generated = many copies of 10 of the 300 real points: every sample is realistic (precision 1)
    # but only 10/300 of the real data is recalled. Swapped metrics would give the opposite.
    real = RNG.normal(size=(300, 4))
    gen = np.repeat(real[:10], 30, axis=0)
    scores = prdc.prdc(real, gen, k=3)
    assert scores.precision == 1.0
    assert scores.recall == pytest.approx(10 / 300, abs=1e-9)
    # Coverage by brute force: real points whose own 3-NN ball contains one of the 10 copied points.
    d = np.linalg.norm(real[:, None] - real[None], axis=-1)
    radii = np.sort(d, axis=1)[:, 3]
    assert scores.coverage == pytest.approx(np.mean(d[:, :10].min(1) <= radii))


def test_inception_score_of_a_uniform_confident_classifier_is_the_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score.inception_score(probs, num_splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6) and std < 1e-6
    collapsed, _ = inception_score.inception_score(np.eye(10)[np.zeros(1000, int)], num_splits=10)
    assert collapsed == pytest.approx(1.0, rel=1e-6)


def test_likelihood_units():
    assert likelihood.nats_to_bits_per_dim(64 * np.log(2.0), 64) == pytest.approx(1.0)
    assert likelihood.bits_per_dim_to_nats(1.0, 64) == pytest.approx(64 * np.log(2.0))
    assert likelihood.dequantization_offset(64, 1 / 17) == pytest.approx(64 * np.log(17))


def test_shipped_digits_classifier_is_accurate_and_its_features_separate_real_from_noise():
    extractor = features.digits_features()
    test = digits.load_digits("test")
    images = np.asarray(transforms.to_symmetric(test["image"], digits.NUM_LEVELS))
    feats, probs = extractor.apply(images)
    accuracy = np.mean(probs.argmax(1) == test["label"])
    assert accuracy >= 0.97 and extractor.test_accuracy >= 0.97
    train = np.asarray(transforms.to_symmetric(digits.load_digits("train")["image"], digits.NUM_LEVELS))
    noise = np.random.default_rng(1).uniform(-1, 1, size=images.shape).astype(np.float32)
    real_vs_real = evaluation.evaluate_images(train, images, reference_name="digits/test", extractor=extractor)
    noise_vs_real = evaluation.evaluate_images(noise, images, reference_name="digits/test", extractor=extractor)
    assert real_vs_real["fid"] * 10 < noise_vs_real["fid"]
    assert real_vs_real["classes_covered"] == 10
    assert "360 reference from digits/test" in real_vs_real["fid_provenance"]


def test_missing_classifier_file_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json.*experiments.train_classifier"):
        features.load_classifier(str(tmp_path / "nothing"))
