"""Diffusion models: training on a 2-D toy, the VP/EDM parameterisations, and the UNet."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.data import toy
from genjax.models import diffusion
from genjax.samplers.schedules import make_vp_schedule


def energy_distance(x, y):
    """Szekely's energy distance: 0 iff the distributions are equal."""
    d = lambda a, b: np.mean(np.linalg.norm(a[:, None] - b[None], axis=-1))
    return 2 * d(x, y) - d(x, x) - d(y, y)


@pytest.mark.parametrize("kind", ["edm", pytest.param("vp", marks=pytest.mark.slow)])
def test_short_training_on_two_moons_lowers_the_loss_and_beats_noise(kind):
    # VP uses the linear schedule: the cosine schedule's last abar (2e-9) amplifies a learned noise
    # prediction's error 2e4-fold in the first DDIM step unless the x0 prediction is clipped.
    config = diffusion.DiffusionConfig(
        kind=kind,
        data_shape=(2,),
        network="mlp",
        mlp_hidden=128,
        sample_steps=32,
        num_timesteps=200,
        schedule="linear",
        levels=0,
        sigma_data=0.7,
    )
    model = diffusion.make_diffusion(config)
    data = lambda step: {
        "x": toy.sample_toy("two_moons", jax.random.fold_in(jax.random.PRNGKey(0), step), 256)
    }
    state = training.fit(
        model,
        optax.adam(2e-3),
        data,
        key=jax.random.PRNGKey(1),
        num_steps=800,
        progress=False,
        ema_decay=0.99,
    )
    k = jax.random.PRNGKey(2)
    first = float(
        model.loss(
            training.create_train_state(
                model, optax.adam(1e-3), jax.random.PRNGKey(1), data(0)
            ).params,
            {},
            data(10**6),
            k,
        )[0]
    )
    last = float(model.loss(state.params, {}, data(10**6), k)[0])
    assert last < 0.7 * first
    samples = np.asarray(
        jax.jit(lambda key: model.sample(state.ema_params, {}, key, 1000))(jax.random.PRNGKey(3))
    )
    fresh = np.asarray(toy.sample_toy("two_moons", jax.random.PRNGKey(9), 1000))
    noise = np.asarray(
        jax.random.normal(jax.random.PRNGKey(4), (1000, 2)) * fresh.std(0) + fresh.mean(0)
    )
    # A Gaussian with the data's moments scores about 0.1; trained samples score under a third of it.
    assert energy_distance(samples, fresh) < energy_distance(noise, fresh) / 3


def test_v_prediction_converts_to_the_noise_prediction():
    config = diffusion.DiffusionConfig(
        kind="vp", data_shape=(2,), network="mlp", prediction="v", num_timesteps=100
    )
    net = diffusion.make_network(config)
    params = net.init(jax.random.PRNGKey(0), jnp.ones((1, 2)), jnp.ones(1))["params"]
    params = jax.tree.map(
        lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(1), p.shape), params
    )
    x, t = jax.random.normal(jax.random.PRNGKey(2), (5, 2)), jnp.arange(5, dtype=jnp.int32) * 20
    v = net.apply({"params": params}, x, t.astype(jnp.float32))
    a = make_vp_schedule(config.schedule, 100).alphas_cumprod[t][:, None]
    # x_t = sqrt(a) x0 + sqrt(1-a) eps and v = sqrt(a) eps - sqrt(1-a) x0 give eps = sqrt(a) v + sqrt(1-a) x_t.
    np.testing.assert_allclose(
        diffusion.eps_fn(config, params)(x, t), jnp.sqrt(a) * v + jnp.sqrt(1 - a) * x, rtol=1e-5
    )


def test_edm_loss_at_init_is_one_per_dimension_and_the_denoiser_is_the_skip_connection():
    # EDM's design (Karras et al., 2022, appendix B.6): with the output layer at zero, D = c_skip x and
    # lambda(sigma) ||c_skip x - x_0||^2 = ||target||^2 with a unit-variance target, for every sigma.
    config = diffusion.DiffusionConfig(
        kind="edm", data_shape=(2,), network="mlp", mlp_hidden=32, sigma_data=0.5
    )
    model = diffusion.make_diffusion(config)
    batch = {"x": 0.5 * jax.random.normal(jax.random.PRNGKey(0), (20000, 2))}
    params = jax.jit(model.init)(jax.random.PRNGKey(1), batch)["params"]
    _, (metrics, _) = jax.jit(model.loss)(params, {}, batch, jax.random.PRNGKey(2))
    # 40,000 squared unit normals: standard error 0.007.
    assert abs(float(metrics["loss_per_dim"]) - 1.0) < 0.03
    x, sigma = jax.random.normal(jax.random.PRNGKey(3), (3, 2)), jnp.array([0.1, 1.0, 10.0])
    c_skip = 0.25 / (sigma**2 + 0.25)
    np.testing.assert_allclose(
        diffusion.denoiser(config, params)(x, sigma), c_skip[:, None] * x, rtol=1e-5
    )


