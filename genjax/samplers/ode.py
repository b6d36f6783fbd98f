"""The probability-flow ODE of ``x = x_0 + sigma n`` (Song et al., 2021; Karras et al., 2022):
Euler and Heun steps with optional stochastic churn, and the exact likelihood by integrating the
divergence (exact trace for small dimensions, Hutchinson's estimator otherwise).

The network comes in as a plain denoiser ``denoise(x, sigma) -> D(x; sigma)`` with ``sigma`` float
[B]; the ODE is ``dx/dsigma = (x - D(x; sigma)) / sigma``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from genjax.samplers import driver
from genjax.samplers.diffusion import euler_maruyama_step
from genjax.samplers.schedules import per_example
from genjax.typing import Array, PRNGKey

__all__ = [
    "euler_step",
    "heun_step",
    "churn",
    "sample_heun",
    "sample_euler_maruyama",
    "ode_log_likelihood",
    "LogLikelihood",
]

Denoiser = Callable[[Array, Array], Array]



def euler_step(x: Array, denoised: Array, sigma: Array, sigma_next: Array) -> Array:
    """``x + (sigma_next - sigma) (x - D) / sigma``."""
    return x + (sigma_next - sigma) * (x - denoised) / sigma


def heun_step(denoise: Denoiser, x: Array, sigma: Array, sigma_next: Array) -> Array:
    """Heun's second-order step (Karras et al., 2022, algorithm 1); Euler when ``sigma_next = 0``.

    Two network evaluations (one at the last step)."""
    d = (x - denoise(x, per_example(x, sigma))) / sigma
    x_euler = x + (sigma_next - sigma) * d

    def corrected(_):
        d2 = (x_euler - denoise(x_euler, per_example(x, sigma_next))) / jnp.maximum(sigma_next, 1e-20)
        return x + (sigma_next - sigma) * 0.5 * (d + d2)

    return jax.lax.cond(sigma_next > 0, corrected, lambda _: x_euler, None)


def churn(
    key: PRNGKey, x: Array, sigma: Array, gamma: Array, s_noise: float = 1.0
) -> tuple[Array, Array]:
    """Stochastic churn (Karras et al., 2022, algorithm 2): raises the noise level to
    ``sigma_hat = sigma (1 + gamma)`` by adding fresh noise. Returns ``(x_hat, sigma_hat)``."""
    sigma_hat = sigma * (1.0 + gamma)
    noise = jax.random.normal(key, x.shape, x.dtype) * s_noise
    return x + jnp.sqrt(jnp.maximum(sigma_hat**2 - sigma**2, 0.0)) * noise, sigma_hat


def sample_heun(
    key: PRNGKey,
    denoise: Denoiser,
    x_T: Array,
    sigmas: Array,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    return_trajectory: bool = False,
    unroll: int = 1,
):
    """EDM sampler: Heun steps over ``sigmas`` (decreasing, ending in 0, e.g.
    :func:`genjax.samplers.schedules.karras_sigmas`) from ``x_T = sigma_0 z``; ``2 N - 1`` network
    evaluations for ``N + 1`` sigmas. ``s_churn > 0`` adds the stochastic churn of algorithm 2."""
    n = sigmas.shape[0] - 1
    gamma_max = min(s_churn / n, float(np.sqrt(2.0) - 1.0)) if s_churn > 0 else 0.0

    def step(k, x, i):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if gamma_max > 0:
            gamma = jnp.where((sigma >= s_tmin) & (sigma <= s_tmax), gamma_max, 0.0)
            x, sigma = churn(k, x, sigma, gamma, s_noise)
        return heun_step(denoise, x, sigma, sigma_next), None

    x, traj = driver.run(
        step, key, x_T, n, trace_fn=(lambda s, _: s) if return_trajectory else None, unroll=unroll
    )
    return (x, traj) if return_trajectory else x


def sample_euler_maruyama(
    key: PRNGKey, denoise: Denoiser, x_T: Array, sigmas: Array, *, unroll: int = 1
) -> Array:
    """The reverse SDE by Euler-Maruyama over ``sigmas``; the last step (to 0) is a denoising step."""
    n = sigmas.shape[0] - 1

    def step(k, x, i):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        d = denoise(x, per_example(x, sigma))
        return jnp.where(sigma_next > 0, euler_maruyama_step(k, x, d, sigma, sigma_next), d), None

    return driver.run(step, key, x_T, n, unroll=unroll)[0]


class LogLikelihood(NamedTuple):
    """Per-example ``log p(x)`` in nats ``[B]``, the prior term and the integrated divergence."""

    log_prob: Array
    prior_log_prob: Array
    delta_log_prob: Array


def ode_log_likelihood(
    key: PRNGKey,
    denoise: Denoiser,
    x0: Array,
    sigmas: Array,
    *,
    exact_trace: bool = False,
    num_probes: int = 1,
) -> LogLikelihood:
    """``log p_0(x0) = log N(x(sigma_max); 0, sigma_max^2 I) + int div f dsigma`` along the PF-ODE,
    integrated with fixed Heun steps in ``lax.scan`` (the same work for every input, so it shards).

    Args:
      key: PRNG key for the Rademacher probes of Hutchinson's estimator (Grathwohl et al., 2019).
      denoise: ``D(x; sigma)``.
      x0: float [B, ...] data (already dequantized when the data are discrete).
      sigmas: increasing noise levels from a small ``sigma_min`` to ``sigma_max``; the prior at
        ``sigma_max`` ignores the data's own spread (error ~ ``D sigma_data^2 / (2 sigma_max^2)``).
      exact_trace: the divergence from the full Jacobian (``D`` network calls; small D only).
      num_probes: Hutchinson probes per step (unbiased for any number).

    Returns:
      :class:`LogLikelihood`, nats per example.
    """
    shape = x0.shape
    dim = int(np.prod(shape[1:]))

    def f(x, sigma):
        return (x - denoise(x, per_example(x, sigma))) / sigma

    def div(x, sigma, probes):
        if exact_trace:
            flat = lambda y: f(y.reshape(shape), sigma).reshape(shape[0], -1)
            jac = jax.vmap(
                lambda e: jax.jvp(
                    flat, (x.reshape(shape[0], -1),), (jnp.broadcast_to(e, (shape[0], dim)),)
                )[1],
                out_axes=2,
            )(jnp.eye(dim))  # [B, D, D]
            return f(x, sigma), jnp.trace(jac, axis1=1, axis2=2)
        out, total = None, 0.0
        for p in probes:
            out, jv = jax.jvp(lambda y: f(y, sigma), (x,), (p,))
            total = total + jnp.sum((jv * p).reshape(shape[0], -1), -1)
        return out, total / len(probes)

    def step(k, carry, i):
        x, logp = carry
        s, s_next = sigmas[i], sigmas[i + 1]
        ks = jax.random.split(k, num_probes)
        probes = [jax.random.rademacher(kk, shape, jnp.float32) for kk in ks]
        dx1, dl1 = div(x, s, probes)
        x_e = x + (s_next - s) * dx1
        dx2, dl2 = div(x_e, s_next, probes)
        h = s_next - s
        return (x + 0.5 * h * (dx1 + dx2), logp + 0.5 * h * (dl1 + dl2)), None

    (xT, delta), _ = driver.run(step, key, (x0, jnp.zeros(shape[0])), sigmas.shape[0] - 1)
    s_max = sigmas[-1]
    prior = -0.5 * jnp.sum((xT**2).reshape(shape[0], -1), -1) / s_max**2 - dim * (
        jnp.log(s_max) + 0.5 * jnp.log(2 * jnp.pi)
    )
    return LogLikelihood(prior + delta, prior, delta)
