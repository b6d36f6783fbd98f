"""RBM against brute-force enumeration (6 visible x 4 hidden) and closed forms."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.losses import cd_surrogate
from genjax.models import rbm

D, H = 6, 4
VS = np.array(list(itertools.product([0, 1], repeat=D)), np.float64)
HS = np.array(list(itertools.product([0, 1], repeat=H)), np.float64)


def _params(scale=1.0, seed=0, d=D, h=H):
    rng = np.random.default_rng(seed)
    return {
        "W": jnp.asarray(rng.normal(0, scale, (d, h)), jnp.float32),
        "b_v": jnp.asarray(rng.normal(0, 1.0, d), jnp.float32),
        "b_h": jnp.asarray(rng.normal(0, 1.0, h), jnp.float32),
    }


def _neg_energy_table(p):
    W, bv, bh = (np.asarray(p[k], np.float64) for k in ("W", "b_v", "b_h"))
    return (
        (VS @ bv)[:, None] + (HS @ bh)[None, :] + VS @ W @ HS.T
    )  # [2^D, 2^H], from the definition


def _logsumexp(x, axis=None):
    return np.logaddexp.reduce(x, axis=axis)


def test_energy_free_energy_and_log_z_match_enumeration():
    p = _params()
    table = _neg_energy_table(p)
    v, h = np.repeat(VS, len(HS), 0), np.tile(HS, (len(VS), 1))
    np.testing.assert_allclose(
        -np.asarray(rbm.energy(p, jnp.asarray(v), jnp.asarray(h))),
        table.ravel(),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(rbm.free_energy(p, jnp.asarray(VS))), -_logsumexp(table, 1), rtol=1e-5, atol=1e-5
    )
    log_z = _logsumexp(table)
    np.testing.assert_allclose(
        _logsumexp(-np.asarray(rbm.free_energy(p, jnp.asarray(VS)), np.float64)), log_z, rtol=1e-6
    )


def test_conditionals_match_enumeration():
    p = _params()
    table = _neg_energy_table(p)
    joint = np.exp(table - _logsumexp(table))
    p_h_given_v = joint / joint.sum(1, keepdims=True)  # [2^D, 2^H]
    p_v_given_h = joint / joint.sum(0, keepdims=True)
    np.testing.assert_allclose(
        p_h_given_v @ HS,
        np.asarray(jax.nn.sigmoid(rbm.hidden_logits(p, jnp.asarray(VS)))),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        p_v_given_h.T @ VS, np.asarray(rbm.visible_mean(p, jnp.asarray(HS))), atol=1e-5
    )
    # The samplers draw from those conditionals (20,000 draws: standard error <= 0.0035).
    v = jnp.broadcast_to(jnp.asarray(VS[37]), (20000, D))
    draws = rbm.sample_hidden(jax.random.PRNGKey(0), p, v)
    np.testing.assert_allclose(np.asarray(draws.mean(0)), p_h_given_v[37] @ HS, atol=0.015)


def _ais_errors(k, p, exact):
    base = rbm.base_logits_from_data(jnp.full((D,), 0.4))
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    log_z, sd = jax.jit(
        jax.vmap(lambda key: rbm.ais_log_z(key, p, base, num_intermediate=k, num_runs=100))
    )(keys)
    rms = float(np.sqrt(np.mean((np.asarray(log_z, np.float64) - exact) ** 2)))
    return rms, float(np.mean(sd))


def test_ais_log_z_matches_enumeration():
    p = _params(scale=1.5)
    exact = _logsumexp(_neg_energy_table(p))
    rms, std = _ais_errors(1000, p, exact)
    # Over six seeds, K=1000 and 100 runs: measured rms ~0.01 nats; the reported std agrees.
    assert rms < 0.05 and std < 0.05, (rms, std, exact)


@pytest.mark.slow  # tests/samplers/test_ais.py checks the same on a closed-form path by default
def test_ais_error_shrinks_with_k():
    p = _params(scale=1.5)
    exact = _logsumexp(_neg_energy_table(p))
    (rms3, std3), (rms1000, std1000) = _ais_errors(3, p, exact), _ais_errors(1000, p, exact)
    assert rms1000 < rms3 / 3 and std1000 < std3 / 3, (rms3, rms1000, std3, std1000)


def test_gaussian_rbm_free_energy_and_ais_against_closed_form():
    # Z = sum_h exp(h.b_h + b_v.W h + ||W h||^2 / 2) (2 pi)^(D/2), integrating the Gaussian over v.
    p = _params(scale=0.5, seed=3)
    W, bv, bh = (np.asarray(p[k], np.float64) for k in ("W", "b_v", "b_h"))
    wh = HS @ W.T
    log_z = _logsumexp(HS @ bh + wh @ bv + 0.5 * np.sum(wh**2, 1)) + 0.5 * D * np.log(2 * np.pi)
    v = np.random.default_rng(1).normal(size=(5, D))
    f_exact = 0.5 * np.sum((v - bv) ** 2, 1) - np.sum(np.logaddexp(0, v @ W + bh), 1)
    np.testing.assert_allclose(
        np.asarray(rbm.free_energy(p, jnp.asarray(v, jnp.float32), "gaussian")), f_exact, rtol=1e-5
    )
    est, std = jax.jit(
        lambda key: rbm.ais_log_z(
            key, p, jnp.zeros(D), num_intermediate=500, num_runs=100, visible="gaussian"
        )
    )(jax.random.PRNGKey(2))
    assert abs(float(est) - log_z) < 0.05 and float(std) < 0.05


def test_surrogate_gradient_is_positive_minus_negative_statistics():
    p = _params(scale=0.3)
    rng = np.random.default_rng(2)
    v = jnp.asarray(rng.integers(0, 2, (16, D)), jnp.float32)
    v_neg = jnp.asarray(rng.integers(0, 2, (12, D)), jnp.float32)
    grads = jax.jit(
        jax.grad(
            lambda q: cd_surrogate(
                rbm.free_energy(q, v), rbm.free_energy(q, jax.lax.stop_gradient(v_neg))
            )
        )
    )(p)
    ph, ph_neg = jax.nn.sigmoid(v @ p["W"] + p["b_h"]), jax.nn.sigmoid(v_neg @ p["W"] + p["b_h"])
    # The CD gradient of the loss -log p: data statistics with a minus sign, model ones with a plus.
    want = {
        "W": -(v.T @ ph) / 16 + (v_neg.T @ ph_neg) / 12,
        "b_v": -v.mean(0) + v_neg.mean(0),
        "b_h": -ph.mean(0) + ph_neg.mean(0),
    }
    chex.assert_trees_all_close(grads, want, atol=1e-6)


def test_gaussian_model_loss_gradient_uses_its_persistent_negatives():
    # Model.loss of a Gaussian-Bernoulli PCD RBM: the returned chains are the negatives, and the
    # gradient must be the Gaussian positive-minus-negative statistics computed from them.
    config = rbm.RBMConfig(image_shape=(3, 2, 1), num_hidden=H, visible="gaussian", num_chains=7)
    model = rbm.make_rbm(config)
    x = jax.random.normal(jax.random.PRNGKey(0), (9, 3, 2, 1))
    variables = model.init(jax.random.PRNGKey(1), {"image": x})
    params, state = variables["params"], variables["state"]
    params = {**params, "W": params["W"] + 0.3}

    def loss(q):
        return model.loss(q, state, {"image": x}, jax.random.PRNGKey(2))

    (_, (metrics, new_state)), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    v, v_neg = x.reshape(9, -1), new_state["chains"]
    assert not np.allclose(v_neg, state["chains"]) and "pseudo_log_likelihood" not in metrics
    ph = jax.nn.sigmoid(v @ params["W"] + params["b_h"])
    ph_neg = jax.nn.sigmoid(v_neg @ params["W"] + params["b_h"])
    want = {
        "W": -(v.T @ ph) / 9 + (v_neg.T @ ph_neg) / 7,
        "b_v": -jnp.mean(v - params["b_v"], 0) + jnp.mean(v_neg - params["b_v"], 0),
        "b_h": -ph.mean(0) + ph_neg.mean(0),
    }
    chex.assert_trees_all_close(grads, want, atol=1e-5)


def test_turning_training_metrics_off_changes_nothing_but_the_metrics():
    x = (jax.random.uniform(jax.random.PRNGKey(0), (9, 3, 2, 1)) < 0.4).astype(jnp.float32)
    outs = []
    for train_metrics in (True, False):
        config = rbm.RBMConfig(image_shape=(3, 2, 1), num_hidden=H, num_chains=7, train_metrics=train_metrics)
        model = rbm.make_rbm(config)
        variables = model.init(jax.random.PRNGKey(1), {"image": x})

        def loss(q, model=model, state=variables["state"]):
            return model.loss(q, state, {"image": x}, jax.random.PRNGKey(2))

        outs.append(jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"]))
    (value_on, (metrics_on, state_on)), grads_on = outs[0]
    (value_off, (metrics_off, state_off)), grads_off = outs[1]
    assert set(metrics_on) == {"recon_error", "pseudo_log_likelihood"} and metrics_off == {}
    chex.assert_trees_all_equal((value_on, state_on, grads_on), (value_off, state_off, grads_off))


def test_pseudo_likelihood_and_reconstruction_against_direct_formulas():
    p = _params()
    v = jnp.asarray(VS[[3, 20, 63]], jnp.float32)
    # Averaging the one-flip estimate over many keys gives the exact pseudo-likelihood.
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    pll = np.mean(np.asarray(jax.vmap(lambda k: rbm.pseudo_log_likelihood(k, p, v))(keys)), 0)
    table = _neg_energy_table(p)
    log_pv = _logsumexp(table, 1)
    exact = []
    for i in (3, 20, 63):
        total = 0.0
        for d in range(D):
            j = i ^ (1 << (D - 1 - d))
            total += log_pv[i] - np.logaddexp(log_pv[i], log_pv[j])
        exact.append(total)
    np.testing.assert_allclose(pll, exact, rtol=0.05)
    recon = jax.nn.sigmoid((jax.nn.sigmoid(v @ p["W"] + p["b_h"])) @ p["W"].T + p["b_v"])
    np.testing.assert_allclose(
        rbm.reconstruction_error(p, v), np.sum((v - recon) ** 2, 1), rtol=1e-6
    )


def _mixture_data(n=4096):
    # Two prototypes (000111 and 111000) with each unit flipped with probability 0.1: strongly
    # correlated units, so the independent-units model the training starts from is far off.
    protos = np.array([[0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0]], np.float64)
    flips = np.abs(VS[None, :, :] - protos[:, None, :]).sum(-1)  # [2, 2^D]
    p_target = 0.5 * np.sum(0.1**flips * 0.9 ** (D - flips), 0)
    idx = np.random.default_rng(0).choice(len(VS), size=n, p=p_target)
    return VS[idx].astype(np.float32).reshape(n, 2, 3, 1), p_target


def _kl(p_data, params):
    table = _neg_energy_table(params)
    log_q = _logsumexp(table, 1) - _logsumexp(table)
    return float(np.sum(p_data * (np.log(p_data + 1e-12) - log_q)))


@pytest.mark.parametrize("persistent", [True, False])
def test_training_through_the_common_step_lowers_the_exact_kl(persistent):
    data, p_target = _mixture_data()
    config = rbm.RBMConfig(
        image_shape=(2, 3, 1), num_hidden=H, persistent=persistent, num_chains=64, cd_steps=1
    )
    model = rbm.make_rbm(config)
    # A decaying learning rate: with a constant one, PCD's chains stop mixing as the weights grow
    # and the fit oscillates (measured KL 0.02 .. 1.0 between steps 200 and 800).
    optimizer = optax.chain(
        optax.add_decayed_weights(1e-4),
        optax.sgd(optax.linear_schedule(0.1, 0.0, 400), momentum=0.5),
    )
    batches = lambda s: {"image": jnp.asarray(data[(s % 64) * 64 : (s % 64 + 1) * 64])}
    state = training.create_train_state(model, optimizer, jax.random.PRNGKey(0), batches(0))
    kl0 = _kl(p_target, state.params)
    step = training.compile_step(training.make_train_step(model, optimizer), "jit")
    key = jax.random.PRNGKey(1)
    for s in range(400):
        state, metrics = step(state, batches(s), key)
    kl1 = _kl(p_target, state.params)
    # Measured: KL from 1.5 nats at the start to 0.04 (PCD) and 0.07 (CD-1) after 400 steps.
    assert kl0 > 1.0 and kl1 < 0.1 * kl0, (kl0, kl1)
    assert (
        np.isfinite(float(metrics["pseudo_log_likelihood"])) and float(metrics["recon_error"]) > 0
    )
    if persistent:
        chex.assert_shape(state.model_state["chains"], (64, D))


def test_persistent_chains_survive_a_checkpoint_round_trip(tmp_path):
    data, _ = _mixture_data(128)
    config = rbm.RBMConfig(image_shape=(2, 3, 1), num_hidden=H, num_chains=32)
    model = rbm.make_rbm(config)
    optimizer = optax.sgd(0.05, momentum=0.5)
    batch = {"image": jnp.asarray(data[:64])}
    state = training.create_train_state(model, optimizer, jax.random.PRNGKey(0), batch)
    step = training.compile_step(training.make_train_step(model, optimizer), "jit", donate=False)
    key = jax.random.PRNGKey(3)
    for _ in range(5):
        state, _ = step(state, batch, key)
    ckpt = training.Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(state, {"model": "rbm"})
    fresh = training.create_train_state(model, optimizer, jax.random.PRNGKey(9), batch)
    restored, _ = ckpt.restore(fresh)
    ckpt.close()
    chex.assert_trees_all_equal(restored.model_state, state.model_state)
    assert not np.array_equal(
        np.asarray(fresh.model_state["chains"]), np.asarray(state.model_state["chains"])
    )
    # The next step continues the same chains from the restored state.
    chex.assert_trees_all_equal(
        step(restored, batch, key)[0].model_state, step(state, batch, key)[0].model_state
    )


def test_model_sample_and_log_prob():
    data, _ = _mixture_data(256)
    config = rbm.RBMConfig(
        image_shape=(2, 3, 1), num_hidden=H, sample_steps=50, ais_intermediate=1000, ais_runs=100
    )
    model = rbm.make_rbm(config)
    p = _params(scale=1.5, seed=5)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), {"image": jnp.asarray(data)})
    x = jax.jit(model.sample, static_argnums=3)(p, variables["state"], jax.random.PRNGKey(1), 4000)
    chex.assert_shape(x, (4000, 2, 3, 1))
    counts = np.bincount(
        np.asarray(x).reshape(-1, D).astype(int) @ (2 ** np.arange(D - 1, -1, -1)), minlength=2**D
    )
    table = _neg_energy_table(p)
    log_pv = _logsumexp(table, 1) - _logsumexp(table)
    assert 0.5 * np.abs(counts / counts.sum() - np.exp(log_pv)).sum() < 0.06
    lp = jax.jit(model.log_prob)(
        p,
        variables["state"],
        {"image": jnp.asarray(VS[:5].reshape(5, 2, 3, 1), jnp.float32)},
        jax.random.PRNGKey(2),
    )
    np.testing.assert_allclose(np.asarray(lp), log_pv[:5], atol=0.05)
    assert model.likelihood == rbm.Likelihood.ESTIMATE


def test_sample_chain_from_a_seed_reaches_the_exact_distribution_and_means_average_to_e_v():
    p = _params(scale=1.5, seed=5)
    c = 4000
    v0 = jnp.ones((c, D))  # every chain seeded with the all-ones image
    run = jax.jit(
        lambda k, mean: rbm.sample_chain(k, p, v0, 40, 20, mean=mean), static_argnums=1
    )
    frames, means = run(jax.random.PRNGKey(0), False), run(jax.random.PRNGKey(0), True)
    chex.assert_shape((frames, means), (c, 2, D))
    table = _neg_energy_table(p)
    p_v = np.exp(_logsumexp(table, 1) - _logsumexp(table))
    counts = np.bincount(
        np.asarray(frames[:, -1]).astype(int) @ (2 ** np.arange(D - 1, -1, -1)), minlength=2**D
    )
    # 4,000 independent draws over 64 states: sampling TV ~ 0.04.
    assert 0.5 * np.abs(counts / c - p_v).sum() < 0.07
    # The means E[v | h] of the same chains (same keys) average to E[v] (Rao-Blackwell), and each
    # binary frame is a draw from its mean: standard errors <= 0.008 per unit.
    e_v = p_v @ VS
    np.testing.assert_allclose(np.asarray(means[:, -1]).mean(0), e_v, atol=0.025)
    np.testing.assert_allclose(np.asarray(frames[:, -1] - means[:, -1]).mean(0), 0.0, atol=0.025)
    assert np.all((np.asarray(means) > 0) & (np.asarray(means) < 1))
    with pytest.raises(ValueError, match="v0 must be \\[C, 6\\]"):
        rbm.sample_chain(jax.random.PRNGKey(0), p, jnp.ones((2, 3, 2)), 4, 2)


def test_bad_config_and_bad_batch_raise():
    with pytest.raises(ValueError, match="visible must be one of"):
        rbm.RBMConfig(visible="poisson")
    with pytest.raises(ValueError, match="num_hidden"):
        rbm.RBMConfig(num_hidden=0)
    model = rbm.make_rbm(rbm.RBMConfig(image_shape=(2, 3, 1), num_hidden=H))
    with pytest.raises(ValueError, match="batch\\['image'\\] has shape"):
        model.init(jax.random.PRNGKey(0), {"image": jnp.zeros((4, 8, 8, 1))})
