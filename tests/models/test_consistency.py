"""Consistency models: the boundary condition, distillation towards the analytic ODE map of Gaussian
data, the curricula, and the samplers (Song et al., 2023; Song & Dhariwal, 2023)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.models import consistency as cm
from genjax.samplers import consistency as cs
from genjax.samplers.schedules import karras_sigmas

MU = jnp.array([0.5, -0.3])
COV = jnp.array([[0.30, 0.12], [0.12, 0.20]])
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


def _sqrtm(a):
    w, v = jnp.linalg.eigh(a)
    return (v * jnp.sqrt(w)) @ v.T


def exact_denoiser(params, x, sigma, label=None):
    gain = jax.vmap(lambda s: COV @ jnp.linalg.inv(COV + s**2 * jnp.eye(2)))(sigma)
    return MU + jnp.einsum("bij,bj->bi", gain, x - MU)


def exact_consistency(x, sigma):
    """The PF-ODE solution map to sigma_min: mu + (S + smin^2)^1/2 (S + s^2)^-1/2 (x - mu)."""
    m = jax.vmap(lambda s: _sqrtm(COV + SIGMA_MIN**2 * jnp.eye(2)) @ jnp.linalg.inv(_sqrtm(COV + s**2 * jnp.eye(2))))(sigma)
    return MU + jnp.einsum("bij,bj->bi", m, x - MU)


def _config(**kw):
    base = dict(objective="cd", data_shape=(2,), network="mlp", mlp_hidden=64, teacher_fn=exact_denoiser,
                num_scales=18, sigma_data=0.5)
    return cm.ConsistencyConfig(**{**base, **kw})


def test_boundary_condition_holds_exactly_for_any_network_output():
    config = _config()
    model = cm.make_consistency(config, teacher_params={})
    params = model.init(jax.random.PRNGKey(0), {"x": jnp.zeros((1, 2))})["params"]
    params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.PRNGKey(1), p.shape), params)  # arbitrary F
    x = jax.random.normal(jax.random.PRNGKey(2), (16, 2)) * 3.0
    out = cm.consistency_fn(config, params)(x, jnp.full((16,), SIGMA_MIN))
    np.testing.assert_array_equal(out, x)
    assert float(jnp.abs(cm.consistency_fn(config, params)(x, jnp.full((16,), 1.0)) - x).max()) > 1e-2


def test_distillation_with_the_exact_teacher_approaches_the_analytic_map():
    config = _config(mu0=0.9)
    model = cm.make_consistency(config, teacher_params={})
    data = lambda s: {"x": MU + jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(3), s), (256, 2))
                      @ jnp.linalg.cholesky(COV).T}
    state = training.fit(model, optax.adam(3e-3), data, key=jax.random.PRNGKey(4), num_steps=1500, progress=False)
    f = cm.consistency_fn(config, state.params)
    sig = jnp.array([0.1, 0.5, 2.0, 10.0])
    x0 = data(10**6)["x"][:200]
    errs = []
    for s in sig:
        x = x0 + s * jax.random.normal(jax.random.PRNGKey(5), x0.shape)
        ss = jnp.full((200,), s)
        errs.append(float(jnp.sqrt(jnp.mean(jnp.sum((f(x, ss) - exact_consistency(x, ss)) ** 2, -1)))))
    # RMS error of the learned map against the analytic one, relative to the data scale (~0.5).
    assert max(errs) < 0.15, errs
    samples = jax.jit(lambda k: cs.one_step(k, f, (4000, 2), SIGMA_MAX))(jax.random.PRNGKey(6))
    np.testing.assert_allclose(np.asarray(samples).mean(0), MU, atol=0.1)
    np.testing.assert_allclose(np.cov(np.asarray(samples), rowvar=False), COV, atol=0.1)


def test_multistep_with_the_analytic_map_reproduces_the_target_and_inpainting_keeps_known_values():
    sigmas = jnp.array([SIGMA_MAX, 2.0, 0.5, 0.1])
    x = jax.jit(lambda k: cs.multistep(k, exact_consistency, (4000, 2), sigmas, SIGMA_MIN))(jax.random.PRNGKey(7))
    np.testing.assert_allclose(np.asarray(x).mean(0), MU, atol=0.03)
    np.testing.assert_allclose(np.cov(np.asarray(x), rowvar=False), COV, atol=0.03)
    known = jnp.tile(jnp.array([[1.0, 0.0]]), (500, 1))
    mask = jnp.tile(jnp.array([[1.0, 0.0]]), (500, 1))
    out = jax.jit(lambda k: cs.inpaint(k, exact_consistency, known, mask, sigmas, SIGMA_MIN))(jax.random.PRNGKey(8))
    np.testing.assert_array_equal(out[:, 0], known[:, 0])
    assert float(jnp.std(out[:, 1])) > 0.05  # the unknown coordinate is generated, not copied


def test_curricula_follow_the_papers():
    ct = _config(objective="ct", num_scales=2, max_scales=150, total_steps=1000, teacher_fn=None)
    assert int(cm.discretization(ct, jnp.asarray(0))) == 2
    assert int(cm.discretization(ct, jnp.asarray(1000))) == 151
    assert float(cm.ema_rate(ct, jnp.asarray(2))) == pytest.approx(0.95)
    ict = _config(objective="ict", num_scales=10, max_scales=1280, total_steps=8000, teacher_fn=None)
    ns = [int(cm.discretization(ict, jnp.asarray(k))) for k in (0, 999, 1000, 7999)]
    assert ns == [11, 11, 21, 1281]  # K' = floor(8000 / (log2(128) + 1)) = 1000
    grid = cm.sigma_grid(ict, jnp.asarray(18), jnp.arange(18))
    np.testing.assert_allclose(grid, np.flip(np.asarray(karras_sigmas(18)[:-1])), rtol=1e-5)


def test_ict_trains_without_a_teacher():
    config = _config(objective="ict", teacher_fn=None, num_scales=10, max_scales=80, total_steps=300)
    model = cm.make_consistency(config)
    data = lambda s: {"x": MU + jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(3), s), (128, 2)) * 0.5}
    state = training.fit(model, optax.adam(1e-3), data, key=jax.random.PRNGKey(4), num_steps=300, progress=False)
    assert int(state.model_state["step"]) == 300 and "target" not in state.model_state
    x = model.sample(state.params, state.model_state, jax.random.PRNGKey(0), 500)
    assert np.isfinite(np.asarray(x)).all() and abs(float(x.mean()) - float(MU.mean())) < 0.5


MEANS = jnp.array([[-1.5, 0.0], [1.5, 0.0]])  # two classes, isotropic std S
S = 0.3


def mixture_denoiser(params, x, sigma, label):
    """Exact D(x; sigma | label) of the two-Gaussian mixture; the null label (2) is the mixture itself."""
    v = (S**2 + sigma**2)[:, None]
    per_class = MEANS[None] + (S**2 / v)[:, :, None] * (x[:, None] - MEANS[None])  # [B, 2, 2]
    logw = -jnp.sum((x[:, None] - MEANS[None]) ** 2, -1) / (2 * v)
    w = jnp.where(label[:, None] < 2, jax.nn.one_hot(jnp.minimum(label, 1), 2), jax.nn.softmax(logw, -1))
    return jnp.einsum("bk,bkd->bd", w, per_class)


def test_guided_consistency_function_reduces_to_its_parts_and_keeps_the_boundary():
    config = _config(num_classes=2, teacher_fn=mixture_denoiser)
    params = cm.make_consistency(config, teacher_params={}).init(jax.random.PRNGKey(0), {"x": jnp.zeros((1, 2))})["params"]
    params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.PRNGKey(1), p.shape), params)
    x = jax.random.normal(jax.random.PRNGKey(2), (8, 2)) * 3.0
    label, sig = jnp.arange(8) % 2, jnp.full((8,), 1.5)
    uncond = cm.consistency_fn(config, params)(x, sig)
    cond = cm.consistency_fn(config, params, label, guidance_scale=1.0)(x, sig)
    assert float(jnp.abs(cond - uncond).max()) > 1e-2  # the label matters
    np.testing.assert_allclose(cm.consistency_fn(config, params, label, guidance_scale=0.0)(x, sig), uncond, atol=1e-5)
    g3 = cm.consistency_fn(config, params, label, guidance_scale=3.0)(x, sig)
    np.testing.assert_allclose(g3, uncond + 3.0 * (cond - uncond), atol=1e-4)
    np.testing.assert_array_equal(cm.consistency_fn(config, params, label, guidance_scale=3.0)(x, jnp.full((8,), SIGMA_MIN)), x)


def test_class_conditional_distillation_samples_each_class_and_the_mixture_unguided():
    """CD with label dropout from the exact conditional teacher: scale 1 samples class k's Gaussian,
    scale 0 (the null label) the two-class mixture."""
    config = _config(num_classes=2, teacher_fn=mixture_denoiser, mu0=0.9, label_dropout=0.3)
    model = cm.make_consistency(config, teacher_params={})

    def data(s):
        k1, k2 = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(3), s))
        y = jax.random.randint(k1, (256,), 0, 2)
        return {"x": MEANS[y] + S * jax.random.normal(k2, (256, 2)), "label": y}

    state = training.fit(model, optax.adam(3e-3), data, key=jax.random.PRNGKey(4), num_steps=1000, progress=False)
    n = 2000
    label = jnp.arange(n) % 2
    for scale, check in ((1.0, "class"), (0.0, "mixture")):
        f = cm.consistency_fn(config, state.params, label, guidance_scale=scale)
        x = np.asarray(jax.jit(lambda k, f=f: cs.one_step(k, f, (n, 2), SIGMA_MAX))(jax.random.PRNGKey(6)))
        if check == "class":
            for k in (0, 1):
                np.testing.assert_allclose(x[k::2].mean(0), MEANS[k], atol=0.15)
                np.testing.assert_allclose(x[k::2].std(0), S, atol=0.1)
        else:
            # Unguided: both classes' samples split about evenly between the two modes.
            for k in (0, 1):
                assert 0.35 < float((x[k::2, 0] > 0).mean()) < 0.65


def test_init_params_start_the_network_and_target_and_a_mismatch_names_the_leaves():
    config = _config()
    batch = {"x": jnp.zeros((1, 2))}
    fresh = cm.make_consistency(config, teacher_params={}).init(jax.random.PRNGKey(0), batch)["params"]
    given = jax.tree.map(lambda p: p + 1.0, fresh)
    out = cm.make_consistency(config, teacher_params={}, init_params=given).init(jax.random.PRNGKey(0), batch)
    chex.assert_trees_all_close(out["params"], given)
    chex.assert_trees_all_close(out["state"]["target"], given)
    wider = cm.make_consistency(_config(mlp_hidden=32), teacher_params={}).init(jax.random.PRNGKey(0), batch)["params"]
    with pytest.raises(ValueError, match=r"init_params do not match the consistency network: \d+ leaves differ, e\.g\. \[.*network \("):
        cm.make_consistency(config, teacher_params={}, init_params=wider).init(jax.random.PRNGKey(0), batch)


def test_distillation_trains_from_the_teachers_own_arrays():
    config = _config()
    batch = {"x": jnp.zeros((1, 2))}
    teacher = cm.make_consistency(config, {}).init(jax.random.PRNGKey(0), batch)["params"]
    # The student starts from the very arrays it is distilled from, which the step must not donate.
    model = cm.make_consistency(config, teacher_params=teacher, init_params=teacher)
    data = lambda step: {"x": jnp.full((8, 2), 0.1 * step)}
    state = training.fit(model, optax.adam(1e-3), data, key=jax.random.PRNGKey(1), num_steps=2,
                         progress=False)
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(state.params))
