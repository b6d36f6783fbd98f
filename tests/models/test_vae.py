"""VAEs against independent truths: the analytic KL against Monte Carlo, the discretized logistic
against scipy, the IWAE bound against the exact marginal likelihood of a linear-Gaussian decoder
(ELBO <= IWAE_K <= log p(x), non-decreasing in K), a linear VAE trained on probabilistic-PCA data
against the closed-form PPCA maximum likelihood (Tipping & Bishop, 1999), and reconstruction of
held-out digits against the mean image."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from genjax import training
from genjax.data import batching, digits, transforms
from genjax.distributions import (
    discretized_logistic_log_prob,
    discretized_logistic_mean,
    discretized_logistic_mode,
)
from genjax.losses import gaussian_kl, gaussian_kl_full_prior
from genjax.models import vae


def _fit(model, data, num_steps, lr, batch_size=64, seed=0, steps_per_call=100):
    # Conv models take steps_per_call=1: XLA:CPU runs a convolution's kernel gradient inside a
    # while loop (lax.scan) tens of times slower than at top level.
    return training.fit(
        model,
        optax.adam(lr),
        batching.epoch_batches(data, batch_size, seed),
        key=jax.random.PRNGKey(seed),
        num_steps=num_steps,
        steps_per_call=steps_per_call,
        log_every=num_steps,
        checkpoint_every=num_steps,
        progress=False,
    )


def _init_scale(shape):
    return 1.0 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.1


def _random_params(model, batch, seed=1):
    """Fan-in scaled normal kernels and small biases at the shapes ``model.init`` gives, drawn with
    numpy: compiling threefry-based initializers costs seconds per test on CPU, and any params serve
    these checks."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)["params"]
    return jax.tree.map(
        lambda s: (rng.normal(size=s.shape) * _init_scale(s.shape)).astype(np.float32), shapes
    )


def _binary_digits(split):
    raw = digits.load_digits(split)
    return {"image": np.asarray(transforms.binarize(raw["image"], 8)), "label": raw["label"]}


def test_analytic_kl_matches_monte_carlo():
    mean = jnp.array([[0.5, -1.0, 2.0]])
    log_var = jnp.array([[0.3, -0.7, 0.1]])
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.PRNGKey(0), (200000, 3))
    log_q = -0.5 * jnp.sum((z - mean) ** 2 / jnp.exp(log_var) + log_var + jnp.log(2 * jnp.pi), -1)
    log_p = -0.5 * jnp.sum(z**2 + jnp.log(2 * jnp.pi), -1)
    mc = float(jnp.mean(log_q - log_p))
    # The MC standard error here is about 0.006 nats.
    assert float(gaussian_kl(mean, log_var)[0]) == pytest.approx(mc, abs=0.02)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretized_logistic_matches_scipy_and_normalizes(levels):
    rng = np.random.default_rng(0)
    mean = rng.uniform(-1.5, 1.5, size=(6, 1)).astype(np.float32)
    log_scale = rng.uniform(-6.0, 1.0, size=(6, 1)).astype(np.float32)
    grid = np.linspace(-1.0, 1.0, levels, dtype=np.float32)
    # Per-pixel log-probabilities: treat each (example, level) as its own batch entry.
    logp = jax.vmap(
        lambda m, s, x: discretized_logistic_log_prob(m[:, None], s[:, None], x[:, None], levels)
    )(
        jnp.broadcast_to(mean, (6, levels)),
        jnp.broadcast_to(log_scale, (6, levels)),
        jnp.broadcast_to(grid, (6, levels)),
    )
    h = 1.0 / (levels - 1)
    cdf = stats.logistic(
        loc=mean.astype(np.float64), scale=np.exp(log_scale.astype(np.float64))
    ).cdf
    upper = np.where(grid >= 1.0 - h / 2, 1.0, cdf(grid + h))
    lower = np.where(grid <= -1.0 + h / 2, 0.0, cdf(grid - h))
    expected = np.log(np.maximum(upper - lower, 1e-300))
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-4)
    # Far tails: float32 rounds a bin's tiny mass, so compare where it is representable.
    ok = expected > -30.0
    np.testing.assert_allclose(np.asarray(logp)[ok], expected[ok], rtol=2e-3, atol=2e-3)
    assert np.all(np.isfinite(np.asarray(logp)))


