"""The probability-flow ODE of ``x = x_0 + sigma n`` (Song et al., 2021; Karras et al., 2022):
Euler and Heun steps with optional stochastic churn, and the exact likelihood by integrating the
divergence (exact trace for small dimensions, Hutchinson's estimator otherwise): on a fixed Heun
grid with a Richardson error estimate, or by an adaptive Dormand-Prince 5(4) solve as a reference.

The network comes in as a plain denoiser ``denoise(x, sigma) -> D(x; sigma)`` with ``sigma`` float
[B]; the ODE is ``dx/dsigma = (x - D(x; sigma)) / sigma`` (:func:`pf_ode_field`). Underneath, the
solvers and the likelihood take any velocity field ``field(x, t) -> dx/dt`` over a grid of times
(:func:`solve`, :func:`field_log_likelihood`): flow matching passes its learned velocity there.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from genjax.samplers import driver
from genjax.samplers.diffusion import euler_maruyama_step
from genjax.samplers.schedules import per_example
from genjax.typing import Array, PRNGKey

__all__ = [
    "Field",
    "pf_ode_field",
    "ODE_METHODS",
    "ode_step",
    "solve",
    "field_and_divergence",
    "field_log_likelihood",
    "field_log_likelihood_adaptive",
    "euler_step",
    "heun_step",
    "churn",
    "sample_heun",
    "sample_euler_maruyama",
    "drift_and_divergence",
    "ode_log_likelihood",
    "dopri5_step",
    "ode_log_likelihood_adaptive",
    "LogLikelihood",
    "HEUN_ORDER",
]

Denoiser = Callable[[Array, Array], Array]

Field = Callable[[Array, Array], Array]
"""A velocity field ``field(x, t) -> dx/dt``: ``x`` float [B, ...], ``t`` a float scalar time."""

ODE_METHODS = ("euler", "midpoint", "heun")
"""The explicit Runge-Kutta methods of :func:`ode_step`: evaluations per step 1, 2, 2; global order
1, 2, 2."""


def pf_ode_field(denoise: Denoiser) -> Field:
    """The probability-flow ODE in EDM's sigma time (Karras et al., 2022, eq. 4 with ``s = 1``):
    ``f(x; sigma) = dx/dsigma = (x - D(x; sigma)) / sigma``."""
    return lambda x, sigma: (x - denoise(x, per_example(x, sigma))) / sigma


def ode_step(fn: Callable, y, t: Array, t_next: Array, method: str = "heun"):
    """One explicit step of ``dy/dt = fn(y, t)`` from ``t`` to ``t_next`` (either direction).

    * ``'euler'``: ``y + h k1``;
    * ``'midpoint'``: ``y + h fn(y + h/2 k1, t + h/2)``;
    * ``'heun'`` (explicit trapezoid): ``y + h/2 (k1 + fn(y + h k1, t_next))``;

    with ``h = t_next - t`` and ``k1 = fn(y, t)``.

    Args:
      fn: ``(y, t) -> dy/dt`` for a pytree ``y`` and a float scalar ``t``.
      y: the state (pytree of float arrays).
      t, t_next: float scalars.
      method: one of :data:`ODE_METHODS`.

    Returns:
      ``y`` at ``t_next``, a pytree like ``y``.

    Raises:
      ValueError: for an unknown method, listing the valid ones.
    """
    if method not in ODE_METHODS:
        raise ValueError(f"unknown ODE method {method!r}; valid choices: {list(ODE_METHODS)}")
    h = t_next - t
    axpy = lambda a, u, v: jax.tree_util.tree_map(lambda ui, vi: ui + a * vi, u, v)
    k1 = fn(y, t)
    if method == "euler":
        return axpy(h, y, k1)
    if method == "midpoint":
        return axpy(h, y, fn(axpy(0.5 * h, y, k1), t + 0.5 * h))
    k2 = fn(axpy(h, y, k1), t_next)
    return axpy(0.5 * h, y, jax.tree_util.tree_map(jnp.add, k1, k2))


def solve(
    fn: Callable,
    y0,
    ts: Array,
    *,
    method: str = "heun",
    return_trajectory: bool = False,
    unroll: int = 1,
):
    """Integrates ``dy/dt = fn(y, t)`` over the grid ``ts`` (increasing or decreasing) by
    :func:`ode_step` in the one scan driver: ``N`` steps for ``N + 1`` times, ``N`` evaluations
    (Euler) or ``2 N`` (midpoint, Heun).

    Args:
      fn: ``(y, t) -> dy/dt``; a :data:`Field` for samplers.
      y0: the state at ``ts[0]`` (pytree).
      ts: float [N + 1] times, ``N >= 1``.
      method: one of :data:`ODE_METHODS`.
      return_trajectory: also return the states after each step (stacked, leading axis ``N``).
      unroll: passed to ``lax.scan``.

    Returns:
      ``y`` at ``ts[-1]``, or ``(y, trajectory)``.
    """
    if method not in ODE_METHODS:
        raise ValueError(f"unknown ODE method {method!r}; valid choices: {list(ODE_METHODS)}")

    def step(_, y, i):
        return ode_step(fn, y, ts[i], ts[i + 1], method), None

    key = jax.random.PRNGKey(0)  # the steps are deterministic; the driver's keys go unused
    y, traj = driver.run(
        step, key, y0, ts.shape[0] - 1,
        trace_fn=(lambda s, _: s) if return_trajectory else None, unroll=unroll,
    )
    return (y, traj) if return_trajectory else y


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
    """Per-example results in nats, float32 ``[B]``.

    Attributes:
      log_prob: ``log p_0(x0) = prior_log_prob + delta_log_prob``.
      prior_log_prob: ``log N(x(sigma_max); 0, sigma_max^2 I)``.
      delta_log_prob: the integrated divergence ``int div f dsigma``.
      error: the estimated solver error of ``log_prob`` (truth minus estimate), or ``None`` where
        the solver gives none.
      nfe: drift-and-divergence evaluations per example (int32 ``[B]``); each is one network call
        plus one Jacobian-vector product per probe (``D`` of them for the exact trace).
    """

    log_prob: Array
    prior_log_prob: Array
    delta_log_prob: Array
    error: Optional[Array] = None
    nfe: Optional[Array] = None


HEUN_ORDER = 2
"""Global order of Heun's method: halving every step divides its error by ``2^2``."""


