"""Scoring images end to end under the shipped digits classifier."""

import numpy as np
import pytest

from genjax.data import digits, transforms
from genjax.metrics import evaluation, features


@pytest.fixture(scope="module")
def splits():
    load = lambda s: np.asarray(
        transforms.to_symmetric(digits.load_digits(s)["image"], digits.NUM_LEVELS)
    )
    return load("train"), load("test")


def test_real_images_score_far_better_than_noise_and_report_provenance(splits):
    train, test = splits
    extractor = features.digits_features()
    noise = np.random.default_rng(1).uniform(-1, 1, size=test.shape).astype(np.float32)
    real = evaluation.evaluate_images(
        train, test, reference_name="digits/test", extractor=extractor
    )
    bad = evaluation.evaluate_images(noise, test, reference_name="digits/test", extractor=extractor)
    assert real["fid"] * 10 < bad["fid"]
    assert real["precision"] > 0.8 and bad["precision"] < 0.2
    assert real["classes_covered"] == 10 and real["inception_score"] > 8.0
    assert "1437 generated vs 360 reference from digits/test" in real["fid_provenance"]


def test_class_coverage_counts_classes_and_histogram_entropy():
    probs = np.eye(10)[np.array([0] * 50 + [1] * 50)]
    covered, entropy = evaluation.class_coverage(probs)
    assert covered == 2 and entropy == pytest.approx(np.log(2.0))


def test_wrong_image_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[N, 8, 8, 1\]"):
        features.digits_features().apply(np.zeros((4, 28, 28, 1), np.float32))