def _linear_gaussian_marginal(params, sigma2):
    """The marginal of ``x = W z + b + N(0, sigma2 I)``, ``z ~ N(0, I)``: N(b, W W^T + sigma2 I)."""
    dense = params["decoder"]["mlp"]["dense_0"]
    w, b = np.asarray(dense["kernel"], np.float64), np.asarray(dense["bias"], np.float64)
    return stats.multivariate_normal(b, w.T @ w + sigma2 * np.eye(b.shape[0]))


def test_iwae_bound_is_between_the_elbo_and_the_exact_likelihood_and_grows_with_k():
    sigma2 = 0.3
    config = vae.VAEConfig(
        data_shape=(5,),
        latent_dim=2,
        hidden=(),
        likelihood="gaussian",
        fixed_log_var=float(np.log(sigma2)),
    )
    model = vae.make_vae(config)
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 5))
    # Untrained: the encoder's posterior is far from the true one, so the bounds differ widely.
    params = _random_params(model, {"image": x})
    exact = float(
        np.mean(_linear_gaussian_marginal(params, sigma2).logpdf(np.asarray(x, np.float64)))
    )
    draws = jax.random.split(jax.random.PRNGKey(2), 400)
    log_px, kl = jax.jit(jax.vmap(lambda k: vae.elbo_terms(config, params, k, x)))(draws)
    elbo = float(jnp.mean(log_px - kl))
    iwae_1 = jax.jit(jax.vmap(lambda k: jnp.mean(vae.iwae_bound(config, params, k, x, 1, 1))))(
        draws
    )
    # Both are 400-draw averages of the same estimator, each with a standard error near 0.2 nats.
    assert float(jnp.mean(iwae_1)) == pytest.approx(elbo, abs=1.0)
    bound = jax.jit(
        lambda k: jnp.mean(
            vae.iwae_bound(config, params, jax.random.PRNGKey(3), x, k, min(k, 500))
        ),
        static_argnums=0,
    )
    bounds = [float(bound(k)) for k in (10, 100, 5000)]
    assert all(b2 >= b1 - 0.02 for b1, b2 in zip([elbo] + bounds[:-1], bounds, strict=True)), (
        elbo,
        bounds,
    )
    assert bounds[0] > elbo + 5.0, (bounds, elbo)  # the posterior is loose, so the gap is large
    # Never above log p(x) (-8.8 nats); the gap closes as K grows (2.6 nats at K = 10, 0.8 at 5000).
    assert bounds[-1] <= exact + 0.02, (bounds, exact)
    assert exact - bounds[-1] < min(1.2, 0.5 * (exact - bounds[0])), (bounds, exact)


def test_linear_gaussian_vae_reaches_the_ppca_maximum_likelihood():
    rng = np.random.default_rng(0)
    d, q, n, sigma2 = 4, 2, 2000, 0.1
    w_true = rng.normal(size=(d, q))
    x = (
        rng.normal(size=(n, q)) @ w_true.T + 1.0 + np.sqrt(sigma2) * rng.normal(size=(n, d))
    ).astype(np.float32)
    # PPCA maximum likelihood with the noise variance fixed at sigma2: the top-q eigenvalues of the
    # sample covariance above sigma2 are kept, the others set to sigma2 (Tipping & Bishop, 1999).
    s = np.cov(x.T, bias=True)
    lam, u = np.linalg.eigh(s)
    lam_fit = np.concatenate([np.full(d - q, sigma2), np.maximum(lam[-q:], sigma2)])
    mle = float(np.mean(stats.multivariate_normal(x.mean(0), (u * lam_fit) @ u.T).logpdf(x)))

    config = vae.VAEConfig(
        data_shape=(d,),
        latent_dim=q,
        hidden=(),
        likelihood="gaussian",
        fixed_log_var=float(np.log(sigma2)),
        iwae_samples=1000,
        iwae_chunk=500,
    )
    model = vae.make_vae(config)
    state = _fit(model, {"image": x}, 1500, 1e-2, batch_size=200)
    model_exact = float(
        np.mean(_linear_gaussian_marginal(state.params, sigma2).logpdf(x.astype(np.float64)))
    )
    bound = float(
        jnp.mean(
            model.log_prob(
                state.params, state.model_state, {"image": jnp.asarray(x)}, jax.random.PRNGKey(1)
            )
        )
    )
    assert model_exact <= mle + 1e-3, (model_exact, mle)  # nothing beats the maximum
    assert model_exact == pytest.approx(mle, abs=0.03), (model_exact, mle)
    # A linear decoder has a Gaussian posterior with constant covariance, which the affine encoder
    # represents: the bound is nearly tight.
    assert bound <= model_exact + 0.01 and bound == pytest.approx(model_exact, abs=0.05), (
        bound,
        model_exact,
    )