def field_and_divergence(
    field: Field, x: Array, t: Array, probes: Optional[Array]
) -> tuple[Array, Array]:
    """The augmented ODE of the instantaneous change of variables (Chen et al., 2018):
    ``d(x, l)/dt = (f, div f)`` for a velocity field ``f(x, t)``.

    Args:
      field: ``f(x, t)``.
      x: float [B, ...].
      t: float scalar.
      probes: float [P, B, ...] fixed Rademacher probes for Hutchinson's estimator
        ``div f ~ mean_p p^T (df/dx) p`` (Grathwohl et al., 2019: unbiased for any number of
        probes), or ``None`` for the exact trace (``D`` Jacobian-vector products; small ``D`` only).

    Returns:
      ``(f [B, ...], div f [B])``.
    """
    shape = x.shape
    f = lambda y: field(y, t)
    if probes is None:
        dim = int(np.prod(shape[1:]))
        flat = lambda y: f(y.reshape(shape)).reshape(shape[0], -1)
        tangent = lambda e: jax.jvp(flat, (x.reshape(shape[0], -1),),
                                    (jnp.broadcast_to(e, (shape[0], dim)),))
        out, jac = jax.vmap(tangent, out_axes=(None, 2))(jnp.eye(dim, dtype=x.dtype))  # [B, D, D]
        return out.reshape(shape), jnp.trace(jac, axis1=1, axis2=2)
    # p^T (df/dx) p from a vector-Jacobian product: the same number as a JVP's, and the convolutions
    # of reverse mode are the ones genjax.nn.convolution keeps on XLA:CPU's fast kernels inside the
    # solver's scan (a JVP there ran about 5x slower on the UNet, 2026-11-28).
    out, pullback = jax.vjp(f, x)
    pj = jax.vmap(lambda p: pullback(p)[0])(probes)
    return out, jnp.mean(jnp.sum((pj * probes).reshape(probes.shape[:2] + (-1,)), -1), 0)


def drift_and_divergence(
    denoise: Denoiser, x: Array, sigma: Array, probes: Optional[Array]
) -> tuple[Array, Array]:
    """:func:`field_and_divergence` of the probability-flow ODE (:func:`pf_ode_field`),
    ``f(x; sigma) = (x - D(x; sigma)) / sigma`` (Song et al., 2021, eq. 13 in EDM's sigma time).

    Args:
      denoise: ``D(x; sigma)``.
      x: float [B, ...].
      sigma: float scalar.
      probes: as in :func:`field_and_divergence`.

    Returns:
      ``(f [B, ...], div f [B])``.
    """
    return field_and_divergence(pf_ode_field(denoise), x, sigma, probes)