def test_q_posterior_is_bayes_rule():
    s = make_vp_schedule("linear", 1000)
    betas, abar = np.asarray(s.betas, np.float64), np.asarray(s.alphas_cumprod, np.float64)
    x0, xt, t = jnp.array([[0.7], [0.7]]), jnp.array([[-0.3], [-0.3]]), jnp.array([1, 500])
    mean, var = diffusion.q_posterior(x0, xt, t, s.betas, s.alphas_cumprod)
    for i, ti in enumerate([1, 500]):
        # x_{t-1} ~ N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}); x_t | x_{t-1} ~ N(sqrt(1 - beta_t) x_{t-1}, beta_t).
        p_prior, p_lik = 1 / (1 - abar[ti - 1]), (1 - betas[ti]) / betas[ti]
        v = 1 / (p_prior + p_lik)
        m = v * (p_prior * np.sqrt(abar[ti - 1]) * 0.7 + np.sqrt(1 - betas[ti]) / betas[ti] * -0.3)
        # float32 schedules: 1 - abar_0 = 1e-4 carries 3-4 significant digits.
        np.testing.assert_allclose([float(mean[i, 0]), float(var[i, 0])], [m, v], rtol=1e-3)


def test_variational_bound_terms_bound_the_gaussian_log_likelihood():
    # With the exact noise prediction of Gaussian data, sum_t L_t + L_T >= -log p(x_0), and the gap is
    # the cost of the fixed reverse variance (Ho et al., 2020): measured 0.97 nats for 2-D data.
    s = make_vp_schedule("linear", 1000)
    mu, cov = jnp.array([1.0, -0.5]), jnp.array([[1.0, 0.6], [0.6, 0.8]])
    prec = jax.vmap(lambda a: jnp.linalg.inv(a * cov + (1 - a) * jnp.eye(2)))(s.alphas_cumprod)
    n = 256
    x0 = mu + jax.random.normal(jax.random.PRNGKey(0), (n, 2)) @ jnp.linalg.cholesky(cov).T

    @jax.jit
    def nelbo(key):
        def term(k, t):
            tt = jnp.full((n,), t, jnp.int32)
            xt, _ = diffusion.q_sample(k, x0, tt, s.alphas_cumprod)
            a = s.alphas_cumprod[t]
            eps = jnp.sqrt(1 - a) * (xt - jnp.sqrt(a) * mu) @ prec[t].T
            return diffusion.vb_term(x0, xt, tt, eps, s.betas, s.alphas_cumprod)

        return jax.vmap(term, out_axes=1)(jax.random.split(key, 1000), jnp.arange(1000)).sum(
            1
        ) + diffusion.prior_kl(x0, s.alphas_cumprod)

    d = np.asarray(x0 - mu)
    nll = 0.5 * np.einsum("bi,ij,bj->b", d, np.linalg.inv(cov), d) + 0.5 * np.log(
        np.linalg.det(2 * np.pi * cov)
    )
    gap = np.asarray(nelbo(jax.random.PRNGKey(1))) - nll
    se = gap.std() / np.sqrt(n)  # about 0.11
    assert gap.mean() > -3 * se
    assert gap.mean() < 1.0 + 3 * se


def test_vp_loss_reports_an_unbiased_bound_estimate():
    config = diffusion.DiffusionConfig(
        kind="vp", data_shape=(2,), network="mlp", mlp_hidden=16, schedule="linear", levels=0
    )
    model = diffusion.make_diffusion(config)
    batch = {"x": jax.random.normal(jax.random.PRNGKey(0), (512, 2))}
    params = jax.jit(model.init)(jax.random.PRNGKey(1), batch)["params"]
    # The untrained network predicts eps = 0, so every term is closed-form on average; average
    # several keys: the estimate is noisy (T L_t with t uniform).
    nelbo = jax.jit(jax.vmap(lambda k: model.loss(params, {}, batch, k)[1][0]["nelbo_per_dim"]))(
        jax.random.split(jax.random.PRNGKey(2), 64)
    )
    s = make_vp_schedule("linear", 1000)
    x0 = batch["x"]

    def term(k, t):
        tt = jnp.full((512,), t, jnp.int32)
        xt, _ = diffusion.q_sample(k, x0, tt, s.alphas_cumprod)
        return diffusion.vb_term(x0, xt, tt, jnp.zeros_like(x0), s.betas, s.alphas_cumprod)

    total = jax.jit(jax.vmap(term))(
        jax.random.split(jax.random.PRNGKey(3), 1000), jnp.arange(1000)
    ).sum(0)
    exact = float(jnp.mean(total + diffusion.prior_kl(x0, s.alphas_cumprod))) / 2
    assert abs(float(nelbo.mean()) - exact) < 4 * float(nelbo.std()) / 8 + 0.02 * exact


