"""Latent diffusion: the autoencoder trains, the latent scale factor lives in the model state, and the
latent model trains and decodes samples."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.models import diffusion, latent_diffusion

CONFIG = latent_diffusion.LatentDiffusionConfig(
    data_shape=(8, 8, 1),
    channels=(8,),
    latent_channels=2,
    diffusion=diffusion.DiffusionConfig(
        kind="edm",
        network="unet",
        base_channels=8,
        channel_mults=(1,),
        sigma_data=1.0,
        sample_steps=4,
        levels=0,
    ),
)


def _images(key, n):
    # Smooth random images in [-1, 1]: a few low-frequency bumps the 2x-downsampled code can hold.
    yy, xx = jnp.meshgrid(jnp.arange(8.0), jnp.arange(8.0), indexing="ij")
    c = jax.random.uniform(key, (n, 2), minval=1.0, maxval=6.0)
    img = jnp.exp(-((yy - c[:, :1, None]) ** 2 + (xx - c[:, 1:, None]) ** 2) / 4.0)
    return (2.0 * img - 1.0)[..., None]


def test_latent_scale_is_one_over_the_std_of_the_latent_means():
    x = _images(jax.random.PRNGKey(0), 64)
    ae = latent_diffusion.make_autoencoder(CONFIG)
    # Random parameters of the right shapes (compiling the initializers costs more than the test).
    shapes = jax.eval_shape(ae.init, jax.random.PRNGKey(1), {"image": x})["params"]
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda s: jnp.asarray(0.3 * rng.standard_normal(s.shape), s.dtype), shapes
    )
    mean = np.asarray(latent_diffusion.encode(CONFIG, params, x)[0], np.float64)
    assert mean.shape == (64, 4, 4, 2)
    np.testing.assert_allclose(
        float(latent_diffusion.latent_scale(CONFIG, params, x)), 1.0 / mean.std(), rtol=1e-4
    )


@pytest.mark.slow
def test_autoencoder_trains_and_the_scale_factor_is_stored_in_the_state():
    x = _images(jax.random.PRNGKey(0), 256)
    ae = latent_diffusion.make_autoencoder(CONFIG)
    opt = optax.adam(3e-3)
    start = training.create_train_state(ae, opt, jax.random.PRNGKey(1), {"image": x})
    state = training.fit(
        ae, opt, lambda s: {"image": x}, key=jax.random.PRNGKey(1), num_steps=150, progress=False
    )
    loss = jax.jit(lambda p: ae.loss(p, {}, {"image": x}, jax.random.PRNGKey(2))[1][0]["recon_mse"])
    assert float(loss(state.params)) < 0.3 * float(loss(start.params))

    model = latent_diffusion.make_latent_diffusion(CONFIG, state.params)
    ld_state = training.create_train_state(model, opt, jax.random.PRNGKey(3), {"image": x})
    mean, _ = latent_diffusion.encode(CONFIG, state.params, x)
    scale = float(ld_state.model_state["scale"])
    np.testing.assert_allclose(scale, 1.0 / np.std(np.asarray(mean)), rtol=1e-4)
    # The scaled latents the diffusion model sees have unit standard deviation.
    np.testing.assert_allclose(np.std(np.asarray(mean) * scale), 1.0, rtol=1e-4)

    step = training.compile_step(training.make_train_step(model, opt))
    for _ in range(3):
        ld_state, _ = step(ld_state, {"image": x[:64]}, jax.random.PRNGKey(4))
    assert float(ld_state.model_state["scale"]) == scale  # not trained
    samples = jax.jit(lambda k: model.sample(ld_state.params, ld_state.model_state, k, 4))(
        jax.random.PRNGKey(5)
    )
    assert samples.shape == (4, 8, 8, 1) and float(jnp.abs(samples).max()) <= 1.0


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="divisible"):
        latent_diffusion.LatentDiffusionConfig(data_shape=(6, 6, 1), channels=(8, 8))