def _probes(key: PRNGKey, shape: tuple[int, ...], exact_trace: bool, num_probes: int):
    """One set of probes for the whole solve (as FFJORD and score_sde do): the augmented ODE is then
    a smooth deterministic function, so step-size control and the comparison of two grids measure
    discretization error alone, not fresh Hutchinson noise."""
    if exact_trace:
        return None
    if num_probes < 1:
        raise ValueError(f"num_probes must be >= 1, got {num_probes}")
    return jax.random.rademacher(key, (num_probes,) + shape, jnp.float32)


def _prior(xT: Array, std: Array) -> Array:
    """``log N(xT; 0, std^2 I)`` per example. For the PF-ODE (``std = sigma_max``) it ignores the
    data's own spread (an error of about ``D sigma_data^2 / (2 sigma_max^2)`` nats, 1e-3 for 8x8
    digits at ``sigma_max = 80``)."""
    dim = int(np.prod(xT.shape[1:]))
    sq = jnp.sum((xT**2).reshape(xT.shape[0], -1), -1)
    return -0.5 * sq / std**2 - dim * (jnp.log(std) + 0.5 * jnp.log(2 * jnp.pi))


def _heun_solve(field: Field, x0: Array, ts: Array, probes) -> tuple[Array, Array]:
    """Heun steps of the augmented ODE over ``ts``: ``(x(ts[-1]), int div f dt)``."""
    augmented = lambda y, t: field_and_divergence(field, y[0], t, probes)
    return solve(augmented, (x0, jnp.zeros(x0.shape[0])), ts, method="heun")


def field_log_likelihood(
    key: PRNGKey,
    field: Field,
    x0: Array,
    ts: Array,
    *,
    prior_std: float = 1.0,
    exact_trace: bool = False,
    num_probes: int = 1,
    error_estimate: bool = False,
) -> LogLikelihood:
    """The instantaneous change of variables (Chen et al., 2018; Grathwohl et al., 2019) along the
    ODE ``dx/dt = f(x, t)`` that carries the data at ``ts[0]`` to the prior ``N(0, prior_std^2 I)``
    at ``ts[-1]``: ``log p(x0) = log N(x(ts[-1]); 0, prior_std^2 I) + int div f dt``, integrated
    with fixed Heun steps in ``lax.scan`` (the same work for every input, so it shards).

    With ``error_estimate`` the same ODE (same probes) is also solved on every other time, and the
    error of the fine solve is estimated by Richardson's rule for a method of order 2,
    ``error = (l_N - l_{N/2}) / (2^2 - 1)``: 1.5 times the work. The estimate is trustworthy once
    both grids are in the asymptotic regime; on a coarse grid it is large, which is what should
    stop a number from being reported.

    Args:
      key: PRNG key for the Rademacher probes of Hutchinson's estimator, drawn once per solve.
      field: ``f(x, t)``.
      x0: float [B, ...] data (already dequantized when the data are discrete).
      ts: float [N + 1] times from the data's end to the prior's (``N`` Heun steps, ``2 N``
        evaluations).
      prior_std: the standard deviation of the Gaussian prior at ``ts[-1]``.
      exact_trace: the divergence from the full Jacobian (``D`` network calls; small D only).
      num_probes: Hutchinson probes (unbiased for any number).
      error_estimate: also solve on ``ts[::2]`` and fill ``LogLikelihood.error``.

    Returns:
      :class:`LogLikelihood`, nats per example.

    Raises:
      ValueError: for fewer than two times, or an odd number of steps with ``error_estimate``.
    """
    steps = ts.shape[0] - 1
    if steps < 1 or (error_estimate and steps % 2):
        raise ValueError(
            f"need >= 1 Heun step, and an even number for the error estimate; got {steps} steps "
            f"(error_estimate={error_estimate})"
        )
    probes = _probes(key, x0.shape, exact_trace, num_probes)
    xT, delta = _heun_solve(field, x0, ts, probes)
    prior = _prior(xT, prior_std)
    log_prob, nfe, error = prior + delta, 2 * steps, None
    if error_estimate:
        xT_c, delta_c = _heun_solve(field, x0, ts[::2], probes)
        error = (log_prob - _prior(xT_c, prior_std) - delta_c) / (2**HEUN_ORDER - 1)
        nfe += steps
    return LogLikelihood(log_prob, prior, delta, error, jnp.full(x0.shape[:1], nfe, jnp.int32))