def test_trained_vae_reconstructs_held_out_digits_better_than_the_mean_image():
    train, test = _binary_digits("train"), _binary_digits("test")["image"]
    config = vae.VAEConfig(latent_dim=8, hidden=(128,))
    state = _fit(vae.make_vae(config), {"image": train["image"]}, 300, 3e-3)
    recon = jax.jit(vae.reconstruct, static_argnums=0)(config, state.params, jnp.asarray(test))
    chex.assert_shape(recon, test.shape)
    err_vae = float(jnp.mean((recon - test) ** 2))
    err_mean = float(np.mean((train["image"].mean(0) - test) ** 2))
    assert err_vae < 0.6 * err_mean, (err_vae, err_mean)


@pytest.mark.slow
def test_conv_logistic_vae_reconstructs_and_bounds_held_out_digits():
    def symmetric(split):
        return np.asarray(transforms.to_symmetric(digits.load_digits(split)["image"], 17))

    train, test = symmetric("train"), symmetric("test")
    config = vae.VAEConfig(
        architecture="conv",
        likelihood="logistic",
        latent_dim=16,
        kl_warmup_steps=300,
        iwae_samples=200,
        iwae_chunk=100,
    )
    model = vae.make_vae(config)
    state = _fit(model, {"image": train}, 2000, 1e-3, steps_per_call=1)
    recon = vae.reconstruct(config, state.params, jnp.asarray(test))
    err_vae = float(jnp.mean((recon - test) ** 2))
    err_mean = float(np.mean((train.mean(0) - test) ** 2))
    assert err_vae < 0.5 * err_mean, (err_vae, err_mean)
    nll = -float(
        jnp.mean(
            model.log_prob(
                state.params, state.model_state, {"image": jnp.asarray(test)}, jax.random.PRNGKey(0)
            )
        )
    )
    # 64 pixels of 17 levels: uniform is 64 log 17 = 181 nats; the model must do far better.
    assert nll < 120.0, nll


def test_conditional_vae_uses_its_labels():
    train, test = _binary_digits("train"), _binary_digits("test")
    config = vae.VAEConfig(
        latent_dim=2, hidden=(128,), num_classes=10, iwae_samples=10, iwae_chunk=10
    )
    model = vae.make_vae(config)
    state = _fit(model, train, 300, 3e-3)
    x, y = jnp.asarray(test["image"]), jnp.asarray(test["label"])
    key = jax.random.PRNGKey(0)
    log_prob = jax.jit(
        lambda labels: jnp.mean(
            model.log_prob(state.params, state.model_state, {"image": x, "label": labels}, key)
        )
    )
    right, wrong = float(log_prob(y)), float(log_prob((y + 1) % 10))
    assert right > wrong + 2.0, (right, wrong)
    samples = jax.jit(vae.sample_conditional, static_argnums=0)(
        config, state.params, key, jnp.arange(10)
    )
    chex.assert_shape(samples, (10, 8, 8, 1))
    with pytest.raises(ValueError, match="label"):
        model.log_prob(state.params, state.model_state, {"image": x}, key)


