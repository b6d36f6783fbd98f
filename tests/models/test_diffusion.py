"""Diffusion models: training on a 2-D toy, the VP/EDM parameterisations, and the UNet."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.data import toy
from genjax.models import diffusion
from genjax.nn.unet import UNet
from genjax.samplers.schedules import make_vp_schedule


def energy_distance(x, y):
    """Szekely's energy distance: 0 iff the distributions are equal."""
    d = lambda a, b: np.mean(np.linalg.norm(a[:, None] - b[None], axis=-1))
    return 2 * d(x, y) - d(x, x) - d(y, y)


@pytest.mark.parametrize("kind", ["edm", pytest.param("vp", marks=pytest.mark.slow)])
def test_short_training_on_two_moons_lowers_the_loss_and_beats_noise(kind):
    # VP uses the linear schedule: the cosine schedule's last abar (2e-9) amplifies a learned noise
    # prediction's error 2e4-fold in the first DDIM step unless the x0 prediction is clipped.
    config = diffusion.DiffusionConfig(kind=kind, data_shape=(2,), network="mlp", mlp_hidden=128, sample_steps=32,
                                       num_timesteps=200, schedule="linear", levels=0, sigma_data=0.7)
    model = diffusion.make_diffusion(config)
    data = lambda step: {"x": toy.sample_toy("two_moons", jax.random.fold_in(jax.random.PRNGKey(0), step), 256)}
    state = training.fit(model, optax.adam(2e-3), data, key=jax.random.PRNGKey(1), num_steps=800,
                         progress=False, ema_decay=0.99)
    k = jax.random.PRNGKey(2)
    first = float(model.loss(training.create_train_state(model, optax.adam(1e-3), jax.random.PRNGKey(1), data(0)).params,
                             {}, data(10**6), k)[0])
    last = float(model.loss(state.params, {}, data(10**6), k)[0])
    assert last < 0.7 * first
    samples = np.asarray(jax.jit(lambda key: model.sample(state.ema_params, {}, key, 1000))(jax.random.PRNGKey(3)))
    fresh = np.asarray(toy.sample_toy("two_moons", jax.random.PRNGKey(9), 1000))
    noise = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (1000, 2)) * fresh.std(0) + fresh.mean(0))
    # A Gaussian with the data's moments scores about 0.1; trained samples score under a third of it.
    assert energy_distance(samples, fresh) < energy_distance(noise, fresh) / 3


def test_v_prediction_converts_to_the_noise_prediction():
    config = diffusion.DiffusionConfig(kind="vp", data_shape=(2,), network="mlp", prediction="v", num_timesteps=100)
    net = diffusion.make_network(config)
    params = net.init(jax.random.PRNGKey(0), jnp.ones((1, 2)), jnp.ones(1))["params"]
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(1), p.shape), params)
    x, t = jax.random.normal(jax.random.PRNGKey(2), (5, 2)), jnp.arange(5, dtype=jnp.int32) * 20
    v = net.apply({"params": params}, x, t.astype(jnp.float32))
    a = make_vp_schedule(config.schedule, 100).alphas_cumprod[t][:, None]
    # x_t = sqrt(a) x0 + sqrt(1-a) eps and v = sqrt(a) eps - sqrt(1-a) x0 give eps = sqrt(a) v + sqrt(1-a) x_t.
    np.testing.assert_allclose(diffusion.eps_fn(config, params)(x, t), jnp.sqrt(a) * v + jnp.sqrt(1 - a) * x, rtol=1e-5)


def test_edm_denoiser_at_init_is_the_skip_connection():
    config = diffusion.DiffusionConfig(kind="edm", base_channels=8)
    model = diffusion.make_diffusion(config)
    params = model.init(jax.random.PRNGKey(0), {"image": jnp.zeros((2, 8, 8, 1))})["params"]
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 8, 8, 1))
    sigma = jnp.array([0.1, 1.0, 10.0])
    c_skip = 0.25 / (sigma**2 + 0.25)
    np.testing.assert_allclose(diffusion.denoiser(config, params)(x, sigma), c_skip[:, None, None, None] * x, rtol=1e-5)


def test_unet_label_conditioning_and_null_label():
    net = UNet(base_channels=8, channel_mults=(1, 2), attention_resolutions=(4,), num_classes=3)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
    params = net.init(jax.random.PRNGKey(1), x, jnp.ones(2), jnp.zeros(2, jnp.int32))["params"]
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(2), p.shape), params)
    out = lambda y: net.apply({"params": params}, x, jnp.ones(2), y)
    assert float(jnp.abs(out(jnp.array([0, 0])) - out(jnp.array([1, 1]))).max()) > 1e-4
    np.testing.assert_allclose(out(None), out(jnp.array([3, 3])))  # no label = the null label
    with pytest.raises(ValueError, match="not divisible"):
        UNet(channel_mults=(1, 2, 2, 2, 2)).init(jax.random.PRNGKey(0), x, jnp.ones(2))


def test_class_conditional_edm_trains_through_the_train_step():
    config = diffusion.DiffusionConfig(kind="edm", base_channels=8, num_classes=10, sample_steps=3)
    model = diffusion.make_diffusion(config)
    batch = {"image": jax.random.uniform(jax.random.PRNGKey(0), (8, 8, 8, 1), minval=-1, maxval=1),
             "label": jnp.arange(8, dtype=jnp.int32)}
    state = training.fit(model, optax.adam(1e-3), lambda s: batch, key=jax.random.PRNGKey(1), num_steps=3,
                         progress=False)
    x = jax.jit(lambda k: model.sample(state.params, {}, k, 4))(jax.random.PRNGKey(2))
    assert x.shape == (4, 8, 8, 1) and bool(jnp.all(jnp.isfinite(x)))
