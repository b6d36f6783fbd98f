"""Flows: exact inverses and log-dets of whole models, normalisation, the bits/dim convention,
temperature sampling and maximum likelihood on two moons.

Tolerances (float32): round trips 1e-4 absolute; log-dets 5e-3 absolute of the autodiff Jacobian's;
grid integral of a 2-D density 1 +- 0.005 ([-16, 16]^2, spacing 0.04).
"""

import dataclasses
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

from genjax import training
from genjax.base import Likelihood
from genjax.data import toy
from genjax.models import flows

SMALL = {
    "nice": dataclasses.replace(flows.NICE_DIGITS, data_shape=(4, 4, 1), hidden=(16, 16)),
    "realnvp": dataclasses.replace(
        flows.REALNVP_DIGITS, data_shape=(4, 4, 1), conv_features=8, num_blocks=1
    ),
    "glow": dataclasses.replace(
        flows.REALNVP_DIGITS, data_shape=(4, 4, 1), conv_features=8, num_blocks=1, glow_steps=True
    ),
    "mlp": dataclasses.replace(flows.TOY_2D, num_couplings=4, hidden=(16,)),
    # Three scales: the middle scale squeezes inside the first one's factor_out.
    "realnvp3": dataclasses.replace(
        flows.REALNVP_DIGITS, data_shape=(8, 8, 2), num_scales=3, conv_features=4, num_blocks=1
    ),
}


def _batch(config, key, n=4):
    if config.num_levels is None:
        return {"x": jax.random.normal(key, (n,) + config.data_shape)}
    k = jax.random.randint(key, (n,) + config.data_shape, 0, config.num_levels)
    return {"image": 2.0 * k / (config.num_levels - 1) - 1.0}


def _perturb(key, params, scale=0.2):
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    )


def _trained_like_params(config, seed=0, scale=0.05):
    """Initialised on data, then randomised so that no layer is the identity."""
    model = flows.make_flow(config)
    batch = _batch(config, jax.random.PRNGKey(seed), 16)
    params = jax.jit(model.init)(jax.random.PRNGKey(seed + 1), batch)["params"]
    return _perturb(jax.random.PRNGKey(seed + 2), params, scale), batch


def _round_trip(config, with_jacobian, params, x, key):
    """Everything the round-trip test checks, in one compiled call (compiling a deep flow dominates
    the test time)."""
    flow = flows.make_flow_functions(config)
    z = flow.encode(params, x, key)
    u_back, inv_log_det = flow.bijector.inverse_and_log_det(params, z)
    u = (
        x
        if config.num_levels is None
        else (
            (jnp.round((x + 1) / 2 * (config.num_levels - 1)) + jax.random.uniform(key, x.shape))
            / config.num_levels
        )
    )
    _, log_det = flow.bijector.forward_and_log_det(params, u)

    def flat(v):
        out, _ = flow.bijector.forward_and_log_det(params, v.reshape((1,) + config.data_shape))
        return out.reshape(-1)

    jac = jax.vmap(jax.jacfwd(flat))(u.reshape(u.shape[0], -1)) if with_jacobian else None
    return z, u, u_back, flow.decode(params, z), log_det, inv_log_det, jac


@pytest.mark.parametrize(
    "name, with_jacobian",
    [
        ("mlp", True),
        ("nice", True),
        (
            "realnvp",
            False,
        ),  # its layers' log-dets are checked one by one in tests/test_bijectors.py
        ("realnvp3", False),
        pytest.param("realnvp", True, marks=pytest.mark.slow),
        pytest.param("glow", True, marks=pytest.mark.slow),
    ],
)
def test_whole_model_round_trip_and_log_det(name, with_jacobian):
    config = SMALL[name]
    params, batch = _trained_like_params(config)
    x = batch[config.data_key][:3]
    z, u, u_back, decoded, log_det, inv_log_det, jac = jax.jit(
        functools.partial(_round_trip, config, with_jacobian)
    )(params, x, jax.random.PRNGKey(5))
    chex.assert_shape(z, (3,) + flows.latent_shape(config))
    np.testing.assert_allclose(u_back.reshape(u.shape), u, atol=1e-4)
    # Decoding the code gives the original (grid) input back.
    np.testing.assert_allclose(decoded, x, atol=1e-4)
    np.testing.assert_allclose(inv_log_det, -log_det, atol=5e-3)
    if with_jacobian:
        sign, expected = np.linalg.slogdet(np.asarray(jac, np.float64))
        assert np.all(sign != 0)
        np.testing.assert_allclose(log_det, expected, atol=5e-3)
    if config.num_levels is not None:
        # Samples lie on the data grid.
        k = (np.asarray(decoded) + 1) / 2 * (config.num_levels - 1)
        np.testing.assert_allclose(k, np.round(k), atol=1e-4)