def ode_log_likelihood(
    key: PRNGKey,
    denoise: Denoiser,
    x0: Array,
    sigmas: Array,
    *,
    exact_trace: bool = False,
    num_probes: int = 1,
    error_estimate: bool = False,
) -> LogLikelihood:
    """``log p_0(x0) = log N(x(sigma_max); 0, sigma_max^2 I) + int div f dsigma`` along the PF-ODE
    (Song et al., 2021, sec. 4.3): :func:`field_log_likelihood` of :func:`pf_ode_field` over
    ``sigmas``, with its Richardson error estimate when asked.

    Args:
      key: PRNG key for the Rademacher probes of Hutchinson's estimator (Grathwohl et al., 2019),
        drawn once per solve.
      denoise: ``D(x; sigma)``.
      x0: float [B, ...] data (already dequantized when the data are discrete).
      sigmas: float [N + 1], increasing noise levels from a small ``sigma_min`` to ``sigma_max``
        (``N`` Heun steps, ``2 N`` evaluations).
      exact_trace: the divergence from the full Jacobian (``D`` network calls; small D only).
      num_probes: Hutchinson probes (unbiased for any number).
      error_estimate: also solve on ``sigmas[::2]`` and fill ``LogLikelihood.error``.

    Returns:
      :class:`LogLikelihood`, nats per example.

    Raises:
      ValueError: for fewer than two sigmas, or an odd number of steps with ``error_estimate``.
    """
    return field_log_likelihood(
        key, pf_ode_field(denoise), x0, sigmas, prior_std=sigmas[-1], exact_trace=exact_trace,
        num_probes=num_probes, error_estimate=error_estimate,
    )


# Dormand & Prince (1980): the tableau of the 5(4) pair with the first-same-as-last property.
_DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
# Fifth-order weights minus the embedded fourth-order ones: the local error estimate.
_DP_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def dopri5_step(fn: Callable, t: Array, y, h: Array, k1) -> tuple:
    """One Dormand-Prince 5(4) step (Dormand & Prince, 1980) of ``dy/dt = fn(t, y)``.

    Args:
      fn: ``(t, y) -> dy/dt`` for a pytree ``y``.
      t: float scalar time; h: float scalar step.
      y: the state (pytree); k1: ``fn(t, y)`` (the previous step's last stage: first same as last).

    Returns:
      ``(y_next, error, k7)``: the fifth-order solution at ``t + h``, the difference to the embedded
      fourth-order one (pytree like ``y``), and ``fn(t + h, y_next)``. 6 evaluations.
    """

    def stage(row, ks):
        return jax.tree_util.tree_map(
            lambda y0, *k: y0 + h * sum(a * ki for a, ki in zip(row, k, strict=True)), y, *ks
        )

    ks = [k1]
    for c, row in zip(_DP_C[1:6], _DP_A[1:6], strict=True):
        ks.append(fn(t + c * h, stage(row, ks)))
    y_next = stage(_DP_A[6], ks)
    ks.append(fn(t + h, y_next))
    error = jax.tree_util.tree_map(
        lambda *k: h * sum(e * ki for e, ki in zip(_DP_E, k, strict=True)), *ks
    )
    return y_next, error, ks[6]


