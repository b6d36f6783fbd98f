"""Pixel-by-pixel sampling of autoregressive image models in ``jit`` (van den Oord et al., 2016).

The order is raster order over pixels and, within a pixel, channels in order: value ``t`` is
``(row, column, channel) = (t // (W C), (t // C) % W, t % C)``. The network comes in as a plain
callable ``dist_fn(x [B, H, W, C]) -> params``, a pytree whose leaves are ``[B, H, W, C, ...]``
per-value distribution parameters (softmax logits, or mixture weights, means and log-scales); its
output at value ``t`` must depend only on values ``< t``. A per-value sampling callable
``sample_fn(key, params_t) -> [B]`` (leaves of ``params_t`` are ``[B, ...]``) draws value ``t``.

One ``lax.fori_loop`` iteration (:func:`autoregressive_step`) evaluates the network on the whole
batch, draws one value per image and writes it in place: ``H W C`` network evaluations per image
batch, all inside one compiled loop. The caller decides whether to ``jit``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from genjax.distributions import sample_discretized_logistic_mixture
from genjax.typing import Array, PRNGKey

__all__ = [
    "DistFn",
    "ValueSampler",
    "autoregressive_step",
    "sample_autoregressive",
    "categorical_sampler",
    "logistic_mixture_sampler",
]

DistFn = Callable[[Array], Any]
"""``x [B, H, W, C] -> params``: a pytree of ``[B, H, W, C, ...]`` per-value parameters."""

ValueSampler = Callable[[PRNGKey, Any], Array]
"""``(key, params_t) -> float32 [B]``: one value per image from its parameters (leaves
``[B, ...]``)."""


def _grid(level: Array, levels: int) -> Array:
    return level.astype(jnp.float32) * (2.0 / (levels - 1)) - 1.0


def categorical_sampler(levels: int) -> ValueSampler:
    """Draws from ``softmax(logits [B, levels])`` and returns the level on the [-1, 1] grid
    (``2 k / (levels - 1) - 1``)."""
    return lambda key, logits: _grid(jax.random.categorical(key, logits, axis=-1), levels)


def logistic_mixture_sampler(levels: int) -> ValueSampler:
    """Draws from a discretized logistic mixture with params ``(logit_weights, means, log_scales)``,
    each ``[B, M]`` (:func:`genjax.distributions.sample_discretized_logistic_mixture`)."""
    return lambda key, params: sample_discretized_logistic_mixture(key, *params, levels)


def autoregressive_step(
    key: PRNGKey, x: Array, t: Array, dist_fn: DistFn, sample_fn: ValueSampler
) -> Array:
    """Evaluates the network and redraws value ``t`` of every image in the batch.

    Args:
      key: PRNG key for this value.
      x: float32 [B, H, W, C], values ``< t`` already drawn.
      t: int32 scalar, the value's index in the ordering (``0 <= t < H W C``).
      dist_fn, sample_fn: see the module docstring.

    Returns:
      ``x`` with value ``t`` replaced.
    """
    _, _, w, c = x.shape
    pos, ch = jnp.divmod(t, c)
    i, j = jnp.divmod(pos, w)
    params_t = jax.tree.map(lambda p: p[:, i, j, ch], dist_fn(x))
    return x.at[:, i, j, ch].set(sample_fn(key, params_t).astype(x.dtype))


def sample_autoregressive(
    key: PRNGKey,
    dist_fn: DistFn,
    sample_fn: ValueSampler,
    x_init: Array,
    start_row: int = 0,
) -> Array:
    """Draws every value from row ``start_row`` on, one at a time in raster order.

    Args:
      key: PRNG key (split into one key per value up front).
      dist_fn: the network as a plain callable (close labels over it for conditional models).
      sample_fn: the per-value sampler, e.g. :func:`categorical_sampler`.
      x_init: float32 [B, H, W, C]. Rows ``< start_row`` are kept exactly (image completion); the
        rest is overwritten, so its content does not matter.
      start_row: first row to draw, ``0 <= start_row <= H`` (static).

    Returns:
      float32 [B, H, W, C]: ``(H - start_row) W C`` network evaluations.

    Raises:
      ValueError: when ``x_init`` is not ``[B, H, W, C]`` or ``start_row`` is out of range.
    """
    if x_init.ndim != 4:
        raise ValueError(f"x_init must be [B, H, W, C], got shape {x_init.shape}")
    _, h, w, c = x_init.shape
    if not 0 <= start_row <= h:
        raise ValueError(f"start_row must lie in 0..{h}, got {start_row}")
    total = h * w * c
    keys = jax.random.split(key, total)

    def body(t, x):
        return autoregressive_step(keys[t], x, t, dist_fn, sample_fn)

    return jax.lax.fori_loop(start_row * w * c, total, body, x_init)
