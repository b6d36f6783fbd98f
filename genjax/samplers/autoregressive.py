"""Pixel-by-pixel sampling of autoregressive image models inside ``jit``.

The network is a plain callable ``logits_fn(x [B, H, W, C]) -> [B, H, W, C, K]`` whose output at
each position and channel depends only on earlier positions (raster order, channels in order);
one ``lax.fori_loop`` iteration evaluates it and samples one (position, channel), written in place.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from genjax.typing import Array, PRNGKey

__all__ = ["sample_pixels", "levels_to_symmetric"]


def levels_to_symmetric(k: Array, levels: int) -> Array:
    """Integer levels -> the [-1, 1] grid the networks read."""
    return k.astype(jnp.float32) * (2.0 / (levels - 1)) - 1.0


def sample_pixels(
    key: PRNGKey,
    logits_fn: Callable[[Array], Array],
    x_init: Array,
    levels: int,
    start_row: int = 0,
) -> Array:
    """Samples every (row, column, channel) from ``start_row`` on, in raster order.

    Args:
      key: PRNG key (one split per sampled value, up front).
      logits_fn: ``x [B, H, W, C] in [-1, 1] -> logits [B, H, W, C, levels]``.
      x_init: ``[B, H, W, C]`` on the [-1, 1] grid; rows ``< start_row`` are kept unchanged (image
        completion); the rest is overwritten.
      levels: K, the number of discrete values.
      start_row: first row to sample (static).

    Returns:
      ``[B, H, W, C]`` on the grid; ``(H - start_row) * W * C`` network evaluations.
    """
    b, h, w, c = x_init.shape
    first = start_row * w * c
    total = h * w * c
    keys = jax.random.split(key, total)

    def body(t, x):
        pos, ch = divmod(t, c)
        i, j = divmod(pos, w)
        logits = logits_fn(x)[:, i, j, ch]
        value = levels_to_symmetric(jax.random.categorical(keys[t], logits), levels)
        return x.at[:, i, j, ch].set(value)

    return jax.lax.fori_loop(first, total, body, x_init)
