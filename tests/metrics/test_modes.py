"""Mode coverage and class-histogram statistics against brute-force counts and scipy."""

import numpy as np
import pytest
import scipy.stats

from genjax.metrics.modes import class_histogram_stats, mode_coverage


def _brute_force(samples, centers, std, min_share):
    counts = np.zeros(len(centers), int)
    good = 0
    for s in samples:
        d = [np.linalg.norm(s - c) for c in centers]
        k = int(np.argmin(d))
        if d[k] <= 3 * std:
            counts[k] += 1
            good += 1
    return int(sum(c >= min_share * len(samples) for c in counts)), good / len(samples), counts


def test_mode_coverage_matches_brute_force():
    rng = np.random.default_rng(0)
    centers = np.array(
        [[2.0 * np.cos(a), 2.0 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    )
    std = 0.05
    # 200 at modes 0-4, 6 at mode 5 (below a 2% share of 1,100), none at 6-7, 94 between modes.
    parts = [centers[k] + std * rng.normal(size=(200, 2)) for k in range(5)]
    parts.append(centers[5] + std * rng.normal(size=(6, 2)))
    parts.append(rng.uniform(-0.5, 0.5, size=(94, 2)))
    samples = np.concatenate(parts)
    result = mode_coverage(samples, centers, std, min_share=0.02)
    covered, hq, counts = _brute_force(samples, centers, std, 0.02)
    assert result.modes_covered == covered == 5
    np.testing.assert_array_equal(result.counts, counts)
    assert result.high_quality_share == pytest.approx(hq)
    # 2-D Gaussian samples fall within 3 std (radius 0.15) with probability 1 - exp(-4.5) = 0.989.
    assert hq == pytest.approx(1006 * 0.989 / 1100, abs=0.01)
    assert mode_coverage(samples, centers, std, min_share=0.005).modes_covered == 6


def test_mode_coverage_errors():
    with pytest.raises(ValueError, match="samples must be"):
        mode_coverage(np.zeros((3, 2)), np.zeros((2, 3)), 0.1)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(np.zeros((3, 2)), np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="min_share"):
        mode_coverage(np.zeros((3, 2)), np.zeros((2, 2)), 0.1, min_share=2.0)


def test_class_histogram_stats():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 19 + [3] * 1)
    logits = np.eye(5)[labels] * 3.0 + 0.1
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    result = class_histogram_stats(probs, min_share=0.05)
    np.testing.assert_allclose(result.shares, [0.5, 0.3, 0.19, 0.01, 0.0])
    assert result.entropy == pytest.approx(scipy.stats.entropy([0.5, 0.3, 0.19, 0.01]))
    assert result.classes_covered == 3
    collapsed = class_histogram_stats(np.eye(10)[np.zeros(40, int)])
    assert collapsed.entropy == 0.0 and collapsed.classes_covered == 1
    with pytest.raises(ValueError, match="probs must be"):
        class_histogram_stats(np.zeros(5))
