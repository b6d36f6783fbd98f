"""Diffusion samplers driven by the exact denoiser of Gaussian data (Ho et al., 2020; Song et al.,
2021; Karras et al., 2022): every sampler must reproduce the data's mean and covariance."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.diffusion import q_sample
from genjax.samplers import diffusion as dsamp
from genjax.samplers import ode
from genjax.samplers.guidance import guided
from genjax.samplers.schedules import cosine_schedule, edm_scalings, karras_sigmas, linear_schedule

MU = jnp.array([1.0, -0.5])
COV = jnp.array([[1.0, 0.6], [0.6, 0.8]])
N = 4000
TOL = 0.08  # 4,000 samples: standard errors of the mean and covariance entries are below 0.025


def white_noise(key, n=N):
    """Standard normal draws whitened to exactly zero mean and identity covariance, so that the
    deterministic samplers' errors are discretization errors, not sampling noise of x_T."""
    z = np.asarray(jax.random.normal(key, (n, 2)), np.float64)
    z = z - z.mean(0)
    return jnp.asarray(z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T, jnp.float32)


def exact_eps(schedule):
    def eps(x, t):
        a = schedule.alphas_cumprod[t][:, None]
        prec = jax.vmap(lambda ai: jnp.linalg.inv(ai * COV + (1 - ai) * jnp.eye(2)))(a[:, 0])
        return jnp.sqrt(1 - a) * jnp.einsum("bij,bj->bi", prec, x - jnp.sqrt(a) * MU)

    return eps


def exact_denoiser(x, sigma):
    gain = jax.vmap(lambda s: COV @ jnp.linalg.inv(COV + s**2 * jnp.eye(2)))(sigma)
    return MU + jnp.einsum("bij,bj->bi", gain, x - MU)


def _check_moments(x):
    x = np.asarray(x)
    np.testing.assert_allclose(x.mean(0), MU, atol=TOL)
    np.testing.assert_allclose(np.cov(x, rowvar=False), COV, atol=TOL)


def test_forward_marginals_match_the_closed_form():
    s = linear_schedule(1000)
    x0 = MU + jax.random.normal(jax.random.PRNGKey(0), (N, 2)) @ jnp.linalg.cholesky(COV).T
    t = jnp.full((N,), 300, jnp.int32)
    xt, _ = q_sample(jax.random.PRNGKey(1), x0, t, s.alphas_cumprod)
    a = float(s.alphas_cumprod[300])
    np.testing.assert_allclose(np.asarray(xt).mean(0), np.sqrt(a) * MU, atol=TOL)
    np.testing.assert_allclose(np.cov(np.asarray(xt), rowvar=False), a * COV + (1 - a) * np.eye(2), atol=TOL)


def test_ddpm_1000_steps_reproduces_the_gaussian():
    s = linear_schedule(1000)
    x = jax.jit(lambda k: dsamp.sample_ddpm(k, exact_eps(s), jax.random.normal(jax.random.PRNGKey(2), (N, 2)), s))(
        jax.random.PRNGKey(3))
    _check_moments(x)


def test_ddim_50_steps_is_deterministic_and_reproduces_the_gaussian():
    s = cosine_schedule(1000)
    x_T = white_noise(jax.random.PRNGKey(4))
    run = jax.jit(lambda k: dsamp.sample_ddim(k, exact_eps(s), x_T, s, 50))
    a, b = run(jax.random.PRNGKey(5)), run(jax.random.PRNGKey(6))
    chex.assert_trees_all_equal(a, b)
    _check_moments(a)


def test_ddim_inversion_then_sampling_returns_the_input():
    s = cosine_schedule(1000)
    x0 = MU + jax.random.normal(jax.random.PRNGKey(7), (256, 2)) @ jnp.linalg.cholesky(COV).T
    eps = exact_eps(s)
    x_T = jax.jit(lambda x: dsamp.ddim_invert(eps, x, s, 200))(x0)
    back = jax.jit(lambda x: dsamp.sample_ddim(jax.random.PRNGKey(0), eps, x, s, 200))(x_T)
    # First-order inversion: the error shrinks with the number of steps (0.01 at 200 steps).
    np.testing.assert_allclose(back, x0, atol=0.05)
    np.testing.assert_allclose(np.cov(np.asarray(x_T), rowvar=False), np.eye(2), atol=0.25)


