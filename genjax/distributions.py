"""Per-example log-densities of the observation models, summed over all non-batch axes.

Every function maps ``[B, ...]`` arrays to ``float [B]`` log-probabilities in nats.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from genjax.typing import Array

__all__ = ["bernoulli_log_prob", "diag_gaussian_log_prob", "categorical_log_prob"]


def _sum_event(x: Array) -> Array:
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def bernoulli_log_prob(logits: Array, x: Array) -> Array:
    """log Bernoulli(x | sigmoid(logits)), computed stably from logits.

    Args:
      logits: float [B, ...].
      x: float [B, ...] in {0, 1} (values in [0, 1] give the cross-entropy).

    Returns:
      float [B].
    """
    return _sum_event(x * jax.nn.log_sigmoid(logits) + (1.0 - x) * jax.nn.log_sigmoid(-logits))


def diag_gaussian_log_prob(mean: Array, log_var: Array, x: Array) -> Array:
    """log N(x | mean, diag(exp(log_var))).

    Args:
      mean, log_var, x: float [B, ...] (``log_var`` may broadcast).

    Returns:
      float [B].
    """
    log_var = jnp.broadcast_to(log_var, x.shape)
    return _sum_event(-0.5 * (math.log(2 * math.pi) + log_var + jnp.square(x - mean) * jnp.exp(-log_var)))


def categorical_log_prob(logits: Array, x: Array) -> Array:
    """log Categorical(x | softmax(logits)) over the last axis of ``logits``.

    Args:
      logits: float [B, ..., K].
      x: int [B, ...] in {0, ..., K-1}.

    Returns:
      float [B].
    """
    logp = jax.nn.log_softmax(logits, axis=-1)
    return _sum_event(jnp.take_along_axis(logp, x[..., None].astype(jnp.int32), axis=-1)[..., 0])
