"""Flow matching on the linear path against Gaussian data N(MU, diag S^2), whose optimal velocity is
known in closed form: ``x_t = (1 - t) x0 + t x1`` is Gaussian jointly with ``u = x1 - x0``, so

    v*(x, t) = E[u | x_t = x] = -MU + (t - (1 - t) S^2) / V(t) (x - (1 - t) MU),
    V(t) = (1 - t)^2 S^2 + t^2,

the flow it generates maps noise ``z`` at ``t = 1`` to ``MU + S z`` at ``t = 0`` (affine per
dimension), and the minimum of the loss at ``t`` is ``sum_d Var(u_d | x_t) = sum_d S_d^2 / V_d(t)``.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.integrate
import scipy.stats

from genjax import Model, training
from genjax.models import flow_matching as fm
from genjax.samplers import ode

MU = np.array([1.0, -0.5, 0.3], np.float32)
S = np.array([0.5, 1.5, 1.0], np.float32)
VECTOR = fm.FlowMatchingConfig(data_shape=(3,), network="mlp", levels=0)


def optimal_velocity(x, t):
    """``v*(x, t)`` for ``x`` [B, 3] and ``t`` a scalar or float [B]."""
    t = jnp.reshape(jnp.asarray(t, jnp.float32), (-1, 1))
    var = (1 - t) ** 2 * S**2 + t**2
    return -MU + (t - (1 - t) * S**2) / var * (x - (1 - t) * MU)


def _min_loss_at(t: float) -> float:
    return float(np.sum(S.astype(np.float64) ** 2 / ((1 - t) ** 2 * S.astype(np.float64) ** 2 + t**2)))


def _data(key, n):
    return MU + S * jax.random.normal(key, (n, 3))


@pytest.mark.parametrize("time_sampling", fm.TIME_SAMPLINGS)
def test_the_optimal_velocity_minimises_the_loss_at_its_analytic_value(time_sampling):
    config = fm.FlowMatchingConfig(
        data_shape=(3,), network="mlp", levels=0, time_sampling=time_sampling, logit_std=0.8
    )
    if time_sampling == "uniform":
        density = lambda t: 1.0
    else:  # sigmoid(N(0, 0.8^2)): the density of the logit, times its Jacobian
        density = lambda t: scipy.stats.norm.pdf(np.log(t / (1 - t)), 0.0, 0.8) / (t * (1 - t))
    analytic = scipy.integrate.quad(lambda t: density(t) * _min_loss_at(t), 0.0, 1.0)[0]
    n = 200_000
    x0 = _data(jax.random.PRNGKey(0), n)
    key = jax.random.PRNGKey(1)  # the same times and noise for every field (common random numbers)
    losses = np.asarray(fm.flow_matching_loss(key, optimal_velocity, x0, config), np.float64)
    se = losses.std() / np.sqrt(n)
    # Tolerance: 4 standard errors of the Monte Carlo mean (about 0.005 here).
    assert abs(losses.mean() - analytic) < 4 * se, (losses.mean(), analytic, se)
    perturbed = {
        "offset": lambda x, t: optimal_velocity(x, t) + 0.1,
        "scaled": lambda x, t: 1.05 * optimal_velocity(x, t),
        "time-shifted": lambda x, t: optimal_velocity(x, jnp.clip(t + 0.05, 0.0, 1.0)),
    }
    for name, field in perturbed.items():
        # Paired with the optimum's losses on the same draws: the excess E||v - v*||^2 > 0 stands
        # out from the noise of the cross term 2 E[(v - v*)(v* - u)], whose mean is 0.
        excess = np.asarray(fm.flow_matching_loss(key, field, x0, config), np.float64) - losses
        assert excess.mean() > 4 * excess.std() / np.sqrt(n), name


def test_sampling_the_optimal_field_maps_noise_to_the_data_distribution():
    z = jax.random.normal(jax.random.PRNGKey(2), (8, 3))
    truth = MU + S * z  # the flow's endpoint of each noise vector, in closed form
    errors = {}
    for method in ("euler", "midpoint", "heun"):
        errors[method] = [
            float(jnp.abs(fm.generate(optimal_velocity, z, steps, method=method) - truth).max())
            for steps in (16, 32, 64)
        ]
    # Measured max errors at 16 / 32 / 64 steps: Euler 0.22 / 0.11 / 0.057 (first order: halves),
    # Heun 3.0e-3 / 6.7e-4 / 1.6e-4 (second order: quarters), midpoint 1.1e-4 / 1.4e-5 / 1.9e-6 (at
    # least second order; on this field its leading error term nearly cancels).
    for a, b in zip(errors["euler"], errors["euler"][1:]):
        assert 1.6 < a / b < 2.4
    for a, b in zip(errors["heun"], errors["heun"][1:]):
        assert 3.0 < a / b < 5.0
    assert errors["midpoint"][0] / errors["midpoint"][1] > 3.0
    assert errors["euler"][-1] < 0.07 and errors["heun"][-1] < 3e-4 and errors["midpoint"][-1] < 1e-5
    # Moments of many samples (noise standardised per dimension, so only the solver's error is left):
    # Heun at 18 steps (the sampler of the comparison): measured within 0.0013, checked to 0.005.
    noise = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (20_000, 3)), np.float64)
    noise = jnp.asarray((noise - noise.mean(0)) / noise.std(0), jnp.float32)
    x = np.asarray(jax.jit(lambda w: fm.generate(optimal_velocity, w, 18))(noise))
    np.testing.assert_allclose(x.mean(0), MU, atol=5e-3)
    np.testing.assert_allclose(x.std(0), S, atol=5e-3)


def test_the_ode_likelihood_of_the_optimal_field_is_the_gaussian_density():
    x0 = _data(jax.random.PRNGKey(4), 16)
    truth = scipy.stats.norm.logpdf(np.asarray(x0), MU, S).sum(-1)
    out = jax.jit(
        lambda x: fm.field_likelihood(
            jax.random.PRNGKey(0), optimal_velocity, x, 64, exact_trace=True, error_estimate=True
        )
    )(x0)
    # Heun at 64 steps: measured max error 8.1e-4 nats, its Richardson estimate 8.6e-4 (at 16 steps
    # 0.015 and 0.017). The adaptive Dormand-Prince reference: 5e-5 with 37 evaluations.
    np.testing.assert_allclose(out.log_prob, truth, atol=2e-3)
    assert float(jnp.max(jnp.abs(out.error))) < 2e-3 and int(out.nfe[0]) == 3 * 64
    ref = jax.jit(
        lambda x: ode.field_log_likelihood_adaptive(
            jax.random.PRNGKey(0), optimal_velocity, x, 0.0, 1.0, exact_trace=True
        )
    )(x0)
    np.testing.assert_allclose(ref.log_prob, truth, atol=1e-4)
    # Hutchinson's trace (one Rademacher probe per solve) averages to the exact one.
    est = jax.jit(
        jax.vmap(lambda k: fm.field_likelihood(k, optimal_velocity, x0, 64).log_prob)
    )(jax.random.split(jax.random.PRNGKey(5), 200))
    se = est.std(0) / np.sqrt(200)
    assert np.all(np.abs(est.mean(0) - truth) < 4 * se + 2e-3)


def test_model_log_prob_adds_the_dequantization_offset_of_discrete_data():
    config = fm.FlowMatchingConfig(data_shape=(3,), network="mlp", levels=5, likelihood_steps=4)
    model = fm.make_flow_matching(config)
    batch = {"x": jnp.zeros((4, 3))}
    variables = model.init(jax.random.PRNGKey(0), batch)
    # At init the MLP's last layer is zero: v = 0, the flow is the identity and log p is the
    # standard normal density of the dequantized point plus 3 log(bin width 0.5).
    out = jax.jit(lambda p: fm.ode_likelihood(config, p, batch, jax.random.PRNGKey(1)))(
        variables["params"]
    )
    k_u, _ = jax.random.split(jax.random.PRNGKey(1))
    y = 0.5 * (jax.random.uniform(k_u, (4, 3)) - 0.5)
    want = scipy.stats.norm.logpdf(np.asarray(y)).sum(-1) + 3 * np.log(0.5)
    np.testing.assert_allclose(out.log_prob, want, rtol=1e-5)


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="time_sampling"):
        fm.FlowMatchingConfig(time_sampling="beta")
    with pytest.raises(ValueError, match="sampler"):
        fm.FlowMatchingConfig(sampler="rk4")
    with pytest.raises(ValueError, match="likelihood_steps must be even"):
        fm.FlowMatchingConfig(likelihood_steps=15)
    with pytest.raises(ValueError, match="ODE method"):
        ode.solve(optimal_velocity, jnp.zeros((1, 3)), jnp.linspace(0, 1, 3), method="rk4")


def _shards_model(model: Model, devices: int) -> Model:
    """The model whose loss on a batch is the mean of ``model.loss`` over ``devices`` shards, each
    with the key ``fold_in(key, shard)``: what a pmap step computes with per-device keys."""

    def loss(params, state, batch, key):
        shards = jax.tree.map(lambda a: a.reshape((devices, -1) + a.shape[1:]), batch)
        keys = jax.vmap(lambda d: jax.random.fold_in(key, d))(jnp.arange(devices))
        values, (metrics, _) = jax.vmap(lambda b, k: model.loss(params, state, b, k))(shards, keys)
        return jnp.mean(values), (jax.tree.map(jnp.mean, metrics), state)

    return model._replace(loss=loss)


def _ramps() -> dict:
    """Eight 8x8 images: horizontal and vertical ramps of either sign and two contrasts, on the 17
    levels of the digits."""
    rows = jnp.linspace(-1.0, 1.0, 8)
    ramps = jnp.stack([rows[:, None] * jnp.ones((8, 8)), rows[None, :] * jnp.ones((8, 8))])
    images = jnp.round(jnp.concatenate([ramps, -ramps, 0.5 * ramps, -0.5 * ramps]) * 8) / 8
    return {"image": images[..., None], "label": jnp.zeros((8,), jnp.int32)}


@pytest.mark.parametrize(
    "network",
    # The UNet's compiles (jit, pmap) take minutes on the shared 2-core machine: slow suite.
    ["mlp", pytest.param("unet", marks=pytest.mark.slow)],
)
def test_a_tiny_network_trains_under_jit_and_a_pmap_step_agrees(network):
    if network == "unet":
        config = fm.FlowMatchingConfig(base_channels=8, channel_mults=(1,), levels=17)
        batch = _ramps()
    else:
        config = fm.FlowMatchingConfig(data_shape=(3,), network="mlp", mlp_hidden=32, levels=0)
        batch = {"x": _data(jax.random.PRNGKey(6), 8)}
    model = fm.make_flow_matching(config)
    key = jax.random.PRNGKey(0)
    optimizer = optax.adam(1e-2)
    state = training.create_train_state(model, optimizer, key, batch)
    probe = jax.jit(lambda p: model.loss(p, {}, batch, jax.random.PRNGKey(7))[0])
    step = chex.assert_max_traces(training.make_train_step(model, optimizer), n=1)
    jit_step = training.compile_step(step, "jit", donate=False)
    before = float(probe(state.params))
    trained = state
    for _ in range(20):
        trained, metrics = jit_step(trained, batch, key)
    assert np.isfinite(float(metrics["loss"]))
    after = float(probe(trained.params))
    assert after < 0.8 * before, (before, after)
    # One pmap step over the 4 devices equals one jit step of the same loss on the same shards
    # and per-device keys.
    n = jax.local_device_count()
    if n < 2 or 8 % n:
        pytest.skip("the pmap check needs 2, 4 or 8 devices")
    pmap_step = training.compile_step(
        training.make_train_step(model, optimizer, axis_name="batch"), "pmap", donate=False
    )
    sharded = jax.tree.map(lambda a: a.reshape((n, -1) + a.shape[1:]), batch)
    got, got_metrics = pmap_step(training.replicate(state), sharded, key)
    got, got_metrics = training.unreplicate(got), training.unreplicate(got_metrics)
    want, want_metrics = training.compile_step(
        training.make_train_step(_shards_model(model, n), optimizer), "jit", donate=False
    )(state, batch, key)
    chex.assert_trees_all_close(got.params, want.params, rtol=1e-4, atol=1e-6)
    chex.assert_trees_all_close(got_metrics["loss"], want_metrics["loss"], rtol=1e-5)