def field_log_likelihood_adaptive(
    key: PRNGKey,
    field: Field,
    x0: Array,
    t_start: float,
    t_end: float,
    *,
    prior_std: float = 1.0,
    log_time: bool = False,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    exact_trace: bool = False,
    num_probes: int = 1,
    max_steps: int = 4096,
) -> LogLikelihood:
    """The likelihood of :func:`field_log_likelihood` by an adaptive Dormand-Prince 5(4) solve,
    the reference that fixed grids are calibrated against (score_sde uses RK45 at 1e-5 tolerances).

    Written per example and vmapped, so each example controls its own steps; the loop runs in
    ``lax.while_loop`` under jit (no host round trip per step, on any device). With ``log_time``
    the solver's time is ``u = log t``, where the ODE is ``d(x, l)/du = t (f, div f)``: scales from
    ``t_start`` to ``t_end`` are then equally hard (the PF-ODE's sigmas). A step is accepted when
    ``max(rms_x, err_l) <= 1``, each error scaled by ``atol + rtol |value|``: the log-density is
    controlled on its own, not diluted among the ``D`` pixel components. Step factor
    ``0.9 err^(-1/5)`` clipped to [0.2, 10] (as scipy's RK45).

    Args:
      key: PRNG key for the probes (one set per solve).
      field: ``f(x, t)``, batched ``x``, scalar ``t``.
      x0: float [B, ...] data at ``t_start``.
      t_start, t_end: the ends of the integration, ``t_start < t_end`` (and ``0 < t_start`` in
        log time); the prior ``N(0, prior_std^2 I)`` is at ``t_end``.
      prior_std: as in :func:`field_log_likelihood`.
      log_time: integrate in ``log t``.
      rtol, atol: tolerances of the local error.
      exact_trace, num_probes: as in :func:`field_log_likelihood`.
      max_steps: attempted steps per example before giving up; an example that does not reach
        ``t_end`` gets ``log_prob = nan``.

    Returns:
      :class:`LogLikelihood` with ``error = None`` and ``nfe`` the evaluations per example.

    Raises:
      ValueError: unless ``t_start < t_end`` (``0 < t_start`` in log time), or for
        ``num_probes < 1``.
    """
    if not (0 < t_start or not log_time) or not t_start < t_end:
        raise ValueError(
            f"need {'0 < ' if log_time else ''}t_start < t_end, got {t_start}, {t_end}"
        )
    probes = _probes(key, x0.shape, exact_trace, num_probes)
    u0, u1 = (math.log(t_start), math.log(t_end)) if log_time else (t_start, t_end)

    def solve_one(x, p):
        p = None if p is None else p[:, None]

        def fn(u, y):
            t = jnp.exp(u) if log_time else u
            dx, dl = field_and_divergence(field, y[0][None], t, p)
            return (t * dx[0], t * dl[0]) if log_time else (dx[0], dl[0])

        def norm(err, y, y_new):
            scale = jax.tree_util.tree_map(
                lambda a, b: atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(b)), y, y_new
            )
            rx = jnp.sqrt(jnp.mean(jnp.square(err[0] / scale[0])))
            return jnp.maximum(rx, jnp.abs(err[1] / scale[1]))

        def body(c):
            u, y, k1, h, n = c
            h = jnp.minimum(h, u1 - u)
            y_new, err, k7 = dopri5_step(fn, u, y, h, k1)
            e = norm(err, y, y_new)
            ok = e <= 1.0
            factor = jnp.clip(0.9 * jnp.maximum(e, 1e-10) ** -0.2, 0.2, 10.0)
            pick = lambda a, b: jax.tree_util.tree_map(lambda v, w: jnp.where(ok, v, w), a, b)
            return jnp.where(ok, u + h, u), pick(y_new, y), pick(k7, k1), h * factor, n + 1

        def cond(c):
            u, _, _, _, n = c
            return (u < u1 - 1e-6 * (u1 - u0)) & (n < max_steps)

        y0 = (x, jnp.zeros((), x.dtype))
        h0 = jnp.asarray(0.01 * (u1 - u0), jnp.float32)  # the controller corrects it in a few steps
        init = (jnp.asarray(u0, jnp.float32), y0, fn(jnp.float32(u0), y0), h0, jnp.int32(0))
        u, (xT, delta), _, _, n = jax.lax.while_loop(cond, body, init)
        return xT, jnp.where(u >= u1 - 1e-6 * (u1 - u0), delta, jnp.nan), 1 + 6 * n

    xT, delta, nfe = jax.vmap(solve_one, in_axes=(0, None if probes is None else 1))(x0, probes)
    prior = _prior(xT, jnp.asarray(prior_std, jnp.float32))
    return LogLikelihood(prior + delta, prior, delta, None, nfe.astype(jnp.int32))


def ode_log_likelihood_adaptive(
    key: PRNGKey,
    denoise: Denoiser,
    x0: Array,
    sigma_min: float,
    sigma_max: float,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    exact_trace: bool = False,
    num_probes: int = 1,
    max_steps: int = 4096,
) -> LogLikelihood:
    """The PF-ODE likelihood of :func:`ode_log_likelihood` by the adaptive Dormand-Prince 5(4) solve
    of :func:`field_log_likelihood_adaptive` in ``log sigma``, from ``sigma_min`` to the prior
    ``N(0, sigma_max^2 I)``.

    Args:
      key: PRNG key for the probes (one set per solve).
      denoise: ``D(x; sigma)`` batched, ``sigma`` float [B].
      x0: float [B, ...] data.
      sigma_min, sigma_max: the ends of the integration.
      rtol, atol, exact_trace, num_probes, max_steps: as in
        :func:`field_log_likelihood_adaptive`.

    Returns:
      :class:`LogLikelihood` with ``error = None`` and ``nfe`` the evaluations per example.

    Raises:
      ValueError: unless ``0 < sigma_min < sigma_max``, or for ``num_probes < 1``.
    """
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    return field_log_likelihood_adaptive(
        key, pf_ode_field(denoise), x0, sigma_min, sigma_max, prior_std=sigma_max, log_time=True,
        rtol=rtol, atol=atol, exact_trace=exact_trace, num_probes=num_probes, max_steps=max_steps,
    )
