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


# sample_chain on a 4 x 3 RBM, small enough to enumerate the one-sweep transition kernel exactly.
D4, H3 = 4, 3
V4 = np.array(list(itertools.product([0, 1], repeat=D4)), np.float64)
H3S = np.array(list(itertools.product([0, 1], repeat=H3)), np.float64)


def _rbm43(scale=2.5, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "W": jnp.asarray(rng.normal(0, scale, (D4, H3)), jnp.float32),
        "b_v": jnp.asarray(rng.normal(0, 1.0, D4), jnp.float32),
        "b_h": jnp.asarray(rng.normal(0, 1.0, H3), jnp.float32),
    }


def _bern(x, logits):
    # prod_i p(x_i) for Bernoulli(sigmoid(logits)): x [N, n], logits [M, n] -> [M, N]
    lp = x[None] * -np.logaddexp(0, -logits[:, None]) + (1 - x[None]) * -np.logaddexp(0, logits[:, None])
    return np.exp(lp.sum(-1))


def _kernel(p):
    """K[a, b] = P(v' = b | v = a) for one sweep h ~ p(h | v), v' ~ p(v' | h), by enumeration."""
    W, bv, bh = (np.asarray(p[k], np.float64) for k in ("W", "b_v", "b_h"))
    p_h = _bern(H3S, V4 @ W + bh)  # [16, 8]
    p_v = _bern(V4, H3S @ W.T + bv)  # [8, 16]
    return p_h @ p_v


def _stationary(p):
    W, bv, bh = (np.asarray(p[k], np.float64) for k in ("W", "b_v", "b_h"))
    log_pv = V4 @ bv + np.logaddexp(0, V4 @ W + bh).sum(-1)
    return np.exp(log_pv - np.logaddexp.reduce(log_pv))


def _counts(frames):
    idx = np.asarray(frames, np.int64).reshape(-1, D4) @ (2 ** np.arange(D4 - 1, -1, -1))
    return np.bincount(idx, minlength=2**D4)


def _chi2_pvalue(counts, probs):
    from scipy import stats

    keep = probs * counts.sum() > 1e-9
    return stats.chisquare(counts[keep], probs[keep] * counts.sum()).pvalue


def _tv_counts(counts, probs):
    return 0.5 * np.abs(counts / counts.sum() - probs).sum()


def _sample43(p, v0, num_steps, every, key=0):
    conds = (
        lambda key, layers: gibbs.bernoulli(key, layers[1] @ p["W"].T + p["b_v"]),
        lambda key, layers: gibbs.bernoulli(key, layers[0] @ p["W"] + p["b_h"]),
    )
    layers = (v0, jnp.zeros((v0.shape[0], H3)))
    run = jax.jit(lambda k: gibbs.sample_chain(k, layers, conds, num_steps, every))
    return np.asarray(run(jax.random.PRNGKey(key)))


def test_sample_chain_frames_reach_the_enumerated_distribution():
    p = _rbm43()
    c = 4000
    frames = _sample43(p, gibbs.noise_init(jax.random.PRNGKey(1), c, (D4,)), 60, 30)
    chex.assert_shape(frames, (c, 2, D4))
    # One frame per chain (the chains are independent): chi-square over the 16 states at a fixed
    # seed, p-value above 0.001; the TV of 4,000 draws over 16 states is ~0.02.
    pv = _stationary(p)
    assert _chi2_pvalue(_counts(frames[:, -1]), pv) > 1e-3
    assert _tv_counts(_counts(frames[:, -1]), pv) < 0.04


def test_seeded_chains_start_at_the_seed_frame_by_frame():
    # Frame j is the state after j + 1 sweeps from v0: frame 0 ~ K(v0, .), frame 1 ~ K^2(v0, .),
    # exactly enumerated. The seeds are chosen far from equilibrium (exact TV(K(v0, .), p) ~ 0.5),
    # so the wrong laws (the stationary one, one sweep more or less) are rejected.
    p = _rbm43()
    k, pv = _kernel(p), _stationary(p)
    for a in (0b0000, 0b1000):
        v0 = jnp.asarray(np.tile(V4[a], (4000, 1)), jnp.float32)
        frames = _sample43(p, v0, 2, 1, key=a)
        laws = (k[a], (k @ k)[a])
        for j, law in enumerate(laws):
            assert _chi2_pvalue(_counts(frames[:, j]), law) > 1e-3, (a, j)
        assert _chi2_pvalue(_counts(frames[:, 0]), laws[1]) < 1e-6
        assert _chi2_pvalue(_counts(frames[:, 0]), pv) < 1e-6


def test_with_zero_weights_frames_do_not_depend_on_the_seed():
    p = {**_rbm43(), "W": jnp.zeros((D4, H3))}
    zeros, ones = jnp.zeros((3000, D4)), jnp.ones((3000, D4))
    a, b = _sample43(p, zeros, 3, 1), _sample43(p, ones, 3, 1)
    # The same keys draw the same v from p(v | h) = p(v): identical frames, distributed as the
    # independent units sigmoid(b_v).
    np.testing.assert_array_equal(a, b)
    assert _chi2_pvalue(_counts(a[:, 0]), _stationary(p)) > 1e-3


def test_sample_chain_rejects_a_frame_step_that_does_not_divide():
    p = _rbm43()
    with pytest.raises(ValueError, match="thin must be >= 1 and divide"):
        _sample43(p, jnp.zeros((2, D4)), 5, 2)
