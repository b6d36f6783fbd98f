"""The probability-flow ODE (Song et al., 2021; Karras et al., 2022) driven by the exact denoiser
of Gaussian data: Heun sampling, churn, the reverse SDE, and the exact likelihood; the adaptive
Dormand-Prince reference, the Richardson error estimate of fixed grids and the refusal of coarse
ones against the closed form."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import likelihood
from genjax.samplers import ode
from genjax.samplers.schedules import karras_sigmas

sys.path.insert(0, os.path.dirname(__file__))
from _diffusion_target import (
    COV,
    MU,
    TOL,
    N,
    check_moments,
    data,
    exact_denoiser,
    log_density,
    white_noise,
)  # noqa: E402


def test_heun_18_steps_reproduces_the_gaussian():
    # Measured discretization error of the variance on this Gaussian: 0.089 at 18 steps (35
    # evaluations), 0.010 at 50, 0.000 at 200; the tolerance is stated for 18 steps.
    sigmas = karras_sigmas(18)
    x_T = sigmas[0] * white_noise(jax.random.PRNGKey(8))
    x = np.asarray(
        jax.jit(lambda k: ode.sample_heun(k, exact_denoiser, x_T, sigmas))(jax.random.PRNGKey(9))
    )
    np.testing.assert_allclose(x.mean(0), MU, atol=TOL)
    np.testing.assert_allclose(np.cov(x, rowvar=False), COV, atol=0.1)


def test_heun_is_second_order_and_euler_first_order():
    # One step from sigma = 1 to 0.5 on the exact ODE of a Gaussian, against the closed-form flow
    # x(s) = MU + sqrtm(COV + s^2 I) sqrtm(COV + 1 I)^-1 (x(1) - MU).
    def flow(x, s0, s1):
        w, v = np.linalg.eigh(np.asarray(COV))
        m = v @ np.diag(np.sqrt((w + s1**2) / (w + s0**2))) @ v.T
        return MU + (x - MU) @ m.T

    x = data(jax.random.PRNGKey(0), 8) + jax.random.normal(jax.random.PRNGKey(1), (8, 2))
    errs = {}
    for h in (0.2, 0.1):
        truth = flow(x, 1.0, 1.0 - h)
        d = exact_denoiser(x, jnp.full((8,), 1.0))
        errs[h] = (
            float(jnp.abs(ode.euler_step(x, d, 1.0, 1.0 - h) - truth).max()),
            float(jnp.abs(ode.heun_step(exact_denoiser, x, 1.0, 1.0 - h) - truth).max()),
        )
    assert 3.0 < errs[0.2][0] / errs[0.1][0] < 5.0  # local error O(h^2): falls fourfold
    assert 6.0 < errs[0.2][1] / errs[0.1][1] < 10.0  # O(h^3): falls eightfold


def test_heun_with_stochastic_churn_reproduces_the_gaussian():
    sigmas = karras_sigmas(64)
    x_T = sigmas[0] * jax.random.normal(jax.random.PRNGKey(8), (N, 2))
    x = jax.jit(
        lambda k: ode.sample_heun(
            k, exact_denoiser, x_T, sigmas, s_churn=20.0, s_tmin=0.05, s_tmax=50.0
        )
    )(jax.random.PRNGKey(9))
    check_moments(x)


def test_euler_maruyama_reverse_sde_reproduces_the_gaussian():
    sigmas = karras_sigmas(200)
    x_T = sigmas[0] * jax.random.normal(jax.random.PRNGKey(10), (N, 2))
    check_moments(
        jax.jit(lambda k: ode.sample_euler_maruyama(k, exact_denoiser, x_T, sigmas))(
            jax.random.PRNGKey(11)
        )
    )


def test_ode_likelihood_equals_the_exact_gaussian_density():
    x0 = data(jax.random.PRNGKey(12), 64)
    sigmas = jnp.flip(karras_sigmas(400, sigma_min=1e-3, sigma_max=2000.0)[:-1])
    ll = jax.jit(
        lambda x: (
            ode.ode_log_likelihood(
                jax.random.PRNGKey(0), exact_denoiser, x, sigmas, exact_trace=True
            ).log_prob
        )
    )(x0)
    # The prior N(0, sigma_max^2 I) ignores the data mean: an error of about |mu| / sigma_max nats per
    # example (0.02 at sigma_max = 100), hence sigma_max = 2000 here.
    np.testing.assert_allclose(ll, log_density(x0), atol=0.02)


def test_hutchinson_trace_is_unbiased():
    x0 = MU + jax.random.normal(jax.random.PRNGKey(13), (8, 2))
    sigmas = jnp.flip(karras_sigmas(40, sigma_min=1e-2, sigma_max=50.0)[:-1])
    exact = ode.ode_log_likelihood(
        jax.random.PRNGKey(0), exact_denoiser, x0, sigmas, exact_trace=True
    ).log_prob
    est = jax.jit(
        jax.vmap(lambda k: ode.ode_log_likelihood(k, exact_denoiser, x0, sigmas).log_prob)
    )(jax.random.split(jax.random.PRNGKey(1), 400))
    se = est.std(0) / np.sqrt(400)
    assert float(se.max()) > 1e-3  # the estimator is random, so the check below has power
    assert np.all(np.abs(est.mean(0) - exact) < 4 * se + 1e-3)


def test_hutchinson_term_is_each_probes_quadratic_form_of_the_drift_jacobian():
    """Against the Jacobian from ``jax.jacfwd``: for fixed probes the estimate is exactly
    ``mean_p p^T (df/dx) p``, whichever mode of differentiation computes it."""
    w = jax.random.normal(jax.random.PRNGKey(3), (6, 6)) / 3.0

    def denoise(x, sigma):  # nonlinear, couples the coordinates, sigma enters per example
        return jnp.tanh(x @ w) * (1.0 + sigma[:, None])

    x = jax.random.normal(jax.random.PRNGKey(4), (3, 6))
    sigma = jnp.float32(0.7)
    probes = jax.random.rademacher(jax.random.PRNGKey(5), (4, 3, 6), jnp.float32)
    out, div = ode.drift_and_divergence(denoise, x, sigma, probes)
    drift = lambda y: (y - denoise(y[None], jnp.full((1,), sigma))[0]) / sigma
    jacobians = jax.vmap(jax.jacfwd(drift))(x)  # [B, D, D]
    expected = jnp.mean(jnp.einsum("pbi,bij,pbj->pb", probes, jacobians, probes), 0)
    np.testing.assert_allclose(div, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, jax.vmap(drift)(x), rtol=1e-6, atol=1e-6)


SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


def _gaussian_log_pdf(x, cov):
    d = x - MU
    return -0.5 * jnp.einsum("bi,ij,bj->b", d, jnp.linalg.inv(cov), d) - 0.5 * jnp.log(
        jnp.linalg.det(2 * jnp.pi * cov)
    )


def _exact_solution(x0):
    """What a solver of the likelihood ODE from SIGMA_MIN to SIGMA_MAX converges to, in closed form:
    the flow maps p_sigma = N(MU, COV + sigma^2 I) onto itself, x(s) = MU + M (x0 - MU) with
    M = sqrtm(COV + SIGMA_MAX^2 I) sqrtm(COV + SIGMA_MIN^2 I)^-1, and the divergence integral is
    log p_min(x0) - log p_max(x(SIGMA_MAX)); the solver adds its prior log N(x_T; 0, SIGMA_MAX^2 I).
    """
    w, v = np.linalg.eigh(np.asarray(COV, np.float64))
    m = v @ np.diag(np.sqrt((w + SIGMA_MAX**2) / (w + SIGMA_MIN**2))) @ v.T
    x_T = MU + (x0 - MU) @ m.T
    prior = -0.5 * jnp.sum(x_T**2, -1) / SIGMA_MAX**2 - 2 * jnp.log(
        SIGMA_MAX * jnp.sqrt(2 * jnp.pi)
    )
    eye = jnp.eye(2)
    return (
        _gaussian_log_pdf(x0, COV + SIGMA_MIN**2 * eye)
        - _gaussian_log_pdf(x_T, COV + SIGMA_MAX**2 * eye)
        + prior
    )


def _heun(x0, steps):
    sigmas = jnp.flip(karras_sigmas(steps + 1, SIGMA_MIN, SIGMA_MAX)[:-1])
    return jax.jit(
        lambda x: ode.ode_log_likelihood(
            jax.random.PRNGKey(0), exact_denoiser, x, sigmas, exact_trace=True, error_estimate=True
        )
    )(x0)


def test_dopri5_step_is_fifth_order_with_a_fourth_order_error_estimate():
    # y' = y, y(0) = 1: y = exp(t). In float64 numpy (the step is plain arithmetic) so that local
    # errors of 1e-10 are measurable.
    fn = lambda t, y: y
    errs, ests = [], []
    for h in (0.2, 0.1):
        y, est, k7 = ode.dopri5_step(fn, 0.0, np.float64(1.0), h, np.float64(1.0))
        errs.append(abs(y - np.exp(h)))
        ests.append(abs(est))
        assert k7 == y  # first same as last: the last stage is the derivative at the new point
    assert 40 < errs[0] / errs[1] < 90  # local error O(h^6): falls 64-fold (measured 59)
    assert 20 < ests[0] / ests[1] < 45  # the embedded 4th-order error O(h^5): 32-fold (31)
    assert ests[1] > errs[1]  # the estimate bounds the 5th-order solution's error


def test_adaptive_likelihood_matches_the_closed_form_with_few_evaluations():
    x0 = data(jax.random.PRNGKey(12), 16)
    out = jax.jit(
        lambda x: ode.ode_log_likelihood_adaptive(
            jax.random.PRNGKey(0), exact_denoiser, x, SIGMA_MIN, SIGMA_MAX, exact_trace=True
        )
    )(x0)
    # Measured: 1.1e-4 nats with 127-145 evaluations per example at rtol = atol = 1e-5.
    np.testing.assert_allclose(out.log_prob, _exact_solution(x0), atol=1e-3)
    assert out.error is None and int(out.nfe.max()) < 400
    # A budget too small to reach sigma_max gives nan, never a number.
    short = ode.ode_log_likelihood_adaptive(
        jax.random.PRNGKey(0), exact_denoiser, x0, SIGMA_MIN, SIGMA_MAX, exact_trace=True,
        max_steps=5,
    )
    assert bool(jnp.all(jnp.isnan(short.log_prob)))
    with pytest.raises(ValueError, match="sigma_min"):
        ode.ode_log_likelihood_adaptive(jax.random.PRNGKey(0), exact_denoiser, x0, 1.0, 0.5)


def test_heun_error_estimate_tracks_the_true_error():
    x0 = data(jax.random.PRNGKey(13), 16)
    truth = _exact_solution(x0)
    for steps in (16, 64):
        out = _heun(x0, steps)
        assert int(out.nfe[0]) == 3 * steps
        # Measured ratios of the mean estimated to the mean true error: 0.91 at 16 steps, 0.98 at 64
        ratio = float(jnp.mean(out.error)) / float(jnp.mean(truth - out.log_prob))
        assert 0.8 < ratio < 1.2, (steps, ratio)
    with pytest.raises(ValueError, match="even"):
        _heun(x0, 15)


def test_coarse_grids_are_refused_and_accepted_ones_are_within_tolerance():
    # The promise of the check: a grid it lets through is within the tolerance of the exact answer,
    # one it refuses does not give bits/dim. Measured true errors (2 dims): 2.7 bits/dim at 4 steps,
    # 0.77 at 8, 0.014 at 64, 0.0034 at 128.
    x0 = data(jax.random.PRNGKey(14), 16)
    truth = _exact_solution(x0)
    tol, refused = 0.01, []
    for steps in (4, 8, 32, 64, 128):
        out = _heun(x0, steps)
        report = likelihood.likelihood_report(
            out.log_prob, 2, solver_error_nats=out.error, steps=steps, tolerance_bits_per_dim=tol
        )
        true_error = abs(float(jnp.mean(truth - out.log_prob))) / (2 * np.log(2))
        if report["likelihood_converged"]:
            assert true_error <= tol and report["test_bits_per_dim"] is not None
        else:
            refused.append(steps)
            assert report["test_bits_per_dim"] is None
            assert f"at {steps} steps" in report["likelihood_refused"]
            with pytest.raises(likelihood.SolverError, match=f"at {steps} steps"):
                likelihood.check_solver_error(out.error, 2, steps=steps, tolerance_bits_per_dim=tol)
    assert refused == [4, 8, 32, 64]
