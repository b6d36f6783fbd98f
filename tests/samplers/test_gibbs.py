"""Block Gibbs chains against exact enumeration of a small RBM's p(v)."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers import gibbs

D, H = 6, 4


def _rbm():
    rng = np.random.default_rng(0)
    return {
        "W": jnp.asarray(rng.normal(0, 1.2, (D, H)), jnp.float32),
        "b_v": jnp.asarray(rng.normal(0, 1.0, D), jnp.float32),
        "b_h": jnp.asarray(rng.normal(0, 1.0, H), jnp.float32),
    }


def _conditionals(p):
    # Written here, independently of genjax.models.rbm, from the energy -v.b_v - h.b_h - v W h.
    return (
        lambda key, layers: gibbs.bernoulli(key, layers[1] @ p["W"].T + p["b_v"]),
        lambda key, layers: gibbs.bernoulli(key, layers[0] @ p["W"] + p["b_h"]),
    )


def _exact_pv(p):
    vs = np.array(list(itertools.product([0, 1], repeat=D)), np.float64)
    hs = np.array(list(itertools.product([0, 1], repeat=H)), np.float64)
    W, bv, bh = (np.asarray(p[k], np.float64) for k in ("W", "b_v", "b_h"))
    neg_e = (vs @ bv)[:, None] + (hs @ bh)[None, :] + vs @ W @ hs.T  # [2^D, 2^H]
    log_pv = np.logaddexp.reduce(neg_e, axis=1)
    return np.exp(log_pv - np.logaddexp.reduce(log_pv))


def _index(v):
    return np.asarray(v, np.int64) @ (2 ** np.arange(D - 1, -1, -1))


def _tv(samples, p):
    counts = np.bincount(_index(samples.reshape(-1, D)), minlength=2**D)
    return 0.5 * np.abs(counts / counts.sum() - p).sum()


def test_chains_from_noise_reach_the_exact_distribution():
    p = _rbm()
    pv = _exact_pv(p)
    c = 2000
    v0 = gibbs.noise_init(jax.random.PRNGKey(1), c, (D,))
    layers = (v0, jnp.zeros((c, H)))
    run = jax.jit(
        lambda key, layers: gibbs.run_chains(
            key, layers, _conditionals(p), 40, burn_in=30, thin=4, trace_fn=lambda s: s[0]
        )
    )
    (v_final, _), trace = run(jax.random.PRNGKey(2), layers)
    chex.assert_shape(trace, (c, 10, D))
    # 20,000 draws (10 per chain, 4 sweeps apart) over 64 states: the sampling error of the TV is
    # about 0.4 * sum(sqrt(p)) / sqrt(N) ~ 0.02; the starting (uniform) distribution is far away.
    assert _tv(np.asarray(trace), pv) < 0.045
    assert _tv(np.asarray(v0), pv) > 0.3
    assert set(np.unique(np.asarray(v_final))) <= {0.0, 1.0}


def test_batched_block_update_samples_the_same_distribution():
    # The same (batch-agnostic) conditionals on [C, n] layers: one key per sweep for all chains.
    p = _rbm()
    pv = _exact_pv(p)
    c = 2000
    layers = (gibbs.noise_init(jax.random.PRNGKey(1), c, (D,)), jnp.zeros((c, H)))
    run = jax.jit(
        lambda key: gibbs.run_chain(
            key, layers, _conditionals(p), 40, burn_in=30, thin=4, trace_fn=lambda s: s[0]
        )[1]
    )
    assert _tv(np.asarray(run(jax.random.PRNGKey(2))), pv) < 0.045


def test_seeded_chains_start_at_the_given_images_and_forget_them():
    p = _rbm()
    pv = _exact_pv(p)
    seed = jnp.ones((3000, D))
    run = jax.jit(
        lambda key: gibbs.run_chains(
            key, (seed, jnp.zeros((3000, H))), _conditionals(p), 60, trace_fn=lambda s: s[0]
        )[1]
    )
    trace = run(jax.random.PRNGKey(3))
    v1, vn = trace[:, 0], trace[:, -1]
    # After one sweep the chains still remember the seed (the all-ones image); after 60 they do not.
    assert _tv(np.asarray(v1), pv) > 2 * _tv(np.asarray(vn), pv)
    assert _tv(np.asarray(vn), pv) < 0.06


def test_pmap_over_devices_reproduces_the_vmapped_chains():
    n_dev = jax.local_device_count()
    if n_dev < 2:  # conftest forces 4 CPU devices; a one-GPU machine has one
        pytest.skip("the data-parallel path needs 2 or more devices")
    p = _rbm()
    c = 64
    keys = jax.random.split(jax.random.PRNGKey(4), c)
    v0 = gibbs.marginal_init(jax.random.PRNGKey(5), c, jnp.full((D,), 0.3))
    layers = (v0, jnp.zeros((c, H)))
    one = lambda k, li: gibbs.run_chain(k, li, _conditionals(p), 20, trace_fn=lambda s: s[0])
    ref = jax.jit(jax.vmap(one))(keys, layers)
    split = lambda x: x.reshape((n_dev, c // n_dev) + x.shape[1:])
    out = jax.pmap(jax.vmap(one))(split(keys), jax.tree.map(split, layers))
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x.reshape((c,) + x.shape[2:]), out), ref)


def test_schedule_and_validation():
    assert gibbs.alternating_schedule(2) == ((1,), (0,))
    assert gibbs.alternating_schedule(4) == ((1, 3), (0, 2))
    with pytest.raises(ValueError, match="at least 2 layers"):
        gibbs.alternating_schedule(1)
    p = _rbm()
    with pytest.raises(ValueError, match="one conditional per layer"):
        gibbs.run_chain(jax.random.PRNGKey(0), (jnp.zeros(D),), _conditionals(p), 2)
    with pytest.raises(ValueError, match="names a layer"):
        gibbs.run_chain(
            jax.random.PRNGKey(0),
            (jnp.zeros(D), jnp.zeros(H)),
            _conditionals(p),
            2,
            schedule=((2,),),
        )


def test_sweep_updates_each_group_from_the_current_state():
    # Layer 1 copies layer 0, layer 0 becomes 1 - layer 1: with schedule ((1,), (0,)) one sweep maps
    # (a, _) -> (1 - a, a); the order matters, so a wrong implementation gives another result.
    conds = (lambda k, li: 1.0 - li[1], lambda k, li: li[0])
    out = gibbs.gibbs_sweep(
        jax.random.PRNGKey(0), (jnp.array([1.0, 0.0]), jnp.zeros(2)), conds, ((1,), (0,))
    )
    np.testing.assert_array_equal(out[0], [0.0, 1.0])
    np.testing.assert_array_equal(out[1], [1.0, 0.0])
