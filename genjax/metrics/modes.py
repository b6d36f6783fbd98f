"""Mode-collapse measures: modes covered on a mixture with known centres (2-D toys), and the class
histogram of generated images under a classifier (digits).

A mode counts as covered when at least ``min_share`` of the samples lie within 3 standard
deviations of its centre; samples within 3 std of some centre are "high quality" (the protocol
of Srivastava et al., 2017, VEEGAN, and Lin et al., 2018, PacGAN, stated with shares instead of
counts).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genjax.metrics.evaluation import class_coverage

__all__ = ["ModeCoverage", "ClassHistogram", "mode_coverage", "class_histogram_stats"]


class ModeCoverage(NamedTuple):
    """How many modes of a known mixture the samples reach.

    Attributes:
      modes_covered: the number of modes holding at least ``min_share`` of the samples.
      high_quality_share: the share of samples within 3 std of their nearest centre, in [0, 1].
      counts: int64 [K], samples within 3 std of each centre (each sample to its nearest centre).
    """

    modes_covered: int
    high_quality_share: float
    counts: np.ndarray


class ClassHistogram(NamedTuple):
    """The spread of samples over classes, by a classifier's most probable class.

    Attributes:
      shares: float64 [K], the share of samples whose most probable class is k (sums to 1).
      entropy: of ``shares`` in nats; ``log K`` when balanced, 0 when collapsed on one class.
      classes_covered: classes holding at least ``min_share`` of the samples.
    """

    shares: np.ndarray
    entropy: float
    classes_covered: int


def mode_coverage(samples, centers, std: float, min_share: float = 0.01) -> ModeCoverage:
    """Modes covered and the high-quality share of samples from an isotropic Gaussian mixture.

    Args:
      samples: float [N, D].
      centers: float [K, D], the mode centres.
      std: the per-coordinate standard deviation of every mode (> 0); a sample belongs to a mode
        when its Euclidean distance to the centre is at most ``3 * std``.
      min_share: the share of all N samples a mode needs to count as covered, in [0, 1].

    Returns:
      :class:`ModeCoverage`.

    Raises:
      ValueError: for mismatched shapes, no samples, ``std <= 0`` or ``min_share`` outside [0, 1].
    """
    samples = np.asarray(samples, np.float64)
    centers = np.asarray(centers, np.float64)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"samples must be [N, D] and centers [K, D], got {samples.shape} and {centers.shape}"
        )
    if len(samples) == 0:
        raise ValueError("mode_coverage needs at least one sample")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be in [0, 1], got {min_share}")
    dist = np.sqrt(np.sum(np.square(samples[:, None, :] - centers[None, :, :]), -1))
    nearest = np.argmin(dist, -1)
    close = dist[np.arange(len(samples)), nearest] <= 3.0 * std
    counts = np.bincount(nearest[close], minlength=len(centers)).astype(np.int64)
    covered = int(np.sum(counts >= min_share * len(samples)))
    return ModeCoverage(covered, float(np.mean(close)), counts)


def class_histogram_stats(probs, min_share: float = 0.01) -> ClassHistogram:
    """The histogram of predicted classes of generated samples, its entropy and the classes covered.

    Args:
      probs: float [N, K], a classifier's class probabilities (or logits: only the argmax is used).
      min_share: the share of samples a class needs to count as covered, in [0, 1].

    Returns:
      :class:`ClassHistogram`.

    Raises:
      ValueError: for a non-[N, K] input or no samples.
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must be [N, K] with N >= 1, got {probs.shape}")
    counts = np.bincount(np.argmax(probs, -1), minlength=probs.shape[1]).astype(np.float64)
    covered, entropy = class_coverage(probs, min_share)
    return ClassHistogram(counts / counts.sum(), entropy, covered)
