"""Frechet Inception Distance (Heusel et al., 2017) and Kernel Inception Distance (Binkowski et al.,
2018) on feature arrays.

Statistics accumulate in streaming fashion in float64 (sums and centred cross products merged with
Chan et al.'s update), so the result does not depend on the batch size used. Every reported value
carries its provenance (features, sample counts, reference split): numbers from different reference
sets are not comparable.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterable, NamedTuple, Optional

import numpy as np

__all__ = [
    "FeatureStats",
    "accumulate",
    "stats_from_features",
    "frechet_distance",
    "FIDResult",
    "fid",
    "kid",
    "KIDResult",
    "reference_stats",
]


@dataclasses.dataclass(frozen=True)
class FeatureStats:
    """Mean, covariance (unbiased, float64) and count of a feature set."""

    mean: np.ndarray
    cov: np.ndarray
    count: int


class _Running(NamedTuple):
    n: int
    mean: np.ndarray
    m2: np.ndarray  # sum of centred outer products


def _merge(a: Optional[_Running], x: np.ndarray) -> _Running:
    x = np.asarray(x, np.float64)
    n_b = x.shape[0]
    mean_b = x.mean(0)
    c = x - mean_b
    m2_b = c.T @ c
    if a is None or a.n == 0:
        return _Running(n_b, mean_b, m2_b)
    n = a.n + n_b
    delta = mean_b - a.mean
    mean = a.mean + delta * (n_b / n)
    m2 = a.m2 + m2_b + np.outer(delta, delta) * (a.n * n_b / n)
    return _Running(n, mean, m2)


def accumulate(batches: Iterable[np.ndarray]) -> FeatureStats:
    """Streams ``[b, F]`` feature batches into float64 mean and covariance.

    Raises:
      ValueError: for fewer than 2 features in total or batches of another rank.
    """
    run: Optional[_Running] = None
    for x in batches:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"feature batches must be [batch, features], got shape {x.shape}")
        if x.shape[0]:
            run = _merge(run, x)
    if run is None or run.n < 2:
        raise ValueError("need at least 2 feature vectors to estimate a covariance")
    return FeatureStats(run.mean, run.m2 / (run.n - 1), run.n)


def stats_from_features(features: np.ndarray, batch_size: int = 1000) -> FeatureStats:
    """:func:`accumulate` over one ``[N, F]`` array, in batches of ``batch_size``."""
    features = np.asarray(features)
    return accumulate(features[i : i + batch_size] for i in range(0, len(features), batch_size))


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(s1: FeatureStats, s2: FeatureStats, *, singular_tol: float = 1e-6) -> float:
    """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)``.

    The cross term uses the symmetric form ``(sqrt(S1) S2 sqrt(S1))^(1/2)``, whose trace equals that
    of ``(S1 S2)^(1/2)`` and which is positive semi-definite, so eigendecompositions suffice (no
    complex ``sqrtm`` round-off).

    Args:
      s1, s2: statistics over the same features.
      singular_tol: covariances whose smallest eigenvalue is below
        ``-singular_tol * max eigenvalue`` (not positive semi-definite beyond round-off) are
        rejected. Rank-deficient but positive semi-definite covariances (fewer samples than
        features, dead ReLU units) are exact here: only eigenvalues are square-rooted, so no
        ``eps * I`` offset is needed (unlike ``sqrtm``-based code), but read such an FID with its
        sample counts in mind.

    Raises:
      ValueError: for mismatched feature sizes, or covariances that are not positive
        semi-definite within the tolerance.
    """
    if s1.mean.shape != s2.mean.shape:
        raise ValueError(f"feature sizes differ: {s1.mean.shape} vs {s2.mean.shape}")
    for name, s in (("first", s1), ("second", s2)):
        w = np.linalg.eigvalsh((s.cov + s.cov.T) / 2.0)
        if w.min() < -singular_tol * max(w.max(), 1e-30):
            raise ValueError(
                f"the {name} covariance is not positive semi-definite (min eigenvalue "
                f"{w.min():.3g}, max {w.max():.3g}); too few samples ({s.count}) for "
                f"{s.mean.shape[0]} features, or NaNs"
            )
    r1 = _sqrt_psd(s1.cov)
    cross = np.linalg.eigvalsh(r1 @ s2.cov @ r1)
    tr_cross = np.sum(np.sqrt(np.clip(cross, 0.0, None)))
    diff = s1.mean - s2.mean
    value = float(diff @ diff + np.trace(s1.cov) + np.trace(s2.cov) - 2.0 * tr_cross)
    return max(value, 0.0)


@dataclasses.dataclass(frozen=True)
class FIDResult:
    """An FID with what it was computed on."""

    value: float
    features: str
    num_generated: int
    num_reference: int
    reference: str

    def __str__(self) -> str:
        return (
            f"FID {self.value:.4g} ({self.features} features, {self.num_generated} generated vs "
            f"{self.num_reference} reference from {self.reference})"
        )


def fid(
    generated: FeatureStats, reference: FeatureStats, *, features: str, reference_name: str
) -> FIDResult:
    """FID of generated against reference statistics, with provenance."""
    return FIDResult(
        frechet_distance(generated, reference),
        features,
        generated.count,
        reference.count,
        reference_name,
    )


@dataclasses.dataclass(frozen=True)
class KIDResult:
    """Mean and standard deviation of the unbiased MMD^2 over ``num_subsets`` subsets of
    ``subset_size``; the estimate is unbiased, so it can be slightly negative."""

    mean: float
    std: float
    num_subsets: int
    subset_size: int


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kid(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KIDResult:
    """Kernel Inception Distance: the unbiased MMD^2 with kernel ``(x.y / d + 1)^3``, averaged over
    random subsets (Binkowski et al., 2018).

    Args:
      generated, reference: float ``[N, F]`` and ``[M, F]`` features.
      num_subsets: subsets drawn (without replacement within a subset).
      subset_size: examples per subset (capped at the smaller set's size).
      seed: subset sampling seed.

    Returns:
      mean and standard deviation over subsets.
    """
    x, y = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sizes differ: {x.shape[1]} vs {y.shape[1]}")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 examples on each side")
    rng = np.random.default_rng(seed)
    vals = [
        _mmd2_unbiased(
            x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)]
        )
        for _ in range(num_subsets)
    ]
    return KIDResult(float(np.mean(vals)), float(np.std(vals)), num_subsets, m)


def reference_stats(
    features_fn: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    cache_path: str,
    batch_size: int = 500,
) -> FeatureStats:
    """Statistics of a reference set, computed once and cached as ``.npz`` at ``cache_path``.

    Args:
      features_fn: ``images [b, ...] -> features [b, F]``.
      images: the reference set (only its length is read when the cache exists).
      cache_path: where the statistics live, e.g. ``<workdir>/fid_ref_digits_test.npz``; name it
        after the features and the split, since neither can be checked from the file.

    Raises:
      ValueError: when a cached file holds statistics of a different number of images (a stale
        cache), naming the file to delete.
    """
    if os.path.exists(cache_path):
        with np.load(cache_path) as f:
            cached = FeatureStats(f["mean"], f["cov"], int(f["count"]))
        if cached.count != len(images):
            raise ValueError(
                f"{cache_path} holds statistics of {cached.count} images, not {len(images)}; "
                "delete it to recompute"
            )
        return cached
    stats = accumulate(
        features_fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
    )
    os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
    tmp = cache_path + ".tmp.npz"
    np.savez(tmp, mean=stats.mean, cov=stats.cov, count=stats.count)
    os.replace(tmp, cache_path)  # never leave a half-written cache
    return stats
