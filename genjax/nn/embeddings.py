"""Noise-level embeddings for time-conditioned networks."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.typing import Array

__all__ = ["sinusoidal_embedding", "FourierEmbedding"]


def sinusoidal_embedding(t: Array, dim: int, max_period: float = 10000.0) -> Array:
    """Transformer-style embedding of a scalar per example (Vaswani et al., 2017; Ho et al., 2020).

    Args:
      t: float [B] (timesteps, or a noise level such as ``log(sigma) / 4``).
      dim: even embedding width.

    Returns:
      float32 [B, dim]: ``[cos(t f_k), sin(t f_k)]`` with frequencies ``f_k = max_period^(-k / half)``.
    """
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None]
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


class FourierEmbedding(nn.Module):
    """Random Fourier features of a scalar (Tancik et al., 2020; Song et al., 2021, NCSN++):
    ``[cos(2 pi t w), sin(2 pi t w)]`` with fixed ``w ~ N(0, scale^2)`` drawn from ``seed`` (not
    trained, not stored: a constant of the compiled program).

    Input float [B] -> float32 [B, dim].
    """

    dim: int
    scale: float = 16.0
    seed: int = 0

    @nn.compact
    def __call__(self, t: Array) -> Array:
        w = self.scale * jax.random.normal(jax.random.PRNGKey(self.seed), (self.dim // 2,))
        args = 2.0 * math.pi * jnp.asarray(t, jnp.float32)[:, None] * w[None]
        return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