def test_interpolation_ends_at_the_reconstructions():
    config = vae.VAEConfig(likelihood="gaussian", latent_dim=3, hidden=(16,))
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 1), minval=-1.0, maxval=1.0)
    params = _random_params(vae.make_vae(config), {"image": x})
    path, recon = jax.jit(
        lambda p: (vae.interpolate(config, p, x[:1], x[1:], 5), vae.reconstruct(config, p, x))
    )(params)
    chex.assert_trees_all_close(path[jnp.array([0, 4])], recon, atol=1e-5)
    assert float(jnp.max(jnp.abs(path[2] - path[0]))) > 1e-4  # the middle differs from the ends


def test_kl_warmup_ramps_beta_and_bad_config_is_rejected():
    config = vae.VAEConfig(latent_dim=2, hidden=(8,), kl_warmup_steps=10, beta=2.0)
    model = vae.make_vae(config)
    batch = {"image": jnp.zeros((4, 8, 8, 1))}
    params = _random_params(model, batch)
    loss_fn = jax.jit(model.loss)
    step0 = {"step": jnp.zeros((), jnp.int32)}
    loss0, (m0, s1) = loss_fn(params, step0, batch, jax.random.PRNGKey(1))
    loss5, (m5, _) = loss_fn(
        params, {"step": jnp.asarray(5, jnp.int32)}, batch, jax.random.PRNGKey(1)
    )
    assert (
        float(m0["beta"]) == 0.0
        and float(m5["beta"]) == pytest.approx(1.0)
        and int(s1["step"]) == 1
    )
    assert float(loss0) == pytest.approx(float(m0["recon"]), rel=1e-6)
    assert float(loss5) == pytest.approx(float(m5["recon"] + m5["kl"]), rel=1e-6)
    assert float(m0["neg_elbo"]) == pytest.approx(float(m0["recon"] + m0["kl"]), rel=1e-6)
    for bad, match in (
        ({"likelihood": "poisson"}, "likelihood"),
        ({"architecture": "resnet"}, "architecture"),
        ({"iwae_samples": 10, "iwae_chunk": 3}, "iwae_chunk"),
        ({"architecture": "conv", "channels": (8, 8, 8, 8)}, "divisible"),
    ):
        with pytest.raises(ValueError, match=match):
            vae.VAEConfig(**bad)


def _scipy_discretized_logistic_pmf(mean, log_scale, levels):
    """P(level) of the discretized logistic from scipy's logistic CDF, [..., levels], float64."""
    grid = np.linspace(-1.0, 1.0, levels)
    h = 1.0 / (levels - 1)
    cdf = stats.logistic(loc=mean[..., None], scale=np.exp(log_scale)[..., None]).cdf
    upper = np.where(grid >= 1.0 - h / 2, 1.0, cdf(grid + h))
    lower = np.where(grid <= -1.0 + h / 2, 0.0, cdf(grid - h))
    return grid, upper - lower


@pytest.mark.parametrize("levels", [2, 3, 17, 256])
def test_discretized_logistic_mean_and_mode_match_scipy(levels):
    rng = np.random.default_rng(levels)
    # Locations beyond the edges and scales from a fraction of a bin to wider than the interval.
    mean = rng.uniform(-1.6, 1.6, size=400)
    log_scale = rng.uniform(-6.0, 1.0, size=400)
    grid, pmf = _scipy_discretized_logistic_pmf(mean, log_scale, levels)
    got_mean = discretized_logistic_mean(jnp.asarray(mean, jnp.float32), jnp.asarray(log_scale, jnp.float32), levels)
    np.testing.assert_allclose(np.asarray(got_mean), pmf @ grid, atol=2e-5)
    got_mode = np.asarray(
        discretized_logistic_mode(jnp.asarray(mean, jnp.float32), jnp.asarray(log_scale, jnp.float32), levels)
    )
    # Where two levels are within float32 rounding of each other, either is the mode.
    top2 = np.sort(pmf, -1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    np.testing.assert_allclose(got_mode[clear], grid[np.argmax(pmf, -1)][clear], atol=1e-6)
    assert clear.mean() > 0.95
    # The edge bins hold the tails: a wide logistic inside the interval has its mean pulled to the
    # centre, so the mean is not the location clipped to [-1, 1].
    wide = discretized_logistic_mean(jnp.asarray(-0.9), jnp.asarray(0.0), levels)
    assert float(wide) > -0.7


def _logistic_vae(sample_output):
    config = vae.VAEConfig(likelihood="logistic", levels=17, latent_dim=3, hidden=(16,),
                           sample_output=sample_output)
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 1), minval=-1.0, maxval=1.0)
    model = vae.make_vae(config)
    return config, model, _random_params(model, {"image": x})


