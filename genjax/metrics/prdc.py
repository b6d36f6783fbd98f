"""Improved precision and recall (Kynkaanniemi et al., 2019) and density and coverage (Naeem et al.,
2020) from k-nearest-neighbour balls in feature space.

Pairwise distances are computed in row chunks, so memory stays at ``chunk x N`` floats.
Precision asks whether generated samples fall inside the real manifold (real k-NN balls); recall
asks whether real samples fall inside the generated manifold (generated k-NN balls). The two are not
symmetric; the tests check an asymmetric case so that they cannot be swapped unnoticed.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

__all__ = ["PRDC", "prdc", "knn_radii"]


def _chunked_distances(
    a: np.ndarray, b: np.ndarray, chunk: int
) -> Iterator[tuple[int, np.ndarray]]:
    b_sq = np.sum(b * b, axis=1)
    for start in range(0, len(a), chunk):
        x = a[start : start + chunk]
        d2 = np.sum(x * x, axis=1)[:, None] + b_sq[None, :] - 2.0 * x @ b.T
        yield start, np.sqrt(np.clip(d2, 0.0, None))


def knn_radii(x: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Distance of each row of ``x [N, F]`` to its k-th nearest other row: float64 [N]."""
    if not 1 <= k < len(x):
        raise ValueError(f"k must be in 1..{len(x) - 1} for {len(x)} points, got {k}")
    out = np.empty(len(x))
    for start, d in _chunked_distances(x, x, chunk):
        out[start : start + len(d)] = np.partition(d, k, axis=1)[
            :, k
        ]  # index 0 is the point itself
    return out


@dataclasses.dataclass(frozen=True)
class PRDC:
    """What :func:`prdc` returns: precision, recall, coverage in [0, 1], density >= 0, and ``k``."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int


def prdc(real: np.ndarray, generated: np.ndarray, k: int = 5, chunk: int = 1024) -> PRDC:
    """Precision, recall, density and coverage of ``generated [M, F]`` against ``real [N, F]``.

    Args:
      real, generated: feature arrays (float).
      k: neighbourhood size (the papers use 3 for precision/recall and 5 for density/coverage; one
        k serves all four here).
      chunk: rows per block of the pairwise distance computation.

    Returns:
      precision, recall and coverage in [0, 1]; density >= 0 (1 for matching distributions).
    """
    real = np.asarray(real, np.float64)
    gen = np.asarray(generated, np.float64)
    if real.ndim != 2 or gen.ndim != 2 or real.shape[1] != gen.shape[1]:
        raise ValueError(
            f"real and generated must be [N, F] with the same F, got {real.shape} and {gen.shape}"
        )
    r_real = knn_radii(real, k, chunk)
    r_gen = knn_radii(gen, k, chunk)
    in_real_balls = np.zeros(len(gen), bool)
    density_counts = np.zeros(len(gen))
    covered = np.zeros(len(real), bool)
    for start, d in _chunked_distances(gen, real, chunk):  # d: [chunk of generated, N real]
        inside = d <= r_real[None, :]
        in_real_balls[start : start + len(d)] = inside.any(1)
        density_counts[start : start + len(d)] = inside.sum(1)
    recalled = np.zeros(len(real), bool)
    for start, d in _chunked_distances(real, gen, chunk):  # d: [chunk of real, M generated]
        recalled[start : start + len(d)] = (d <= r_gen[None, :]).any(1)
        covered[start : start + len(d)] = d.min(1) <= r_real[start : start + len(d)]
    return PRDC(
        precision=float(in_real_balls.mean()),
        recall=float(recalled.mean()),
        density=float(density_counts.sum() / (k * len(gen))),
        coverage=float(covered.mean()),
        k=k,
    )