def test_class_conditional_edm_trains_through_the_train_step():
    config = diffusion.DiffusionConfig(
        kind="edm",
        data_shape=(2,),
        network="mlp",
        mlp_hidden=32,
        num_classes=2,
        label_dropout=0.2,
        sample_steps=16,
        guidance_scale=2.0,
        sigma_data=1.0,
        levels=0,
    )
    model = diffusion.make_diffusion(config)
    x = jnp.concatenate(
        [jnp.full((256, 2), -2.0), jnp.full((256, 2), 2.0)]
    ) + 0.1 * jax.random.normal(jax.random.PRNGKey(0), (512, 2))
    batch = {"x": x, "label": jnp.repeat(jnp.arange(2, dtype=jnp.int32), 256)}
    state = training.fit(
        model,
        optax.adam(3e-3),
        lambda s: batch,
        key=jax.random.PRNGKey(1),
        num_steps=400,
        progress=False,
    )
    x = np.asarray(jax.jit(lambda k: model.sample(state.params, {}, k, 200))(jax.random.PRNGKey(2)))
    # Labels alternate 0, 1: guided samples land on their own class's cluster.
    np.testing.assert_allclose(x[0::2].mean(0), [-2.0, -2.0], atol=0.3)
    np.testing.assert_allclose(x[1::2].mean(0), [2.0, 2.0], atol=0.3)


@pytest.mark.slow
def test_unet_edm_samples_and_log_prob_on_images():
    config = diffusion.DiffusionConfig(
        kind="edm", base_channels=8, num_classes=10, sample_steps=3, likelihood_steps=4
    )
    model = diffusion.make_diffusion(config)
    batch = {
        "image": jax.random.uniform(jax.random.PRNGKey(0), (8, 8, 8, 1), minval=-1, maxval=1),
        "label": jnp.arange(8, dtype=jnp.int32),
    }
    state = training.fit(
        model,
        optax.adam(1e-3),
        lambda s: batch,
        key=jax.random.PRNGKey(1),
        num_steps=3,
        progress=False,
    )
    x = jax.jit(lambda k: model.sample(state.params, {}, k, 4))(jax.random.PRNGKey(2))
    lp = jax.jit(lambda k: model.log_prob(state.params, {}, batch, k))(jax.random.PRNGKey(3))
    assert (
        x.shape == (4, 8, 8, 1)
        and bool(jnp.all(jnp.isfinite(x)))
        and bool(jnp.all(jnp.isfinite(lp)))
    )
    # log_prob is ode_likelihood without the error estimate: the same solve on the same key.
    checked = jax.jit(lambda k: diffusion.ode_likelihood(
        config, state.params, batch, k, error_estimate=True))(jax.random.PRNGKey(3))
    np.testing.assert_allclose(checked.log_prob, lp, rtol=1e-6)
    assert bool(jnp.all(jnp.isfinite(checked.error))) and int(checked.nfe[0]) == 3 * 4
    ref = jax.jit(lambda k: diffusion.ode_likelihood_reference(
        config, state.params, batch, k, rtol=1e-3, atol=1e-3))(jax.random.PRNGKey(3))
    assert bool(jnp.all(jnp.isfinite(ref.log_prob)))


def test_likelihood_steps_must_be_even_for_the_error_estimate():
    with pytest.raises(ValueError, match="likelihood_steps must be even"):
        diffusion.DiffusionConfig(likelihood_steps=15)
    sigmas = diffusion.likelihood_sigmas(diffusion.DiffusionConfig(), 8)
    # 8 intervals from sigma_min up to sigma_max; every other sigma is the 4-step grid.
    assert sigmas.shape == (9,) and float(sigmas[0]) == pytest.approx(0.002)
    assert float(sigmas[-1]) == pytest.approx(80.0)
    np.testing.assert_allclose(
        sigmas[::2], diffusion.likelihood_sigmas(diffusion.DiffusionConfig(), 4), rtol=1e-5
    )
