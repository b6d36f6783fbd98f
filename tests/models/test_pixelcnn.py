"""PixelCNN: causality by Jacobians (and the blind spot of the plain model), normalisation and
sampling against enumeration on 2x2 binary images, and completion."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.data import digits, transforms
from genjax.models import pixelcnn


def _perturbed_params(config, key, scale=0.3):
    net = pixelcnn.PixelCNN(config)
    x = jnp.zeros((1,) + config.data_shape)
    params = net.init(key, x)["params"]
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    return net, jax.tree.unflatten(tree, [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


@functools.lru_cache(maxsize=None)
def _dependency(config, seed=0):
    """``dep[p, q]``: |d logits at position p / d input at position q| summed (raster positions)."""
    net, params = _perturbed_params(config, jax.random.PRNGKey(seed))
    h, w, c = config.data_shape
    x = jax.random.uniform(jax.random.PRNGKey(seed + 7), (1, h, w, c), minval=-1, maxval=1)
    jac = jax.jit(jax.jacrev(lambda y: net.apply({"params": params}, y).sum(-1)))(x)  # [1, H, W, C, 1, H, W, C]
    return np.abs(np.asarray(jac)).reshape(h * w, h * w).T if c == 1 else None


@pytest.mark.parametrize("variant", ["pixelcnn", "gated"])
def test_outputs_never_depend_on_the_current_or_later_pixels(variant):
    config = pixelcnn.PixelCNNConfig(variant=variant, data_shape=(5, 5, 1), levels=4, features=8, num_layers=3)
    dep = _dependency(config)  # dep[q, p]: input q -> output p
    n = dep.shape[0]
    later_or_same = np.triu(np.ones((n, n), bool))  # q >= p
    assert np.all(dep.T[later_or_same] == 0.0)


def test_gated_model_has_no_blind_spot_and_the_plain_one_does():
    gated = _dependency(pixelcnn.PixelCNNConfig(variant="gated", data_shape=(5, 5, 1), levels=4, features=8,
                                                num_layers=3)).T
    plain = _dependency(pixelcnn.PixelCNNConfig(variant="pixelcnn", data_shape=(5, 5, 1), levels=4, features=8,
                                                num_layers=3)).T
    earlier = np.tril(np.ones((25, 25), bool), -1)  # q < p
    assert np.all(gated[earlier] > 0.0)  # every earlier pixel reaches every output
    assert np.any(plain[earlier] == 0.0)  # the stacked 3x3 masks miss the upper right: the blind spot


def _all_binary_images():
    return jnp.asarray(list(itertools.product([0.0, 1.0], repeat=4)), jnp.float32).reshape(16, 2, 2, 1) * 2 - 1


@pytest.mark.parametrize("variant", ["pixelcnn", "gated"])
def test_probabilities_of_all_2x2_binary_images_sum_to_one_and_samples_match(variant):
    config = pixelcnn.PixelCNNConfig(variant=variant, data_shape=(2, 2, 1), levels=2, features=8, num_layers=1)
    model = pixelcnn.make_pixelcnn(config)
    _, params = _perturbed_params(config, jax.random.PRNGKey(3), scale=1.0)
    probs = np.exp(np.asarray(model.log_prob(params, {}, {"image": _all_binary_images()}, None), np.float64))
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    samples = jax.jit(lambda k: model.sample(params, {}, k, 20000))(jax.random.PRNGKey(4))
    bits = np.asarray((samples.reshape(-1, 4) + 1) / 2).astype(int)
    empirical = np.bincount(bits @ np.array([8, 4, 2, 1]), minlength=16) / 20000
    # Total variation of 20,000 draws from a 16-outcome distribution: expected about 0.01.
    assert 0.5 * np.abs(empirical - probs).sum() < 0.03


def test_completion_keeps_the_given_rows_and_samples_the_rest_on_the_grid():
    config = pixelcnn.PixelCNNConfig(variant="gated", data_shape=(8, 8, 1), levels=17, features=8, num_layers=1)
    _, params = _perturbed_params(config, jax.random.PRNGKey(5))
    images = transforms.to_symmetric(digits.load_digits("test")["image"][:4], 17)
    done = jax.jit(lambda k: pixelcnn.complete(config, params, k, images, 4))(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(done[:, :4], images[:, :4])
    assert not np.array_equal(np.asarray(done[:, 4:]), np.asarray(images[:, 4:]))
    grid = np.linspace(-1, 1, 17)
    assert np.all(np.min(np.abs(np.asarray(done)[..., None] - grid), -1) < 1e-5)  # values on the data grid


@pytest.mark.slow
def test_training_on_digits_lowers_the_nll():
    config = pixelcnn.PixelCNNConfig(variant="gated", data_shape=(8, 8, 1), levels=17, features=16, num_layers=2)
    model = pixelcnn.make_pixelcnn(config)
    train = transforms.to_symmetric(digits.load_digits("train")["image"], 17)
    data = lambda s: {"image": train[(s * 64) % 1344:(s * 64) % 1344 + 64]}
    state = training.fit(model, optax.adam(2e-3), data, key=jax.random.PRNGKey(0), num_steps=300, progress=False)
    first = float(model.loss(model.init(jax.random.PRNGKey(0), data(0))["params"], {}, data(0), None)[0])
    assert float(model.loss(state.params, {}, data(0), None)[0]) < 0.6 * first