def test_2d_density_integrates_to_one_on_a_grid():
    config = SMALL["mlp"]
    flow = flows.make_flow_functions(config)
    params, _ = _trained_like_params(config, seed=3, scale=0.2)
    side = np.linspace(-16.0, 16.0, 801, dtype=np.float32)
    grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2)
    density = np.exp(np.asarray(jax.jit(flow.score)(params, {}, jnp.asarray(grid))))
    total = density.sum() * (side[1] - side[0]) ** 2
    # The field is not trivial: the density is far from the standard normal prior's.
    prior = scipy.stats.norm.pdf(grid).prod(axis=-1)
    assert np.abs(density - prior).max() > 0.02
    assert abs(total - 1.0) < 0.005, total


def test_nice_at_init_is_the_logistic_prior_on_the_unit_cube():
    # At init the couplings output zero and the scaling is exp(0): f is the identity, so the
    # discrete log-likelihood is sum_i log logistic(u_i) - D log L at the bin centres u.
    config = SMALL["nice"]
    model = flows.make_flow(config)
    flow = flows.make_flow_functions(config)
    batch = _batch(config, jax.random.PRNGKey(0), 5)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), batch)["params"]
    x = batch["image"]
    u = (np.round((np.asarray(x) + 1) / 2 * (config.num_levels - 1)) + 0.5) / config.num_levels
    expected = scipy.stats.logistic.logpdf(u).reshape(5, -1).sum(-1) - config.dim * math.log(
        config.num_levels
    )
    np.testing.assert_allclose(flow.score(params, {}, x), expected, rtol=1e-5)
    # The loss is the mean negative log-likelihood in bits per dimension.
    key = jax.random.PRNGKey(2)
    loss, (metrics, _) = model.loss(params, {}, batch, key)
    lp = model.log_prob(params, {}, batch, key)
    np.testing.assert_allclose(loss, -np.mean(lp) / (config.dim * math.log(2)), rtol=1e-5)
    np.testing.assert_allclose(metrics["nll_nats"], -np.mean(lp), rtol=1e-5)
    assert model.likelihood == Likelihood.EXACT


def test_temperature_scales_the_latents_of_samples():
    config = SMALL["mlp"]
    flow = flows.make_flow_functions(config)
    params, _ = _trained_like_params(config, seed=4, scale=0.3)
    for t in (1.0, 0.5):
        x = jax.jit(flow.sample, static_argnums=3)(params, {}, jax.random.PRNGKey(7), 4000, t)
        z = jax.jit(flow.encode)(params, x, None)
        # std of 8000 standard-normal draws times t is within 5% of t with overwhelming probability.
        np.testing.assert_allclose(np.std(np.asarray(z)), t, rtol=0.05)


def _two_moons(n, seed):
    return np.asarray(toy.sample_toy("two_moons", jax.random.PRNGKey(seed), n))


def test_maximum_likelihood_on_two_moons_beats_a_gaussian():
    train_x, test_x = _two_moons(2000, 0), _two_moons(2000, 1)
    mean, cov = train_x.mean(0), np.cov(train_x.T)
    gaussian = scipy.stats.multivariate_normal(mean, cov).logpdf(test_x).mean()
    config = SMALL["mlp"]
    data = jnp.asarray(train_x)
    state = training.fit(
        flows.make_flow(config),
        optax.adam(3e-3),
        lambda s: {"x": data[(s % 8) * 250 : (s % 8 + 1) * 250]},
        key=jax.random.PRNGKey(0),
        num_steps=400,
        log_every=400,
        checkpoint_every=400,
        progress=False,
    )
    flow_ll = float(
        jnp.mean(flows.make_flow_functions(config).score(state.params, {}, jnp.asarray(test_x)))
    )
    # A Gaussian fitted to two moons gets about -1.9 nats; the flow must beat it by a clear margin.
    assert flow_ll > gaussian + 0.5, (flow_ll, gaussian)


def test_bad_config_and_input_raise():
    with pytest.raises(ValueError, match="architecture"):
        flows.FlowConfig(architecture="glowish")
    with pytest.raises(ValueError, match="prior"):
        flows.FlowConfig(prior="laplace")
    with pytest.raises(ValueError, match="divisible"):
        flows.FlowConfig(data_shape=(6, 6, 1), num_scales=3)
    with pytest.raises(ValueError, match="D must be even"):
        flows.FlowConfig(architecture="mlp", data_shape=(3,), num_levels=None)
    flow = flows.make_flow_functions(SMALL["mlp"])
    with pytest.raises(ValueError, match="shape"):
        flow.score({}, {}, jnp.zeros((2, 3)))