def test_heun_18_steps_reproduces_the_gaussian():
    # Measured discretization error of the variance on this Gaussian: 0.089 at 18 steps (35
    # evaluations), 0.010 at 50, 0.000 at 200; the tolerance is stated for 18 steps.
    sigmas = karras_sigmas(18)
    x_T = sigmas[0] * white_noise(jax.random.PRNGKey(8))
    x = np.asarray(jax.jit(lambda k: ode.sample_heun(k, exact_denoiser, x_T, sigmas))(jax.random.PRNGKey(9)))
    np.testing.assert_allclose(x.mean(0), MU, atol=TOL)
    np.testing.assert_allclose(np.cov(x, rowvar=False), COV, atol=0.1)


def test_heun_with_stochastic_churn_reproduces_the_gaussian():
    sigmas = karras_sigmas(64)
    x_T = sigmas[0] * jax.random.normal(jax.random.PRNGKey(8), (N, 2))
    x = jax.jit(lambda k: ode.sample_heun(k, exact_denoiser, x_T, sigmas, s_churn=20.0, s_tmin=0.05, s_tmax=50.0))(
        jax.random.PRNGKey(9))
    _check_moments(x)


def test_euler_maruyama_reverse_sde_reproduces_the_gaussian():
    sigmas = karras_sigmas(200)
    x_T = sigmas[0] * jax.random.normal(jax.random.PRNGKey(10), (N, 2))
    x = jax.jit(lambda k: ode.sample_euler_maruyama(k, exact_denoiser, x_T, sigmas))(jax.random.PRNGKey(11))
    _check_moments(x)


def _gaussian_logpdf(x):
    d = x - MU
    return -0.5 * jnp.einsum("bi,ij,bj->b", d, jnp.linalg.inv(COV), d) - 0.5 * jnp.log(
        jnp.linalg.det(2 * jnp.pi * COV))


def test_ode_likelihood_equals_the_exact_gaussian_density():
    x0 = MU + jax.random.normal(jax.random.PRNGKey(12), (64, 2)) @ jnp.linalg.cholesky(COV).T
    sigmas = jnp.flip(karras_sigmas(400, sigma_min=1e-3, sigma_max=2000.0)[:-1])
    ll = jax.jit(lambda x: ode.ode_log_likelihood(jax.random.PRNGKey(0), exact_denoiser, x, sigmas,
                                                  exact_trace=True).log_prob)(x0)
    # The prior N(0, sigma_max^2 I) ignores the data mean: an error of about |mu| / sigma_max nats per
    # example (0.02 at sigma_max = 100), hence sigma_max = 2000 here.
    np.testing.assert_allclose(ll, _gaussian_logpdf(x0), atol=0.02)


def test_hutchinson_trace_is_unbiased():
    x0 = MU + jax.random.normal(jax.random.PRNGKey(13), (8, 2))
    sigmas = jnp.flip(karras_sigmas(40, sigma_min=1e-2, sigma_max=50.0)[:-1])
    exact = ode.ode_log_likelihood(jax.random.PRNGKey(0), exact_denoiser, x0, sigmas, exact_trace=True).log_prob
    est = jax.jit(jax.vmap(lambda k: ode.ode_log_likelihood(k, exact_denoiser, x0, sigmas).log_prob))(
        jax.random.split(jax.random.PRNGKey(1), 400))
    se = est.std(0) / np.sqrt(400)
    assert np.all(np.abs(est.mean(0) - exact) < 4 * se + 1e-3)


def test_edm_preconditioning_gives_unit_variance_inputs_and_targets():
    sigma_data = 0.5
    x0 = sigma_data * jax.random.normal(jax.random.PRNGKey(14), (20000, 1))
    for sigma in (0.01, 0.5, 2.0, 80.0):
        c = edm_scalings(jnp.asarray(sigma), sigma_data)
        x = x0 + sigma * jax.random.normal(jax.random.PRNGKey(15), x0.shape)
        target = (x0 - c.c_skip * x) / c.c_out
        assert abs(float(jnp.std(c.c_in * x)) - 1.0) < 0.02
        assert abs(float(jnp.std(target)) - 1.0) < 0.02


def test_guidance_scales_zero_and_one_are_the_unconditional_and_conditional_models():
    def net(x, t, label):
        return x * t[:, None] + label[:, None].astype(jnp.float32)

    x, t, y = jnp.ones((3, 2)), jnp.arange(3.0), jnp.array([0, 1, 2])
    null = 10
    np.testing.assert_allclose(guided(net, 0.0, null)(x, t, y), net(x, t, jnp.full_like(y, null)))
    np.testing.assert_allclose(guided(net, 1.0, null)(x, t, y), net(x, t, y))
    np.testing.assert_allclose(guided(net, 3.0, null)(x, t, y), net(x, t, jnp.full_like(y, null)) + 3.0 * (y - null)[:, None])
