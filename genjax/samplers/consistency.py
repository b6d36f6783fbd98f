"""Sampling with a consistency function ``f(x, sigma) -> x_0`` (Song et al., 2023): one step,
several steps with noise re-injected in between (``lax.scan``), and zero-shot editing.

``f`` is a plain callable ``(x [B, ...], sigma float [B]) -> [B, ...]``; guidance, jit and vmap are
the caller's (wrap a conditional ``f`` with ``genjax.samplers.guidance.guided``).
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from genjax.samplers import driver
from genjax.samplers.schedules import per_example
from genjax.typing import Array, PRNGKey

__all__ = ["one_step", "multistep", "multistep_step", "inpaint", "denoise", "interpolate", "slerp"]

ConsistencyFn = Callable[[Array, Array], Array]



def one_step(key: PRNGKey, f: ConsistencyFn, shape: tuple[int, ...], sigma_max: float) -> Array:
    """``f(sigma_max z, sigma_max)``: one network evaluation per sample."""
    return f(sigma_max * jax.random.normal(key, shape), per_example(jnp.zeros(shape), sigma_max))


def multistep_step(key: PRNGKey, f: ConsistencyFn, x0: Array, sigma: Array, sigma_min: float,
                   mask: Optional[Array] = None, known: Optional[Array] = None) -> Array:
    """One step of algorithm 1 (or 4 with ``mask``): re-noise the current estimate to ``sigma`` with
    ``sqrt(sigma^2 - sigma_min^2) z`` and map it back with ``f``; with ``mask`` (1 = known) the known
    values are put back before re-noising and after the map."""
    if mask is not None:
        x0 = mask * known + (1.0 - mask) * x0
    x = x0 + jnp.sqrt(jnp.maximum(sigma**2 - sigma_min**2, 0.0)) * jax.random.normal(key, x0.shape, x0.dtype)
    out = f(x, per_example(x, sigma))
    return out if mask is None else mask * known + (1.0 - mask) * out


def multistep(
    key: PRNGKey, f: ConsistencyFn, shape: tuple[int, ...], sigmas: Array, sigma_min: float, *, unroll: int = 1
) -> Array:
    """Multistep consistency sampling (Song et al., 2023, algorithm 1) over decreasing ``sigmas``
    (the first is ``sigma_max``): ``len(sigmas)`` network evaluations."""
    k0, k = jax.random.split(key)
    x = one_step(k0, f, shape, sigmas[0])
    rest = sigmas[1:]
    step = lambda kk, x, i: (multistep_step(kk, f, x, rest[i], sigma_min), None)
    return driver.run(step, k, x, rest.shape[0], unroll=unroll)[0]


def inpaint(
    key: PRNGKey, f: ConsistencyFn, known: Array, mask: Array, sigmas: Array, sigma_min: float, *, unroll: int = 1
) -> Array:
    """Zero-shot inpainting (algorithm 4): ``mask`` is 1 where ``known`` is given; the known values are
    returned unchanged, the rest is generated consistently with them over ``sigmas``."""
    k0, k = jax.random.split(key)
    x = mask * known + (1.0 - mask) * sigmas[0] * jax.random.normal(k0, known.shape)
    x = mask * known + (1.0 - mask) * f(x, per_example(x, sigmas[0]))
    rest = sigmas[1:]
    step = lambda kk, x, i: (multistep_step(kk, f, x, rest[i], sigma_min, mask, known), None)
    return driver.run(step, k, x, rest.shape[0], unroll=unroll)[0]


def denoise(f: ConsistencyFn, noisy: Array, sigma: float) -> Array:
    """Denoising an image corrupted by Gaussian noise of known level ``sigma``: ``f(noisy, sigma)``."""
    return f(noisy, per_example(noisy, sigma))


def slerp(z0: Array, z1: Array, t: Array) -> Array:
    """Spherical interpolation between two noise draws (keeps the Gaussian norm), ``t`` in [0, 1]."""
    a, b = z0.reshape(z0.shape[0], -1), z1.reshape(z1.shape[0], -1)
    cos = jnp.sum(a * b, -1) / (jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1))
    theta = jnp.arccos(jnp.clip(cos, -1.0, 1.0))[:, None]
    out = (jnp.sin((1 - t) * theta) * a + jnp.sin(t * theta) * b) / jnp.sin(theta)
    return out.reshape(z0.shape)


def interpolate(f: ConsistencyFn, z0: Array, z1: Array, num: int, sigma_max: float) -> Array:
    """One-step samples along the slerp between two noise seeds ``z0, z1 [1, ...]``: ``[num, ...]``."""
    ts = jnp.linspace(0.0, 1.0, num)[:, None]
    z = jax.vmap(lambda t: slerp(z0, z1, t)[0])(ts)
    return f(sigma_max * z, per_example(z, sigma_max))
