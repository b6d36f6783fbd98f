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

Row windows. A convolutional network's output at row ``i`` depends only on rows ``i - R .. i``
(``R``: its vertical receptive field), so value ``t`` can be drawn from the network evaluated on
the ``window_rows >= R + 1`` rows starting at ``top = max(i - window_rows + 1, 0)``: the window
ends at row ``i``, or starts at row 0 near the top of the image (its rows below ``i`` are not drawn
yet and cannot reach row ``i``). A window at row 0 has the image's own top, hence the network's
own padding there; a window lower down is padded differently above, but those pads reach only the
window's top ``R`` rows, never row ``i``. So the draws are the whole-image draws (same keys, same
outputs at row ``i``) at ``H / window_rows`` times fewer rows per evaluation. Only the model knows
``R`` (e.g. :func:`genjax.models.pixelcnn.receptive_rows`). The network must be convolutional
down the rows: the same function of rows ``i - R .. i`` at every ``i`` whatever the image height
(no dense layer over rows, no row embeddings).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

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


def _window_height(window_rows: Optional[int], h: int) -> int:
    if window_rows is None:
        return h
    if isinstance(window_rows, bool) or not isinstance(window_rows, int) or window_rows < 1:
        raise ValueError(f"window_rows must be None or a positive int, got {window_rows!r}")
    return min(window_rows, h)


def autoregressive_step(
    key: PRNGKey,
    x: Array,
    t: Array,
    dist_fn: DistFn,
    sample_fn: ValueSampler,
    window_rows: Optional[int] = None,
) -> Array:
    """Evaluates the network and redraws value ``t`` of every image in the batch.

    Args:
      key: PRNG key for this value.
      x: float32 [B, H, W, C], values ``< t`` already drawn.
      t: int32 scalar, the value's index in the ordering (``0 <= t < H W C``).
      dist_fn, sample_fn: see the module docstring.
      window_rows: ``None`` evaluates the network on the whole image; an int evaluates it on the
        ``min(window_rows, H)`` rows ending at the value's row (see the module docstring; exact
        when ``window_rows >= R + 1``). Static.

    Returns:
      ``x`` with value ``t`` replaced.

    Raises:
      ValueError: when ``window_rows`` is not ``None`` or a positive int.
    """
    _, h, w, c = x.shape
    rows = _window_height(window_rows, h)
    pos, ch = jnp.divmod(t, c)
    i, j = jnp.divmod(pos, w)
    top = jnp.maximum(i - (rows - 1), 0)
    window = jax.lax.dynamic_slice_in_dim(x, top, rows, axis=1)
    params_t = jax.tree.map(lambda p: p[:, i - top, j, ch], dist_fn(window))
    return x.at[:, i, j, ch].set(sample_fn(key, params_t).astype(x.dtype))


def sample_autoregressive(
    key: PRNGKey,
    dist_fn: DistFn,
    sample_fn: ValueSampler,
    x_init: Array,
    start_row: int = 0,
    window_rows: Optional[int] = None,
) -> Array:
    """Draws every value from row ``start_row`` on, one at a time in raster order.

    Args:
      key: PRNG key (split into one key per value up front).
      dist_fn: the network as a plain callable (close labels over it for conditional models).
      sample_fn: the per-value sampler, e.g. :func:`categorical_sampler`.
      x_init: float32 [B, H, W, C]. Rows ``< start_row`` are kept exactly (image completion); the
        rest is overwritten, so its content does not matter.
      start_row: first row to draw, ``0 <= start_row <= H`` (static).
      window_rows: ``None``: each evaluation sees the whole image. An int ``>= R + 1``, with ``R``
        the network's vertical receptive field: each sees the ``min(window_rows, H)`` rows ending at
        the current row, and the samples equal the whole-image ones for the same key (static; a
        smaller window silently gives other samples, so the model must compute it).

    Returns:
      float32 [B, H, W, C]: ``(H - start_row) W C`` network evaluations, each on
      ``min(window_rows, H)`` rows.

    Raises:
      ValueError: when ``x_init`` is not ``[B, H, W, C]``, ``start_row`` is out of range or
        ``window_rows`` is not ``None`` or a positive int.
    """
    if x_init.ndim != 4:
        raise ValueError(f"x_init must be [B, H, W, C], got shape {x_init.shape}")
    _, h, w, c = x_init.shape
    if not 0 <= start_row <= h:
        raise ValueError(f"start_row must lie in 0..{h}, got {start_row}")
    _window_height(window_rows, h)
    total = h * w * c
    keys = jax.random.split(key, total)

    def body(t, x):
        return autoregressive_step(keys[t], x, t, dist_fn, sample_fn, window_rows)

    return jax.lax.fori_loop(start_row * w * c, total, body, x_init)
