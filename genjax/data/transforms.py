"""Transforms between stored data and what models consume, each with its inverse.

Stored images are integer levels ``0..levels-1`` (uint8). Continuous models take [-1, 1]
(:func:`to_symmetric`), density models over continuous values take dequantized [0, 1)
(:func:`dequantize`), binary models take {0, 1} (:func:`binarize`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, PRNGKey

__all__ = [
    "validate_images",
    "to_symmetric",
    "from_symmetric",
    "to_unit",
    "from_unit",
    "dequantize",
    "quantize",
    "binarize",
    "stochastic_binarize",
    "one_hot",
    "from_one_hot",
]


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def validate_images(
    images, *, low: float, high: float, rank: int = 4, name: str = "images"
) -> None:
    """Checks rank, dtype and value range of a concrete image batch (no-op on traced values, so
    it is safe inside ``jit``).

    Args:
      images: the batch, e.g. float32 [B, H, W, C] in [-1, 1] or uint8 levels.
      low, high: the allowed value range (inclusive).
      rank: the expected number of axes.
      name: what to call the batch in the message.

    Raises:
      ValueError: naming the problem (rank, dtype or range).
    """
    if not _concrete(images):
        return
    arr = np.asarray(images)
    if arr.ndim != rank:
        raise ValueError(f"{name} must have rank {rank} ([B, H, W, C]), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.size and (arr.min() < low or arr.max() > high):
        raise ValueError(
            f"{name} must lie in [{low}, {high}], got values in [{arr.min()}, {arr.max()}]"
        )


def _check_levels(x, levels: int, name: str = "x", what: str = "levels") -> None:
    if levels < 2:
        raise ValueError(f"{what} must be >= 2, got {levels}")
    if _concrete(x):
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integer {what}, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() > levels - 1):
            raise ValueError(
                f"{name} must lie in 0..{levels - 1}, got values in [{arr.min()}, {arr.max()}]"
            )


def _ulps(y: Array, toward: float, n: int) -> Array:
    for _ in range(n):
        y = jnp.nextafter(y, jnp.full_like(y, toward))
    return y


def to_symmetric(x, levels: int) -> Array:
    """Integer levels ``0..levels-1`` -> float32 in [-1, 1] (``2 x / (levels - 1) - 1``)."""
    _check_levels(x, levels)
    return jnp.asarray(x, jnp.float32) * (2.0 / (levels - 1)) - 1.0


def from_symmetric(x: Array, levels: int) -> Array:
    """Inverse of :func:`to_symmetric`: rounds to the nearest level and clips (int32)."""
    q = jnp.round((jnp.asarray(x, jnp.float32) + 1.0) * ((levels - 1) / 2.0))
    return jnp.clip(q, 0, levels - 1).astype(jnp.int32)


def to_unit(x, levels: int) -> Array:
    """Integer levels -> float32 in [0, 1] (``x / (levels - 1)``)."""
    _check_levels(x, levels)
    return jnp.asarray(x, jnp.float32) / (levels - 1)


def from_unit(x: Array, levels: int) -> Array:
    """Inverse of :func:`to_unit` (rounded, clipped, int32)."""
    return jnp.clip(jnp.round(jnp.asarray(x, jnp.float32) * (levels - 1)), 0, levels - 1).astype(
        jnp.int32
    )


def dequantize(key: PRNGKey, x, levels: int) -> Array:
    """Uniform dequantization ``y = (x + u) / levels`` with ``u ~ U[0, 1)``: float32 in [0, 1).

    A density ``p`` of ``y`` on [0, 1)^D bounds the discrete model (Theis et al., 2016):
    ``log P(x) >= E_u[log p(y)] - D log(levels)``, so bits/dim add ``log2(levels)`` to
    ``-log2 p(y) / D``. ``y`` is kept two float32 ulps inside its bin ``[x, x + 1) / levels`` (a
    change of probability ~1e-7) so that :func:`quantize` recovers ``x`` exactly, which float
    rounding of ``(x + u) / levels * levels`` alone does not guarantee.

    Args:
      key: PRNG key.
      x: integer levels in ``0..levels-1``, any shape.
      levels: number of levels (2..4096 keeps the exact inverse).

    Returns:
      float32, the shape of ``x``, in [0, 1).

    Raises:
      ValueError: for concrete ``x`` of a non-integer dtype or outside ``0..levels-1``.
    """
    _check_levels(x, levels)
    x = jnp.asarray(x, jnp.float32)
    u = jax.random.uniform(key, x.shape)
    lo = _ulps(x / levels, 1.0, 2)
    hi = _ulps((x + 1.0) / levels, 0.0, 2)
    return jnp.clip((x + u) / levels, lo, hi)


def quantize(y: Array, levels: int) -> Array:
    """Inverse of :func:`dequantize`: ``floor(y * levels)`` clipped to ``0..levels-1`` (int32)."""
    return jnp.clip(jnp.floor(jnp.asarray(y, jnp.float32) * levels), 0, levels - 1).astype(
        jnp.int32
    )


def binarize(x, threshold: float) -> Array:
    """``x > threshold`` as float32 {0, 1}. Its inverse maps {0, 1} back to the two-level image; the
    grey levels are not recoverable (the transform is not injective)."""
    return (jnp.asarray(x) > threshold).astype(jnp.float32)


def stochastic_binarize(key: PRNGKey, p: Array) -> Array:
    """Bernoulli draws with probabilities ``p`` in [0, 1] (Salakhutdinov & Murray, 2008): float32
    {0, 1}. Its mean over draws is ``p``, the inverse in expectation.

    Raises:
      ValueError: when concrete ``p`` leaves [0, 1].
    """
    if _concrete(p):
        arr = np.asarray(p)
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"probabilities must lie in [0, 1], got [{arr.min()}, {arr.max()}]")
    return jax.random.bernoulli(key, p).astype(jnp.float32)


def one_hot(labels, num_classes: int) -> Array:
    """int labels [B] -> float32 [B, num_classes].

    Raises:
      ValueError: for concrete labels outside ``0..num_classes-1`` or of a non-integer dtype.
    """
    _check_levels(labels, num_classes, "labels", "classes")
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def from_one_hot(y: Array) -> Array:
    """Inverse of :func:`one_hot` (argmax, int32)."""
    return jnp.argmax(y, axis=-1).astype(jnp.int32)
