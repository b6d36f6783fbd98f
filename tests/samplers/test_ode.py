"""The probability-flow ODE (Song et al., 2021; Karras et al., 2022) driven by the exact denoiser
of Gaussian data: Heun sampling, churn, the reverse SDE, and the exact likelihood."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

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