def test_sample_returns_the_decoders_mean_mode_or_draw_as_configured():
    key = jax.random.PRNGKey(3)
    n = 4000
    config, model, params = _logistic_vae("mean")
    # The sample's z: the first half of the key's split, as Model.sample draws it.
    z = jax.random.normal(jax.random.split(key)[0], (n, config.latent_dim))
    out = np.asarray(vae.decode_params(config, params, z), np.float64)
    loc, log_scale = out[..., :1], np.maximum(out[..., 1:], -7.0)
    grid, pmf = _scipy_discretized_logistic_pmf(loc, log_scale, 17)
    samples = {
        s: np.asarray(jax.jit(vae.make_vae(_logistic_vae(s)[0]).sample, static_argnums=3)(params, {}, key, n))
        for s in vae.SAMPLE_OUTPUTS
    }
    np.testing.assert_allclose(samples["mean"], pmf @ grid, atol=2e-5)
    np.testing.assert_allclose(samples["mode"], grid[np.argmax(pmf, -1)], atol=1e-6)
    draw = samples["draw"]
    assert np.allclose(draw * 8, np.round(draw * 8), atol=1e-5)  # on the 17-level grid
    # Draws are exact: the level frequencies over all pixels match the averaged scipy pmf
    # (chi-square, 16 dof; p < 1e-3 would fail).
    counts = np.bincount(np.round((draw.ravel() + 1) * 8).astype(int), minlength=17)
    expected = pmf.reshape(-1, 17).sum(0)
    keep = expected > 5
    chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3
    with pytest.raises(ValueError, match="sample_output"):
        vae.VAEConfig(sample_output="median")


def test_active_units_and_kl_per_dimension():
    rng = np.random.default_rng(0)
    n = 20000
    # Posterior means whose variance over the data is 0.5, 0.02, 0.005 and 0 per dimension.
    std = np.sqrt([0.5, 0.02, 0.005, 0.0])
    mean = jnp.asarray(rng.normal(size=(n, 4)) * std + np.array([0.0, 1.0, -1.0, 0.3]), jnp.float32)
    np.testing.assert_array_equal(np.asarray(vae.active_units(mean)), [True, True, False, False])
    np.testing.assert_array_equal(np.asarray(vae.active_units(mean, threshold=0.001)), [True, True, True, False])
    with pytest.raises(ValueError, match="N >= 2"):
        vae.active_units(mean[:1])
    log_var = jnp.asarray(rng.normal(size=(n, 4)) * 0.3 - 1.0, jnp.float32)
    per_dim = np.asarray(vae.kl_per_dimension(mean, log_var))
    m, lv = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
    np.testing.assert_allclose(per_dim, (0.5 * (m**2 + np.exp(lv) - 1 - lv)).mean(0), rtol=1e-5)
    assert per_dim.sum() == pytest.approx(float(jnp.mean(gaussian_kl(mean, log_var))), rel=1e-5)


