"""Inception Score against its closed form exp(H(marginal) - E H(conditional))."""

import numpy as np
import pytest

from genjax.metrics import inception_score


def test_uniform_confident_classifier_scores_the_class_count_and_collapse_scores_one():
    probs = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score.inception_score(probs, num_splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6) and std < 1e-6
    collapsed, _ = inception_score.inception_score(np.eye(10)[np.zeros(1000, int)], num_splits=10)
    assert collapsed == pytest.approx(1.0, rel=1e-6)


def test_half_confident_predictions_score_classes_over_two():
    # p(y|x) = 1/2 on classes i and i+1: uniform marginal over 10, conditional entropy log 2: IS 5.
    i = np.arange(1000) % 10
    probs = 0.5 * (np.eye(10)[i] + np.eye(10)[(i + 1) % 10])
    mean, _ = inception_score.inception_score(probs, num_splits=5)
    assert mean == pytest.approx(5.0, rel=1e-6)


def test_bad_probabilities_are_a_clear_error():
    with pytest.raises(ValueError, match="summing to 1"):
        inception_score.inception_score(np.ones((20, 3)))
    with pytest.raises(ValueError, match="splits"):
        inception_score.inception_score(np.full((5, 2), 0.5), num_splits=10)
