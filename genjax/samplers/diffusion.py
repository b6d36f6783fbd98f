"""Discrete-time diffusion samplers: public pure steps and ``lax.scan`` drivers.

Steps take the network's output (``eps``, the predicted noise) so they can be recombined freely;
drivers take the network as a plain callable ``eps_fn(x, t) -> eps`` with ``t`` int32 [B] and run
the steps through :func:`genjax.samplers.driver.run` (jit them at the call site). Class-conditional
and guided sampling: close over the labels, e.g. with :func:`genjax.samplers.guidance.guided`.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from genjax.samplers import driver
from genjax.samplers.schedules import VPSchedule
from genjax.typing import Array, PRNGKey

__all__ = [
    "predict_x0",
    "ddpm_step",
    "ddim_step",
    "ddim_inversion_step",
    "euler_maruyama_step",
    "ddim_timesteps",
    "sample_ddpm",
    "sample_ddim",
    "ddim_invert",
]

EpsFn = Callable[[Array, Array], Array]


def _abar(schedule: VPSchedule, t: Array) -> Array:
    """``abar_t`` with ``abar_{-1} = 1`` (the clean data)."""
    return jnp.where(t >= 0, schedule.alphas_cumprod[jnp.maximum(t, 0)], 1.0)


def predict_x0(x: Array, eps: Array, t: Array, schedule: VPSchedule) -> Array:
    """``x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``; ``t`` a scalar int32."""
    a = _abar(schedule, t)
    return (x - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a)


def ddpm_step(key: PRNGKey, x: Array, eps: Array, t: Array, schedule: VPSchedule) -> Array:
    """Ancestral step ``x_t -> x_{t-1}`` of Ho et al. (2020), eq. 11, with the posterior variance
    ``beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)`` and no noise at t = 0.

    Args:
      key: PRNG key.
      x: float [B, ...], the sample at step ``t``.
      eps: the network's noise prediction at ``(x, t)``.
      t: scalar int32 in 0..T-1.
      schedule: the VP schedule.
    """
    beta, a, a_prev = schedule.betas[t], _abar(schedule, t), _abar(schedule, t - 1)
    mean = (x - beta / jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(1.0 - beta)
    var = beta * (1.0 - a_prev) / (1.0 - a)
    noise = jax.random.normal(key, x.shape, x.dtype)
    return mean + jnp.where(t > 0, jnp.sqrt(var), 0.0) * noise


def ddim_step(
    x: Array,
    eps: Array,
    t: Array,
    t_prev: Array,
    schedule: VPSchedule,
    eta: float,
    key: Optional[PRNGKey],
    clip_x0: Optional[float] = None,
) -> Array:
    """DDIM step ``x_t -> x_{t_prev}`` (Song et al., 2021, eq. 12); ``t_prev = -1`` means the data.

    ``sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)``; ``eta = 0`` is
    deterministic (``key`` may be ``None``), ``eta = 1`` matches DDPM's variance. ``clip_x0`` clips
    the predicted ``x_0`` to ``[-clip_x0, clip_x0]`` (data known to lie in [-1, 1]) and recomputes
    ``eps`` from it: at the first steps of a cosine schedule (``abar ~ 1e-9``) the prediction divides
    the network's error by ``sqrt(abar)``.
    """
    a, a_prev = _abar(schedule, t), _abar(schedule, t_prev)
    x0 = (x - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a)
    if clip_x0 is not None:
        x0 = jnp.clip(x0, -clip_x0, clip_x0)
        eps = (x - jnp.sqrt(a) * x0) / jnp.sqrt(1.0 - a)
    sigma = eta * jnp.sqrt((1.0 - a_prev) / (1.0 - a)) * jnp.sqrt(1.0 - a / a_prev)
    out = jnp.sqrt(a_prev) * x0 + jnp.sqrt(jnp.clip(1.0 - a_prev - sigma**2, 0.0)) * eps
    if eta == 0.0:
        return out
    return out + sigma * jax.random.normal(key, x.shape, x.dtype)


def ddim_inversion_step(
    x: Array, eps: Array, t: Array, t_next: Array, schedule: VPSchedule
) -> Array:
    """Deterministic DDIM step towards noise ``x_t -> x_{t_next}`` (``t = -1`` is the data): the
    eta = 0 update run backwards, reusing the noise predicted at the current point."""
    a, a_next = _abar(schedule, t), _abar(schedule, t_next)
    x0 = (x - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a)
    return jnp.sqrt(a_next) * x0 + jnp.sqrt(1.0 - a_next) * eps


def euler_maruyama_step(
    key: PRNGKey, x: Array, denoised: Array, sigma: Array, sigma_next: Array
) -> Array:
    """Euler-Maruyama step of the reverse SDE of ``x = x_0 + sigma n`` (VE, ``sigma(t) = t``):
    ``x + 2 sigma dsigma score + sqrt(2 sigma dsigma) z`` with ``score = (D - x) / sigma^2`` and
    ``dsigma = sigma - sigma_next > 0`` (Song et al., 2021; Karras et al., 2022)."""
    ds = sigma - sigma_next
    score = (denoised - x) / sigma**2
    return (
        x
        + 2.0 * sigma * ds * score
        + jnp.sqrt(2.0 * sigma * ds) * jax.random.normal(key, x.shape, x.dtype)
    )


def ddim_timesteps(num_timesteps: int, num_steps: int) -> np.ndarray:
    """``num_steps`` evenly spaced timesteps, decreasing from ``T - 1`` (int32)."""
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"num_steps must be in 1..{num_timesteps}, got {num_steps}")
    return np.round(np.linspace(num_timesteps - 1, 0, num_steps)).astype(np.int32)


def _batch_t(x: Array, t: Array) -> Array:
    return jnp.full((x.shape[0],), t, jnp.int32)


def sample_ddpm(
    key: PRNGKey,
    eps_fn: EpsFn,
    x_T: Array,
    schedule: VPSchedule,
    *,
    return_trajectory: bool = False,
    unroll: int = 1,
):
    """T ancestral steps from ``x_T ~ N(0, I)``. Returns ``x_0`` (and ``[T, ...]`` trajectory)."""
    T = schedule.num_timesteps

    def step(k, x, i):
        t = T - 1 - i
        return ddpm_step(k, x, eps_fn(x, _batch_t(x, t)), t, schedule), None

    x, traj = driver.run(
        step, key, x_T, T, trace_fn=(lambda s, _: s) if return_trajectory else None, unroll=unroll
    )
    return (x, traj) if return_trajectory else x


def sample_ddim(
    key: PRNGKey,
    eps_fn: EpsFn,
    x_T: Array,
    schedule: VPSchedule,
    num_steps: int,
    *,
    eta: float = 0.0,
    clip_x0: Optional[float] = None,
    return_trajectory: bool = False,
    unroll: int = 1,
):
    """``num_steps`` DDIM steps (``num_steps`` network evaluations) from ``x_T``; see
    :func:`ddim_step` for ``eta`` and ``clip_x0``."""
    ts = jnp.asarray(ddim_timesteps(schedule.num_timesteps, num_steps))
    prev = jnp.concatenate([ts[1:], jnp.array([-1], jnp.int32)])

    def step(k, x, i):
        t, tp = ts[i], prev[i]
        return ddim_step(x, eps_fn(x, _batch_t(x, t)), t, tp, schedule, eta, k, clip_x0), None

    x, traj = driver.run(
        step,
        key,
        x_T,
        num_steps,
        trace_fn=(lambda s, _: s) if return_trajectory else None,
        unroll=unroll,
    )
    return (x, traj) if return_trajectory else x


def ddim_invert(
    eps_fn: EpsFn, x0: Array, schedule: VPSchedule, num_steps: int, *, unroll: int = 1
) -> Array:
    """Deterministic encoding of data to noise along the DDIM timesteps (the reverse of
    :func:`sample_ddim` with ``eta = 0`` and the same ``num_steps``)."""
    ts = jnp.asarray(ddim_timesteps(schedule.num_timesteps, num_steps)[::-1].copy())
    prev = jnp.concatenate([jnp.array([-1], jnp.int32), ts[:-1]])

    def step(k, x, i):
        del k
        t_from, t_to = prev[i], ts[i]
        # The noise prediction is taken at the current (less noisy) point, a first-order scheme.
        eps = eps_fn(x, _batch_t(x, jnp.maximum(t_from, 0)))
        return ddim_inversion_step(x, eps, t_from, t_to, schedule), None

    return driver.run(step, jax.random.PRNGKey(0), x0, num_steps, unroll=unroll)[0]
