"""Discrete-time diffusion samplers driven by the exact noise prediction of Gaussian data (Ho et al.,
2020; Song et al., 2021): every sampler must reproduce the data's mean and covariance."""

import os
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.diffusion import q_sample
from genjax.samplers import diffusion as dsamp
from genjax.samplers.schedules import cosine_schedule, edm_scalings, karras_sigmas, linear_schedule

sys.path.insert(0, os.path.dirname(__file__))
from _diffusion_target import COV, MU, TOL, N, check_moments, data, exact_eps, white_noise  # noqa: E402


def test_forward_marginals_match_the_closed_form():
    s = linear_schedule(1000)
    t = jnp.full((N,), 300, jnp.int32)
    xt, _ = q_sample(jax.random.PRNGKey(1), data(jax.random.PRNGKey(0), N), t, s.alphas_cumprod)
    a = float(s.alphas_cumprod[300])
    np.testing.assert_allclose(np.asarray(xt).mean(0), np.sqrt(a) * MU, atol=TOL)
    np.testing.assert_allclose(
        np.cov(np.asarray(xt), rowvar=False), a * COV + (1 - a) * np.eye(2), atol=TOL
    )


def test_schedules_match_their_definitions():
    lin, cos = linear_schedule(1000), cosine_schedule(1000)
    np.testing.assert_allclose(
        lin.alphas_cumprod, np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)), rtol=1e-5
    )
    f = lambda t: np.cos((t / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2
    np.testing.assert_allclose(cos.alphas_cumprod[:900], f(np.arange(1, 901)) / f(0), rtol=1e-4)
    s = karras_sigmas(18)
    np.testing.assert_allclose([s[0], s[-2], s[-1]], [80.0, 0.002, 0.0], rtol=1e-5)
    assert bool(jnp.all(jnp.diff(s) < 0))
    with pytest.raises(ValueError, match="num_steps"):
        karras_sigmas(0)


def test_ddpm_1000_steps_reproduces_the_gaussian():
    s = linear_schedule(1000)
    x_T = jax.random.normal(jax.random.PRNGKey(2), (N, 2))
    check_moments(
        jax.jit(lambda k: dsamp.sample_ddpm(k, exact_eps(s), x_T, s))(jax.random.PRNGKey(3))
    )


def test_ddim_50_steps_is_deterministic_and_reproduces_the_gaussian():
    s = cosine_schedule(1000)
    x_T = white_noise(jax.random.PRNGKey(4))
    run = jax.jit(lambda k: dsamp.sample_ddim(k, exact_eps(s), x_T, s, 50))
    a, b = run(jax.random.PRNGKey(5)), run(jax.random.PRNGKey(6))
    chex.assert_trees_all_equal(a, b)
    check_moments(a)


def test_ddim_with_eta_one_is_stochastic_and_reproduces_the_gaussian():
    s = linear_schedule(1000)
    x_T = jax.random.normal(jax.random.PRNGKey(4), (N, 2))
    run = jax.jit(lambda k: dsamp.sample_ddim(k, exact_eps(s), x_T, s, 100, eta=1.0))
    a, b = run(jax.random.PRNGKey(5)), run(jax.random.PRNGKey(6))
    assert float(jnp.abs(a - b).mean()) > 0.1
    check_moments(a)


def test_ddim_inversion_then_sampling_returns_the_input():
    s = cosine_schedule(1000)
    x0 = data(jax.random.PRNGKey(7), 256)
    eps = exact_eps(s)
    x_T = jax.jit(lambda x: dsamp.ddim_invert(eps, x, s, 200))(x0)
    back = jax.jit(lambda x: dsamp.sample_ddim(jax.random.PRNGKey(0), eps, x, s, 200))(x_T)
    # First-order inversion: the error shrinks with the number of steps (0.01 at 200 steps).
    np.testing.assert_allclose(back, x0, atol=0.05)
    np.testing.assert_allclose(np.cov(np.asarray(x_T), rowvar=False), np.eye(2), atol=0.25)


def test_trajectory_and_unroll_leave_the_result_unchanged():
    s = linear_schedule(100)
    x_T = jax.random.normal(jax.random.PRNGKey(2), (16, 2))
    x, traj = jax.jit(lambda k: dsamp.sample_ddpm(k, exact_eps(s), x_T, s, return_trajectory=True))(
        jax.random.PRNGKey(3)
    )
    x4 = jax.jit(lambda k: dsamp.sample_ddpm(k, exact_eps(s), x_T, s, unroll=4))(
        jax.random.PRNGKey(3)
    )
    chex.assert_shape(traj, (100, 16, 2))
    np.testing.assert_allclose(traj[-1], x)
    np.testing.assert_allclose(x4, x, atol=1e-5)
    with pytest.raises(ValueError, match="num_steps"):
        dsamp.sample_ddim(jax.random.PRNGKey(0), exact_eps(s), x_T, s, 101)


def test_edm_preconditioning_gives_unit_variance_inputs_and_targets():
    sigma_data = 0.5
    x0 = sigma_data * jax.random.normal(jax.random.PRNGKey(14), (20000, 1))
    for sigma in (0.01, 0.5, 2.0, 80.0):
        c = edm_scalings(jnp.asarray(sigma), sigma_data)
        x = x0 + sigma * jax.random.normal(jax.random.PRNGKey(15), x0.shape)
        target = (x0 - c.c_skip * x) / c.c_out
        # 20,000 draws: the standard error of a standard deviation is 0.005.
        assert abs(float(jnp.std(c.c_in * x)) - 1.0) < 0.02
        assert abs(float(jnp.std(target)) - 1.0) < 0.02
