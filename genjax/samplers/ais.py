"""Annealed importance sampling (Neal, 2001) for partition functions (Salakhutdinov & Murray, 2008).

A path of unnormalized log-densities ``log f_beta(x)``, ``beta`` from 0 (a base distribution whose
normalizer ``Z_0`` is known and which can be sampled exactly) to 1 (the target), and a transition
``T_beta(key, x)`` that leaves ``f_beta`` invariant. ``M`` runs start at exact base samples; at each
intermediate ``beta_k`` a run adds ``log f_{beta_k}(x) - log f_{beta_{k-1}}(x)`` to its log-weight
and then moves with ``T_{beta_k}``. Then ``Z / Z_0`` is estimated without bias by the mean of the
importance weights ``w_m = exp(log_w_m)``, and

    log Z_hat = log Z_0 + logmeanexp(log_w).

The functions here are model-agnostic: the model supplies ``log_f(x, beta)`` and ``transition``;
``genjax.models.rbm`` and ``genjax.models.dbm`` supply them for RBMs and DBMs.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from genjax.samplers import driver
from genjax.typing import Array, PRNGKey

__all__ = ["LogDensityPath", "Transition", "ais_log_weights", "log_z_estimate", "betas"]

LogDensityPath = Callable[[Array, Array], Array]
"""``log_f(x, beta) -> [M]``: each run's unnormalized log-density at inverse temperature beta."""
Transition = Callable[[PRNGKey, Array, Array], Array]
"""``transition(key, x, beta) -> x``: a Markov move leaving ``f_beta`` invariant, batched over
runs."""


def betas(num_intermediate: int) -> Array:
    """The inverse temperatures ``0 = beta_0 < ... < beta_K = 1``, spaced as in Salakhutdinov &
    Murray (2008): the same share of steps in [0, 0.5], [0.5, 0.9] and [0.9, 1] as their 1,000 /
    4,000 / 10,000, since the weights change fastest near the target.

    Args:
      num_intermediate: K >= 3 (the number of transitions).

    Returns:
      float32 [K + 1].

    Raises:
      ValueError: for K < 3.
    """
    if num_intermediate < 3:
        raise ValueError(f"num_intermediate must be >= 3, got {num_intermediate}")
    n1 = max(1, round(num_intermediate * 1 / 15))
    n2 = max(1, round(num_intermediate * 4 / 15))
    n3 = num_intermediate - n1 - n2
    parts = [
        np.linspace(0.0, 0.5, n1, endpoint=False),
        np.linspace(0.5, 0.9, n2, endpoint=False),
        np.linspace(0.9, 1.0, n3 + 1),
    ]
    return jnp.asarray(np.concatenate(parts), jnp.float32)


def ais_log_weights(
    key: PRNGKey,
    x0: Array,
    log_f: LogDensityPath,
    transition: Transition,
    schedule: Array,
) -> Array:
    """Runs ``M`` AIS runs along ``schedule`` and returns their log importance weights.

    Args:
      key: PRNG key (split into one key per transition by the scan driver).
      x0: exact samples of the base distribution (``beta = 0``), a pytree with leading axis ``[M]``.
      log_f: ``(x, beta) -> float [M]``, unnormalized log-density of each run's state.
      transition: ``(key, x, beta) -> x``, invariant for ``f_beta``.
      schedule: float [K + 1] increasing from 0 to 1 (e.g. :func:`betas`).

    Returns:
      float32 [M], ``log w_m = sum_k log f_{beta_k}(x_{k-1}) - log f_{beta_{k-1}}(x_{k-1})``; add
      ``log Z_0`` and take :func:`log_z_estimate`.
    """
    schedule = jnp.asarray(schedule, jnp.float32)

    def step(k: PRNGKey, state, i: Array):
        x, log_w = state
        b_prev, b = schedule[i], schedule[i + 1]
        log_w = log_w + log_f(x, b) - log_f(x, b_prev)
        return (transition(k, x, b), log_w), None

    num_runs = jax.tree.leaves(x0)[0].shape[0]
    init = (x0, jnp.zeros((num_runs,), jnp.float32))
    (_, log_w), _ = driver.run(step, key, init, int(schedule.shape[0]) - 1)
    return log_w


def log_z_estimate(log_w: Array, log_z_base: Array) -> tuple[Array, Array]:
    """``log Z_hat = log Z_0 + log mean_m w_m`` and its standard error on the log scale.

    The standard error is the delta-method ``std(w) / (sqrt(M) mean(w))`` of ``log Z_hat``: the
    spread across runs (Salakhutdinov & Murray, 2008 report ``log(Z_hat +- 3 sigma)``). It is itself
    an estimate and is too small when a few rare runs would dominate.

    Args:
      log_w: float [M] log importance weights.
      log_z_base: scalar ``log Z_0``.

    Returns:
      ``(log_z, log_z_std)``, float32 scalars.
    """
    m = log_w.shape[0]
    top = jnp.max(log_w)
    w = jnp.exp(log_w - top)
    mean = jnp.mean(w)
    log_z = log_z_base + top + jnp.log(mean)
    std = jnp.std(w) / (math.sqrt(m) * mean)
    return log_z, std
