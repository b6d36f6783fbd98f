"""VAEs: the analytic KL, the IWAE bound's ordering, a linear-Gaussian VAE against exact PPCA, and
reconstruction on held-out digits."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.data import batching, digits
from genjax.losses import gaussian_kl
from genjax.models import vae


def test_analytic_kl_matches_monte_carlo():
    mean = jnp.array([[0.5, -1.0, 2.0]])
    log_var = jnp.array([[0.3, -0.7, 0.1]])
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.PRNGKey(0), (200000, 3))
    log_q = -0.5 * jnp.sum((z - mean) ** 2 / jnp.exp(log_var) + log_var + jnp.log(2 * jnp.pi), -1)
    log_p = -0.5 * jnp.sum(z**2 + jnp.log(2 * jnp.pi), -1)
    mc = float(jnp.mean(log_q - log_p))
    assert float(gaussian_kl(mean, log_var)[0]) == pytest.approx(mc, abs=0.02)  # MC standard error ~0.006


def _binary_digits():
    return {"image": (digits.load_digits("train")["image"] > 8).astype(np.float32)}


def test_iwae_bound_is_above_the_elbo_and_grows_with_k():
    config = vae.VAEConfig(latent_dim=4, hidden=(64,), iwae_chunk=10, iwae_samples=10)
    model = vae.make_vae(config)
    data = _binary_digits()
    state = training.fit(model, optax.adam(1e-3), batching.epoch_batches(data, 64, 0), key=jax.random.PRNGKey(0),
                         num_steps=200, progress=False)
    x = jnp.asarray(data["image"][:100])
    log_px, kl = jax.jit(jax.vmap(lambda k: jnp.mean(jnp.stack(vae.elbo_terms(config, state.params, k, x)), axis=1)))(
        jax.random.split(jax.random.PRNGKey(1), 50)).T
    elbo = float(jnp.mean(log_px - kl))
    bound = jax.jit(lambda k: jnp.mean(vae.iwae_bound(config, state.params, jax.random.PRNGKey(2), x, k, min(k, 100))),
                    static_argnums=0)
    bounds = [float(bound(k)) for k in (1, 10, 100, 1000)]
    assert bounds[0] == pytest.approx(elbo, abs=0.3)  # K = 1 is the ELBO (50-draw MC of it here)
    assert all(b2 >= b1 - 0.02 for b1, b2 in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] > elbo + 0.3


def test_linear_gaussian_vae_approaches_the_exact_ppca_likelihood():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 2)).astype(np.float32)
    sigma2 = 0.1
    x = (rng.normal(size=(2000, 2)) @ w.T + np.sqrt(sigma2) * rng.normal(size=(2000, 4))).astype(np.float32)
    cov = w @ w.T + sigma2 * np.eye(4)
    exact = float(np.mean(-0.5 * np.einsum("bi,ij,bj->b", x, np.linalg.inv(cov), x) - 0.5 * np.log(np.linalg.det(2 * np.pi * cov))))
    config = vae.VAEConfig(data_shape=(4,), latent_dim=2, hidden=(), likelihood="gaussian",
                           fixed_log_var=float(np.log(sigma2)), iwae_samples=500, iwae_chunk=250)
    model = vae.make_vae(config)
    state = training.fit(model, optax.adam(1e-2), batching.epoch_batches({"image": x}, 200, 0),
                         key=jax.random.PRNGKey(0), num_steps=2000, progress=False)
    bound = float(jnp.mean(model.log_prob(state.params, state.model_state, {"image": jnp.asarray(x[:500])},
                                          jax.random.PRNGKey(1))))
    ref = float(np.mean(-0.5 * np.einsum("bi,ij,bj->b", x[:500], np.linalg.inv(cov), x[:500])
                        - 0.5 * np.log(np.linalg.det(2 * np.pi * cov))))
    # A linear decoder with the true noise level can represent PPCA exactly; the IWAE-500 bound of
    # the trained model lands within 0.1 nats of the true model's log-likelihood (about -5.3).
    assert abs(bound - ref) < 0.1, (bound, ref, exact)


def test_trained_vae_reconstructs_held_out_digits_better_than_the_mean_image():
    data = _binary_digits()
    test = (digits.load_digits("test")["image"] > 8).astype(np.float32)
    config = vae.VAEConfig(latent_dim=8, hidden=(128,))
    model = vae.make_vae(config)
    state = training.fit(model, optax.adam(2e-3), batching.epoch_batches(data, 64, 0), key=jax.random.PRNGKey(0),
                         num_steps=600, progress=False)
    recon = vae.reconstruct(config, state.params, jnp.asarray(test))
    err_vae = float(jnp.mean((recon - test) ** 2))
    err_mean = float(np.mean((data["image"].mean(0) - test) ** 2))
    assert err_vae < 0.6 * err_mean, (err_vae, err_mean)


def test_kl_warmup_ramps_beta_and_bad_config_is_rejected():
    config = vae.VAEConfig(latent_dim=2, hidden=(8,), kl_warmup_steps=10, beta=2.0)
    model = vae.make_vae(config)
    batch = {"image": jnp.zeros((4, 8, 8, 1))}
    variables = model.init(jax.random.PRNGKey(0), batch)
    _, (m0, s1) = model.loss(variables["params"], variables["state"], batch, jax.random.PRNGKey(1))
    _, (m5, _) = model.loss(variables["params"], {"step": jnp.asarray(5)}, batch, jax.random.PRNGKey(1))
    assert float(m0["beta"]) == 0.0 and float(m5["beta"]) == pytest.approx(1.0) and int(s1["step"]) == 1
    with pytest.raises(ValueError, match="likelihood"):
        vae.VAEConfig(likelihood="poisson")