def test_kl_to_a_full_covariance_prior_matches_the_closed_form():
    rng = np.random.default_rng(0)
    z_dim = 3
    mean, log_var = rng.normal(size=(5, z_dim)), rng.normal(size=(5, z_dim)) * 0.5
    a = rng.normal(size=(z_dim, z_dim))
    cov_p, mu_p = a @ a.T + 0.5 * np.eye(z_dim), rng.normal(size=z_dim)
    got = gaussian_kl_full_prior(jnp.asarray(mean, jnp.float32), jnp.asarray(log_var, jnp.float32),
                                 jnp.asarray(mu_p, jnp.float32), jnp.asarray(np.linalg.cholesky(cov_p), jnp.float32))
    inv = np.linalg.inv(cov_p)
    expected = [
        0.5 * (np.trace(inv @ np.diag(np.exp(lv))) + (mu_p - m) @ inv @ (mu_p - m) - z_dim
               + np.linalg.slogdet(cov_p)[1] - lv.sum())
        for m, lv in zip(mean, log_var, strict=True)
    ]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4)


def test_fitted_prior_tracks_the_aggregate_posterior_and_its_bound_stays_below_log_px():
    sigma2 = 0.3
    config = vae.VAEConfig(data_shape=(5,), latent_dim=2, hidden=(), likelihood="gaussian",
                           fixed_log_var=float(np.log(sigma2)), prior="gaussian", prior_decay=0.0)
    model = vae.make_vae(config)
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 5)) + 0.5
    params = _random_params(model, {"image": x})
    state = model.init(jax.random.PRNGKey(0), {"image": x})["state"]
    # decay 0: one loss call sets the prior to the batch's aggregate-posterior moments.
    _, (_, state) = jax.jit(model.loss)(params, state, {"image": x}, jax.random.PRNGKey(1))
    m, lv = (np.asarray(a, np.float64) for a in vae.encode(config, params, x))
    np.testing.assert_allclose(np.asarray(state["prior"]["mean"]), m.mean(0), rtol=1e-4, atol=1e-5)
    cov = np.cov(m, rowvar=False, bias=True) + np.diag(np.exp(lv).mean(0))
    np.testing.assert_allclose(np.asarray(state["prior"]["cov"]), cov, rtol=1e-4, atol=1e-5)
    # With the prior N(mu, S) the linear-Gaussian marginal is N(W mu + b, W S W^T + sigma2 I).
    dense = params["decoder"]["mlp"]["dense_0"]
    w, b = np.asarray(dense["kernel"], np.float64).T, np.asarray(dense["bias"], np.float64)
    mu, s = np.asarray(state["prior"]["mean"], np.float64), np.asarray(state["prior"]["cov"], np.float64)
    exact = stats.multivariate_normal(w @ mu + b, w @ s @ w.T + sigma2 * np.eye(5)).logpdf(np.asarray(x, np.float64))
    with_prior = {**params, "prior": state["prior"]}
    bound = jax.jit(
        lambda k: jnp.mean(vae.iwae_bound(config, with_prior, jax.random.PRNGKey(2), x, k, min(k, 500))),
        static_argnums=0,
    )
    bounds = [float(bound(k)) for k in (10, 5000)]
    # A bound on the fitted prior's log p(x) that tightens with K (the untrained encoder keeps a gap).
    assert bounds[1] <= float(exact.mean()) + 0.02 and bounds[1] > bounds[0] + 1.0, (bounds, exact.mean())
    # The fitted prior at N(0, I) gives the standard prior's bound, draw for draw.
    standard = dataclasses.replace(config, prior="standard")
    unit = {**params, "prior": {"mean": jnp.zeros(2), "cov": jnp.eye(2)}}
    np.testing.assert_allclose(
        np.asarray(vae.iwae_bound(config, unit, jax.random.PRNGKey(2), x, 100, 100)),
        np.asarray(vae.iwae_bound(standard, params, jax.random.PRNGKey(2), x, 100, 100)),
        rtol=1e-5,
    )
    samples = np.asarray(jax.jit(model.sample, static_argnums=3)(params, state, jax.random.PRNGKey(3), 20000))
    # Samples are clip(W z + b) with z ~ N(mu, S): their mean matches numpy's draws of the same
    # (standard errors below 0.01).
    z = np.random.default_rng(0).multivariate_normal(mu, s, size=20000)
    np.testing.assert_allclose(samples.mean(0), np.clip(z @ w.T + b, -1, 1).mean(0), atol=0.03)
    with pytest.raises(ValueError, match="prior"):
        vae.VAEConfig(prior="vamp")
