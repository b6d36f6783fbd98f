"""Sampling with a consistency function ``f(x, sigma) -> x_0`` (Song et al., 2023): one step,
several steps with noise re-injected in between (``lax.scan``), the greedy search of their
intermediate sigmas, zero-shot editing, and the consistency error against the teacher's
probability-flow ODE.

``f`` is a plain callable ``(x [B, ...], sigma float [B]) -> [B, ...]``; guidance, jit and vmap are
the caller's (wrap a conditional ``f`` with ``genjax.samplers.guidance.guided``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from genjax.samplers import driver, ode
from genjax.samplers.schedules import per_example
from genjax.typing import Array, PRNGKey

__all__ = ["one_step", "multistep", "multistep_step", "greedy_sigmas", "GreedySigmas", "consistency_error",
           "ConsistencyError", "inpaint", "denoise", "interpolate", "slerp"]

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


class GreedySigmas(NamedTuple):
    """The result of :func:`greedy_sigmas`.

    Attributes:
      sigmas: the chosen schedule, decreasing, ``sigmas[0] = sigma_max``.
      scores: ``scores[k] = score(sigmas[:k + 1])``, the score of each prefix (one step first).
      trials: every ``(schedule, score)`` evaluated, in order.
    """

    sigmas: tuple[float, ...]
    scores: tuple[float, ...]
    trials: tuple[tuple[tuple[float, ...], float], ...]


def greedy_sigmas(
    score: Callable[[tuple[float, ...]], float], candidates: Sequence[float], num_steps: int, sigma_max: float
) -> GreedySigmas:
    """The intermediate sigmas of :func:`multistep`, chosen one at a time (Song et al., 2023,
    appendix C: each time point optimises the FID given the ones before; a grid of candidates here
    stands in for their ternary search).

    Step ``k`` tries every candidate below the sigma chosen at step ``k - 1`` appended to the schedule
    so far, and keeps the one of lowest score (the first on ties). ``1 + sum_k |{c < sigma_{k-1}}|``
    calls of ``score``: at most ``1 + (num_steps - 1) len(candidates)``. The search is greedy, not
    global: a schedule whose later points would pay for a worse earlier one is not found.

    Args:
      score: ``(sigmas: tuple of floats, decreasing, first = sigma_max) -> float``, lower is better:
        e.g. the FID of ``multistep`` samples against a validation set (not the test set the final
        figure is reported on). Called with a common random seed, its differences compare schedules,
        not sampling noise.
      candidates: the sigmas to choose from, each in ``(0, sigma_max)``, any order.
      num_steps: the schedule's length (network evaluations per sample), >= 1.
      sigma_max: the first sigma (the one-step sampler's).

    Returns:
      :class:`GreedySigmas`; ``sigmas`` is shorter than ``num_steps`` when no candidate is left below
      the last choice.

    Raises:
      ValueError: for ``num_steps < 1`` or a candidate outside ``(0, sigma_max)``.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    bad = [c for c in candidates if not 0.0 < float(c) < sigma_max]
    if bad:
        raise ValueError(f"candidates must lie in (0, sigma_max={sigma_max}), got {bad}")
    pool = sorted({float(c) for c in candidates}, reverse=True)
    trials: list[tuple[tuple[float, ...], float]] = []

    def scored(sigmas: tuple[float, ...]) -> float:
        value = float(score(sigmas))
        trials.append((sigmas, value))
        return value

    chosen = (float(sigma_max),)
    scores = [scored(chosen)]
    for _ in range(num_steps - 1):
        below = [c for c in pool if c < chosen[-1]]
        if not below:
            break
        values = [scored(chosen + (c,)) for c in below]
        best = min(range(len(below)), key=values.__getitem__)
        chosen, scores = chosen + (below[best],), scores + [values[best]]
    return GreedySigmas(chosen, tuple(scores), tuple(trials))


class ConsistencyError(NamedTuple):
    """The result of :func:`consistency_error`, one entry per sigma (float32 ``[S]``).

    Attributes:
      sigmas: the noise levels.
      student_rms: ``sqrt(mean((f(x_s, s) - Phi(x_s, s))^2))`` over examples and dimensions, with
        ``Phi`` the teacher's ODE solution on the fine grid.
      teacher_rms: the same RMS between the coarse-grid (half the steps) and the fine-grid solutions.
        For Heun (order 2) the fine solution's own error is about a third of it (Richardson), so the
        target is converged where this is small beside ``student_rms``.
    """

    sigmas: Array
    student_rms: Array
    teacher_rms: Array


def consistency_error(
    key: PRNGKey,
    f: ConsistencyFn,
    denoise: ode.Denoiser,
    x: Array,
    sigmas: Array,
    sigma_min: float,
    *,
    num_steps: int = 64,
    rho: float = 7.0,
) -> ConsistencyError:
    """How far a consistency function is from the map it should learn, per noise level: for data
    ``x``, ``x_s = x + s z`` (the same ``z`` at every ``s``), the student's ``f(x_s, s)`` against
    the teacher's probability-flow ODE (Karras et al., 2022) solved from ``s`` down to
    ``sigma_min`` by ``num_steps`` Heun steps (:func:`genjax.samplers.ode.sample_heun`) on the
    Karras grid (eq. 5) between those two levels. Song et al. (2023) define ``f`` as that map, so a
    perfect distillation has zero error at every ``s``.

    Traceable (the sigmas run in ``lax.map``, one compiled solve); jit it at the call site.

    Args:
      key: draws ``z``.
      f: the consistency function ``(x [B, ...], sigma float [B]) -> [B, ...]``.
      denoise: the teacher ``D(x; sigma)``, ``sigma`` float [B].
      x: float [B, ...] data (e.g. validation images in [-1, 1]).
      sigmas: float [S] noise levels, each above ``sigma_min``.
      sigma_min: where the ODE stops (the boundary of ``f``: ``f(x, sigma_min) = x``).
      num_steps: Heun steps of the fine solve (even; the coarse solve takes every other sigma).
      rho: the Karras grid's exponent.

    Returns:
      :class:`ConsistencyError`.

    Raises:
      ValueError: for an odd or non-positive ``num_steps``.
    """
    if num_steps < 2 or num_steps % 2:
        raise ValueError(f"num_steps must be even and >= 2 (the coarse solve halves it), got {num_steps}")
    sigmas = jnp.asarray(sigmas, jnp.float32)
    x_shape = x.shape
    z = jax.random.normal(key, x_shape, x.dtype)
    frac = jnp.arange(num_steps + 1, dtype=jnp.float32) / num_steps
    rms = lambda a, b: jnp.sqrt(jnp.mean(jnp.square(a - b)))

    def one(s):
        # Karras et al. (2022), eq. 5, from s down to sigma_min: dense where the ODE bends.
        grid = (s ** (1 / rho) + frac * (sigma_min ** (1 / rho) - s ** (1 / rho))) ** rho
        x_s = x + s * z
        # The solver draws no noise without churn; its key is unused.
        fine = ode.sample_heun(key, denoise, x_s, grid)
        coarse = ode.sample_heun(key, denoise, x_s, grid[::2])
        return rms(f(x_s, per_example(x_s, s)), fine), rms(coarse, fine)

    student, teacher = jax.lax.map(one, sigmas)
    return ConsistencyError(sigmas, student, teacher)


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
