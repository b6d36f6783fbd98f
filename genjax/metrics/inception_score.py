"""Inception Score (Salimans et al., 2016) from a classifier's class probabilities."""

from __future__ import annotations

import numpy as np

__all__ = ["inception_score"]


def inception_score(
    probs: np.ndarray, num_splits: int = 10, eps: float = 1e-12
) -> tuple[float, float]:
    """``exp(E_x KL(p(y|x) || p(y)))`` over ``num_splits`` splits, as mean and standard deviation.

    Args:
      probs: float ``[N, K]`` rows summing to 1.
      num_splits: the samples are cut into this many equal parts (the remainder is dropped).

    Returns:
      ``(mean, std)``; between 1 and K.

    Raises:
      ValueError: when rows do not sum to 1 or there are fewer samples than splits.
    """
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise ValueError(f"probs must be [N, K] with rows summing to 1, got shape {p.shape}")
    if len(p) < num_splits:
        raise ValueError(
            f"need at least {num_splits} samples for {num_splits} splits, got {len(p)}"
        )
    size = len(p) // num_splits
    scores = []
    for i in range(num_splits):
        part = p[i * size : (i + 1) * size]
        marginal = part.mean(0, keepdims=True)
        kl = np.sum(part * (np.log(part + eps) - np.log(marginal + eps)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
