"""The evaluation average: no share of the initial weights survives, at any run length."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import Model, training
from genjax.models import gan

KEY = jax.random.PRNGKey(0)


def _pull_to_zero() -> Model:
    """``loss = ||p||^2 / 2`` under SGD at rate 1: every step sets the params to 0, so the average
    after n steps is exactly the initial weights times the share of them it still holds."""

    def init(key, batch):
        return {"params": {"w": jnp.ones(3)}, "state": {}}

    def loss(params, state, batch, key):
        return 0.5 * jnp.sum(params["w"] ** 2), ({}, state)

    return Model(init=init, loss=loss, sample=lambda *a: None)


def _share_after(num_steps: int, decay: float, rampup) -> float:
    model = _pull_to_zero()
    state = training.create_train_state(model, optax.sgd(1.0), KEY, {}, ema_decay=decay)
    step = jax.jit(training.make_train_step(model, optax.sgd(1.0), ema_decay=decay, ema_rampup=rampup))
    for _ in range(num_steps):
        state, _ = step(state, {}, KEY)
    np.testing.assert_array_equal(state.params["w"], 0.0)
    return float(state.ema_params["w"][0])


@pytest.mark.parametrize("num_steps", [1, 10, 800])
def test_no_share_of_the_initial_weights_survives(num_steps):
    # Below the cap the decays are 2 ** (-1 / (0.05 t)), so the share is 2 ** (-20 H_n) with H_n the
    # n-th harmonic number: 9.5e-7 after one step, 2.3e-18 after ten, and below float32's range later.
    harmonic = sum(1.0 / t for t in range(1, num_steps + 1))
    want = 2.0 ** (-20.0 * harmonic)
    got = _share_after(num_steps, 0.999, training.EMA_RAMPUP)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-37)
    assert training.initial_weight_share(num_steps, 0.999) == pytest.approx(want, rel=1e-5, abs=1e-300)
    assert got < 1e-6


def test_fixed_decay_keeps_the_initial_weights():
    # What the ramp replaces: 0.999 ** 800 = 45% of the initial weights after the quick budget.
    assert _share_after(800, 0.999, None) == pytest.approx(0.999**800, rel=1e-3)
    assert training.initial_weight_share(800, 0.999, None) == pytest.approx(0.449, abs=1e-3)


def test_decay_reaches_its_cap():
    # The ramp's half-life 0.05 t passes the cap's ln 2 / -ln 0.999 = 692.8 steps at t = 13,856.
    steps = jnp.array([1, 100, 13_000, 14_000, 10**6])
    got = np.asarray(training.ema_decay_at(steps, 0.999))
    want = np.minimum(0.999, 0.5 ** (1.0 / (0.05 * np.array([1, 100, 13_000, 14_000, 10**6], np.float64))))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[-1] == np.float32(0.999) and got[2] < np.float32(0.999)
    assert math.isclose(float(training.ema_decay_at(5, 0.9, None)), 0.9, rel_tol=1e-7)


@pytest.mark.parametrize("decay, rampup, match", [(1.0, 0.05, "decay"), (-0.1, 0.05, "decay"), (0.9, 0.0, "rampup")])
def test_bad_average_settings(decay, rampup, match):
    with pytest.raises(ValueError, match=match):
        training.ema_decay_at(1, decay, rampup)


def test_raw_weights_for_evaluation_drop_the_average():
    model = _pull_to_zero()
    state = training.create_train_state(model, optax.sgd(1.0), KEY, {}, ema_decay=0.9)
    state = state.replace(ema_params={"w": jnp.full(3, 7.0)})
    raw = training.weights_for_evaluation(model, state, "raw", KEY)
    assert raw.ema_params is None and raw.eval_params is state.params
    assert training.weights_for_evaluation(model, state, "ema", KEY) is state  # no state to recompute
    with pytest.raises(ValueError, match="unknown weights 'best'"):
        training.weights_for_evaluation(model, state, "best", KEY)


def _batch_norm_stats(collections, name):
    """The running ``name`` ('mean' or 'var') of a generator's variable collections, layer by layer."""
    layers = jax.tree.leaves(collections, is_leaf=lambda x: isinstance(x, dict) and "mean" in x)
    return [np.asarray(v[name], np.float64) for v in layers]


def test_batch_norm_statistics_belong_to_the_averaged_generator():
    config = gan.DCGAN_DIGITS
    model = gan.make_gan(config)
    batch = {"image": jnp.zeros((8,) + config.data_shape)}
    variables = model.init(KEY, batch)
    trained_params, trained_state = variables["params"], variables["state"]
    # Averaged weights far from the trained ones: the generator's weights scaled and shifted.
    averaged = {**trained_params, "gen": jax.tree.map(lambda w: 1.5 * w + 0.5, trained_params["gen"])}
    gen_net, _ = gan.make_networks(config)

    # Independent truth: one training-mode pass of 16,384 latents from zeroed running statistics
    # moves each to (1 - momentum) times that batch's statistic (flax BatchNorm, momentum 0.9).
    zeroed = jax.tree.map(jnp.zeros_like, trained_state["gen"])
    z = jax.random.normal(jax.random.PRNGKey(5), (16_384, config.latent_dim))
    _, exact = gen_net.apply({"params": averaged["gen"], **zeroed}, z, None, train=True, mutable=["batch_stats"])
    want_means = [m / 0.1 for m in _batch_norm_stats(exact, "mean")]
    sds = [np.sqrt(v / 0.1) for v in _batch_norm_stats(exact, "var")]

    recomputed = model.recompute_state(averaged, trained_state, jax.random.PRNGKey(1))
    got_means, got_vars = (_batch_norm_stats(recomputed["gen"], k) for k in ("mean", "var"))
    stale_vars = _batch_norm_stats(trained_state["gen"], "var")  # what the raw generator was trained with
    assert len(want_means) == len(stale_vars) >= 2
    for got_mean, got_var, want, sd, stale in zip(got_means, got_vars, want_means, sds, stale_vars):
        # The recomputed statistics average about 19 effective batches of 256 latents (times the
        # positions of a layer): a mean's standard error is below 0.015 sd, a variance's below 2%.
        assert np.max(np.abs(got_mean - want) / sd) < 0.1
        np.testing.assert_allclose(got_var, sd**2, rtol=0.1)
        assert np.min(np.abs(stale / sd**2 - 1.0)) > 0.5
    chex.assert_trees_all_equal(recomputed["disc"], trained_state["disc"])

    # Through the training API: the EMA weights get the recomputed state, the raw ones the trained.
    state = training.TrainState(step=jnp.zeros((), jnp.int32), params=trained_params, opt_state=None,
                                model_state=trained_state, ema_params=averaged)
    for_ema = training.weights_for_evaluation(model, state, "ema", jax.random.PRNGKey(1))
    chex.assert_trees_all_close(for_ema.model_state, recomputed)
    assert training.weights_for_evaluation(model, state, "raw", KEY).model_state is trained_state
