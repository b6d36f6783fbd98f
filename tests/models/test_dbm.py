"""DBM against enumeration of a tiny model (4 visible, 3 and 2 hidden; and a 3-hidden-layer one)."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.losses import cd_surrogate
from genjax.models import dbm
from genjax.samplers import gibbs


def _params(sizes, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "W": [
            jnp.asarray(rng.normal(0, scale, (a, b)), jnp.float32)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ],
        "b": [jnp.asarray(rng.normal(0, 1.0, n), jnp.float32) for n in sizes],
    }


def _states(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), np.float64)


def _enumerate(p, sizes):
    """All joint states [N, sum(sizes)] and -E from the definition, in float64."""
    xs = _states(sum(sizes))
    cuts = np.cumsum(sizes)[:-1]
    layers = np.split(xs, cuts, axis=1)
    neg_e = sum(x @ np.asarray(b, np.float64) for x, b in zip(layers, p["b"], strict=True))
    for li, w in enumerate(p["W"]):
        neg_e = neg_e + np.sum((layers[li] @ np.asarray(w, np.float64)) * layers[li + 1], 1)
    return layers, neg_e


def _lse(x, axis=None):
    return np.logaddexp.reduce(x, axis=axis)


def _exact_log_pv(p, sizes):
    layers, neg_e = _enumerate(p, sizes)
    idx = layers[0].astype(int) @ (2 ** np.arange(sizes[0] - 1, -1, -1))
    log_pv = np.array([_lse(neg_e[idx == i]) for i in range(2 ** sizes[0])])
    return log_pv - _lse(neg_e), _lse(neg_e)


SIZES2 = (4, 3, 2)
SIZES3 = (4, 3, 2, 2)


@pytest.mark.parametrize("sizes", [SIZES2, SIZES3])
def test_energy_and_conditionals_match_enumeration(sizes):
    p = _params(sizes)
    layers, neg_e = _enumerate(p, sizes)
    np.testing.assert_allclose(
        -np.asarray(dbm.energy(p, [jnp.asarray(x, jnp.float32) for x in layers])),
        neg_e,
        rtol=1e-5,
        atol=1e-5,
    )
    # p(x_l = 1 | rest) from the joint: flip the unit and compare energies.
    rng = np.random.default_rng(1)
    for li in range(len(sizes)):
        state = [rng.integers(0, 2, n).astype(np.float64) for n in sizes]
        logits = np.asarray(dbm.layer_logits(p, [jnp.asarray(x, jnp.float32) for x in state], li))
        for j in range(sizes[li]):
            on = [x.copy() for x in state]
            off = [x.copy() for x in state]
            on[li][j], off[li][j] = 1.0, 0.0
            e = lambda s: float(dbm.energy(p, [jnp.asarray(x, jnp.float32) for x in s]))
            np.testing.assert_allclose(logits[j], e(off) - e(on), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("sizes", [SIZES2, SIZES3])
def test_ais_log_z_matches_enumeration(sizes):
    p = _params(sizes, scale=1.2)
    _, exact = _exact_log_pv(p, sizes)
    log_z, std = jax.jit(
        lambda k: dbm.ais_log_z(k, p, jnp.zeros(sizes[0]), num_intermediate=1000, num_runs=100)
    )(jax.random.PRNGKey(0))
    assert abs(float(log_z) - exact) < 0.05 and float(std) < 0.05, (float(log_z), exact, float(std))


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_mean_field_reaches_a_fixed_point_with_non_decreasing_elbo(damping):
    sizes = (4, 3, 2, 2)
    p = _params(sizes, scale=1.5, seed=2)
    v = jnp.asarray(_states(4), jnp.float32)
    mus = dbm.mean_field_init(p, v)
    elbos = [np.asarray(dbm.elbo(p, v, mus))]
    for _ in range(40):
        mus = dbm.mean_field_step(p, v, mus, damping)
        elbos.append(np.asarray(dbm.elbo(p, v, mus)))
    assert np.all(np.diff(np.stack(elbos), axis=0) >= -1e-5)
    out, info = dbm.mean_field(p, v, max_iters=200, tol=1e-5, damping=damping)
    assert float(info["residual"]) <= 1e-5 and int(info["iters"]) < 200
    # A fixed point: every mean equals the sigmoid of its input (up to the tolerance).
    layers = [v, *out]
    for li in range(1, len(sizes)):
        np.testing.assert_allclose(
            out[li - 1], jax.nn.sigmoid(dbm.layer_logits(p, layers, li)), atol=2e-5 / (1 - damping)
        )
    # It is a lower bound: ELBO - log Z <= log p(v) for every v.
    log_pv, log_z = _exact_log_pv(p, sizes)
    bound = np.asarray(dbm.elbo(p, v, out), np.float64) - log_z
    assert np.all(bound <= log_pv + 1e-4) and np.all(bound > log_pv - 1.0)


def test_gibbs_chains_match_the_exact_marginal():
    p = _params(SIZES2, scale=1.2, seed=3)
    log_pv, _ = _exact_log_pv(p, SIZES2)
    c = 3000
    layers0 = tuple(jnp.zeros((c, n)) for n in SIZES2)
    _, trace = jax.jit(
        lambda k: gibbs.run_chains(
            k, layers0, dbm.conditionals(p), 30, burn_in=30, thin=5, trace_fn=lambda s: s[0]
        )
    )(jax.random.PRNGKey(0))
    idx = np.asarray(trace).reshape(-1, 4).astype(int) @ (2 ** np.arange(3, -1, -1))
    emp = np.bincount(idx, minlength=16) / idx.size
    # 18,000 draws over 16 states: sampling TV ~ 0.01.
    assert 0.5 * np.abs(emp - np.exp(log_pv)).sum() < 0.03


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bern(x, logits):
    # prod_i p(x_i) under Bernoulli(sigmoid(logits)): x [N, n], logits [M, n] -> [M, N]
    q = _sigmoid(logits)[:, None]
    return np.prod(np.where(x[None] > 0, q, 1 - q), -1)


def _first_frame_law(p, v0):
    """Law of v after one sweep from v0, the hidden layers seeded by the bottom-up pass (doubled
    weights below the top, Salakhutdinov & Hinton 2009): h1 ~ p(h1 | v0, mu2), v ~ p(v | h1)."""
    w0, w1 = (np.asarray(w, np.float64) for w in p["W"])
    b0, b1, b2 = (np.asarray(b, np.float64) for b in p["b"])
    mu2 = _sigmoid(_sigmoid(2 * v0 @ w0 + b1) @ w1 + b2)
    h1s = _states(SIZES2[1])
    p_h1 = _bern(h1s, (b1 + v0 @ w0 + mu2 @ w1.T)[None])[0]
    return p_h1 @ _bern(_states(SIZES2[0]), h1s @ w0.T + b0)


def _index4(x):
    return np.asarray(x).astype(int) @ (2 ** np.arange(3, -1, -1))


def test_sample_chain_starts_at_the_seed_and_reaches_the_exact_marginal():
    from scipy import stats

    p = _params(SIZES2, scale=2.0, seed=3)
    pv = np.exp(_exact_log_pv(p, SIZES2)[0])
    c = 4000
    for a in (0b0000, 0b1111):
        v0 = np.tile(_states(4)[a], (c, 1))
        frames = jax.jit(lambda k, v0=v0: dbm.sample_chain(k, p, jnp.asarray(v0), 40, 1))(
            jax.random.PRNGKey(a)
        )
        chex.assert_shape(frames, (c, 40, 4))
        # Frame 0 is one sweep from the seed (exactly enumerated law, chi-square at a fixed seed);
        # the last frame has forgotten it (TV to the exact marginal; sampling TV ~ 0.02).
        law = _first_frame_law(p, _states(4)[a])
        first = np.bincount(_index4(frames[:, 0]), minlength=16)
        assert stats.chisquare(first, law * c).pvalue > 1e-3
        assert stats.chisquare(first, pv * c).pvalue < 1e-6
        last = np.bincount(_index4(frames[:, -1]), minlength=16)
        assert 0.5 * np.abs(last / c - pv).sum() < 0.04


def test_with_zero_weights_dbm_frames_do_not_depend_on_the_seed():
    p = _params(SIZES2)
    p = {**p, "W": [jnp.zeros_like(w) for w in p["W"]]}
    run = jax.jit(lambda v0: dbm.sample_chain(jax.random.PRNGKey(0), p, v0, 3, 1))
    a, b = run(jnp.zeros((2000, 4))), run(jnp.ones((2000, 4)))
    np.testing.assert_array_equal(a, b)
    means = dbm.sample_chain(jax.random.PRNGKey(0), p, jnp.ones((3, 4)), 2, 2, mean=True)
    np.testing.assert_allclose(means[:, 0], np.broadcast_to(_sigmoid(np.asarray(p["b"][0])), (3, 4)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="v0 must be"):
        dbm.sample_chain(jax.random.PRNGKey(0), p, jnp.ones((4,)), 2, 1)


@pytest.mark.parametrize("sizes", [SIZES2, SIZES3])
def test_from_rbm_keeps_the_rbms_likelihood_and_a_tight_bound(sizes):
    rng = np.random.default_rng(6)
    d, h = sizes[:2]
    rp = {"W": rng.normal(0, 1.5, (d, h)), "b_v": rng.normal(0, 1, d), "b_h": rng.normal(0, 1, h)}
    # The RBM's exact log p(v), enumerated from its energy -v.b_v - h.b_h - v W h.
    vs, hs = _states(d), _states(h)
    neg_e = (vs @ rp["b_v"])[:, None] + (hs @ rp["b_h"])[None] + vs @ rp["W"] @ hs.T
    log_pv_rbm = _lse(neg_e, 1) - _lse(neg_e)
    config = dbm.DBMConfig(image_shape=(d, 1, 1), hidden=sizes[1:])
    p = dbm.from_rbm(jax.random.PRNGKey(0), config, jax.tree.map(jnp.asarray, rp), scale=0.0)
    log_pv, log_z = _exact_log_pv(p, sizes)
    np.testing.assert_allclose(log_pv, log_pv_rbm, atol=1e-4)
    v = jnp.asarray(vs, jnp.float32)
    mus, _ = dbm.mean_field(p, v, max_iters=100, tol=1e-7)
    np.testing.assert_allclose(np.asarray(dbm.elbo(p, v, mus), np.float64) - log_z, log_pv, atol=1e-3)
    # Upper weights are drawn at the given scale; a wrong RBM shape is refused.
    q = dbm.from_rbm(jax.random.PRNGKey(0), config, jax.tree.map(jnp.asarray, rp), scale=0.1)
    assert 0.02 < float(jnp.std(q["W"][1])) < 0.3
    with pytest.raises(ValueError, match="the RBM has W"):
        dbm.from_rbm(jax.random.PRNGKey(0), config, {**rp, "W": np.zeros((d + 1, h))})
    # make_dbm starts from them; params of other shapes are refused.
    model = dbm.make_dbm(config, q)
    variables = model.init(jax.random.PRNGKey(1), {"image": jnp.ones((2, d, 1, 1))})
    chex.assert_trees_all_equal(variables["params"], q)
    with pytest.raises(ValueError, match="initial_params have shapes"):
        dbm.make_dbm(dbm.DBMConfig(image_shape=(d + 1, 1, 1), hidden=sizes[1:]), q)


def test_surrogate_gradient_is_data_minus_model_statistics():
    p = _params(SIZES2, scale=0.5)
    rng = np.random.default_rng(4)
    v = jnp.asarray(rng.integers(0, 2, (8, 4)), jnp.float32)
    mus, _ = jax.jit(dbm.mean_field)(p, v)
    chains = tuple(jnp.asarray(rng.integers(0, 2, (5, n)), jnp.float32) for n in SIZES2)
    grads = jax.jit(
        jax.grad(lambda q: cd_surrogate(dbm.energy(q, (v, *mus)), dbm.energy(q, chains)))
    )(p)
    data = (v, *mus)
    want_w = [
        -(data[li].T @ data[li + 1]) / 8 + (chains[li].T @ chains[li + 1]) / 5 for li in range(2)
    ]
    want_b = [-jnp.mean(x, 0) + jnp.mean(c, 0) for x, c in zip(data, chains, strict=True)]
    chex.assert_trees_all_close(grads, {"W": want_w, "b": want_b}, atol=1e-6)


def _mixture(n=2048):
    vs = _states(4)
    protos = np.array([[0, 0, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0]], np.float64)
    flips = np.abs(vs[None] - protos[:, None]).sum(-1)
    p_target = np.mean(0.08**flips * 0.92 ** (4 - flips), 0)
    idx = np.random.default_rng(0).choice(16, size=n, p=p_target)
    return vs[idx].astype(np.float32).reshape(n, 2, 2, 1), p_target


def _kl(p_target, p, sizes):
    log_pv, _ = _exact_log_pv(p, sizes)
    return float(np.sum(p_target * (np.log(p_target) - log_pv)))


def test_training_through_the_common_step_lowers_the_exact_kl():
    data, p_target = _mixture()
    config = dbm.DBMConfig(
        image_shape=(2, 2, 1), hidden=(3, 2), num_chains=64, mf_damping=0.2, init_scale=0.1
    )
    model = dbm.make_dbm(config)
    optimizer = optax.sgd(0.1, momentum=0.5)
    batches = lambda s: {"image": jnp.asarray(data[(s % 32) * 64 : (s % 32 + 1) * 64])}
    state = training.create_train_state(model, optimizer, jax.random.PRNGKey(0), batches(0))
    kl0 = _kl(p_target, state.params, config.sizes)
    step = training.compile_step(training.make_train_step(model, optimizer), "jit")
    for s in range(600):
        state, metrics = step(state, batches(s), jax.random.PRNGKey(1))
    kl1 = _kl(p_target, state.params, config.sizes)
    # Measured: 0.60 nats at the start (independent units), 0.15 after 600 steps.
    assert kl0 > 0.5 and kl1 < 0.4 * kl0, (kl0, kl1)
    assert (
        float(metrics["mf_residual"]) <= config.mf_tol
        or int(metrics["mf_iters"]) == config.mf_max_iters
    )


def test_pretraining_rbm_free_energy_matches_explicit_copies_and_assembles():
    # Bottom RBM of a 2-layer DBM: two tied copies of the visible units.
    config = dbm.DBMConfig(image_shape=(3, 1, 1), hidden=(2, 2))
    rng = np.random.default_rng(5)
    p = {
        "W": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
        "b_v": jnp.asarray(rng.normal(size=3), jnp.float32),
        "b_h": jnp.asarray(rng.normal(size=2), jnp.float32),
    }
    x = jnp.asarray([[1.0, 0.0, 1.0]])
    W, bv, bh = (np.asarray(p[k], np.float64) for k in ("W", "b_v", "b_h"))
    hs = _states(2)
    xx = np.asarray(x[0], np.float64)
    free = -_lse(2 * xx @ bv + hs @ bh + 2 * (xx @ W) @ hs.T)  # both copies equal the data
    from genjax.models.dbm import _pretrain_free_energy

    np.testing.assert_allclose(float(_pretrain_free_energy(p, 2 * x, 1.0)[0]), free, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(dbm.propagate_up(p, x, 0, config))[0],
        1 / (1 + np.exp(-(2 * xx @ W + bh))),
        rtol=1e-5,
    )
    # Train the two RBMs greedily through the common step and assemble the DBM.
    data = {"image": jnp.asarray(rng.integers(0, 2, (32, 3, 1, 1)), jnp.float32)}
    layer_params, inputs = [], data
    for layer in range(2):
        m = dbm.make_pretraining_rbm(config, layer)
        st = training.create_train_state(m, optax.sgd(0.05), jax.random.PRNGKey(layer), inputs)
        step = training.compile_step(training.make_train_step(m, optax.sgd(0.05)), "jit")
        for _ in range(3):
            st, metrics = step(st, inputs, jax.random.PRNGKey(9))
        assert np.isfinite(float(metrics["recon_error"]))
        layer_params.append(st.params)
        x_in = inputs["image"].reshape(32, -1) if layer == 0 else inputs["x"]
        inputs = {"x": dbm.propagate_up(st.params, x_in, layer, config)}
    params = dbm.from_pretrained(config, layer_params)
    chex.assert_trees_all_equal_shapes(params, dbm.init_params(jax.random.PRNGKey(0), config.sizes))
    np.testing.assert_allclose(
        params["b"][1], 0.5 * (layer_params[0]["b_h"] + layer_params[1]["b_v"])
    )
    with pytest.raises(ValueError, match="pretrained RBMs"):
        dbm.from_pretrained(config, layer_params[:1])


@pytest.mark.slow  # the same orbax path as tests/models/test_rbm.py, here with tuple-valued chains
def test_persistent_chains_survive_a_checkpoint_round_trip(tmp_path):
    data, _ = _mixture(256)
    config = dbm.DBMConfig(
        image_shape=(2, 2, 1),
        hidden=(3, 2),
        num_chains=16,
        ais_intermediate=1000,
        ais_runs=100,
        sample_steps=10,
    )
    model = dbm.make_dbm(config)
    optimizer = optax.sgd(0.05)
    batch = {"image": jnp.asarray(data[:64])}
    state = training.create_train_state(model, optimizer, jax.random.PRNGKey(0), batch)
    step = training.compile_step(training.make_train_step(model, optimizer), "jit", donate=False)
    for _ in range(3):
        state, _ = step(state, batch, jax.random.PRNGKey(1))
    ckpt = training.Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(state, {"model": "dbm"})
    restored, _ = ckpt.restore(
        training.create_train_state(model, optimizer, jax.random.PRNGKey(5), batch)
    )
    ckpt.close()
    chex.assert_trees_all_equal(restored.model_state, state.model_state)


def test_log_prob_is_a_lower_bound_and_sample_has_the_data_shape():
    data, _ = _mixture(256)
    config = dbm.DBMConfig(
        image_shape=(2, 2, 1),
        hidden=(3, 2),
        num_chains=16,
        ais_intermediate=1000,
        ais_runs=100,
        sample_steps=10,
    )
    model = dbm.make_dbm(config)
    state = jax.jit(model.init)(jax.random.PRNGKey(0), {"image": jnp.asarray(data[:64])})
    # log_prob is a lower bound on the exact log p(v), up to the AIS error.
    p = _params(SIZES2, scale=1.0, seed=6)
    vs = jnp.asarray(_states(4).reshape(16, 2, 2, 1), jnp.float32)
    lp = np.asarray(
        jax.jit(model.log_prob)(p, state["state"], {"image": vs}, jax.random.PRNGKey(2))
    )
    log_pv, _ = _exact_log_pv(p, SIZES2)
    assert np.all(lp <= log_pv + 0.05) and np.all(lp > log_pv - 1.0)
    assert model.likelihood == dbm.Likelihood.LOWER_BOUND
    x = jax.jit(model.sample, static_argnums=3)(p, state["state"], jax.random.PRNGKey(3), 8)
    chex.assert_shape(x, (8, 2, 2, 1))


def test_bad_config_raises():
    with pytest.raises(ValueError, match="2 or 3"):
        dbm.DBMConfig(hidden=(10,))
    with pytest.raises(ValueError, match="mf_damping"):
        dbm.DBMConfig(mf_damping=1.0)
    with pytest.raises(ValueError, match="layer must be"):
        dbm.make_pretraining_rbm(dbm.DBMConfig(), 2)
