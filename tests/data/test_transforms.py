"""genjax.data.transforms: each transform against its inverse and its formula; bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import digits, transforms

LEVELS = digits.NUM_LEVELS


@pytest.fixture(scope="module")
def images():
    return digits.load_digits("test")["image"]


def test_symmetric_and_unit_scalings_round_trip_and_hit_the_ends(images):
    sym = transforms.to_symmetric(images, LEVELS)
    np.testing.assert_allclose(sym, images.astype(np.float32) / 8.0 - 1.0, atol=1e-6)  # 2x/16 - 1
    assert float(sym.min()) == -1.0 and float(sym.max()) == 1.0
    np.testing.assert_array_equal(transforms.from_symmetric(sym, LEVELS), images)
    unit = transforms.to_unit(images, LEVELS)
    np.testing.assert_allclose(unit, images / 16.0, atol=1e-6)
    np.testing.assert_array_equal(transforms.from_unit(unit, LEVELS), images)
    # The inverses round to the nearest level and clip values outside the range.
    np.testing.assert_array_equal(
        transforms.from_symmetric(jnp.array([-3.0, 0.06, 1.5]), 17), [0, 8, 16]
    )
    np.testing.assert_array_equal(transforms.from_unit(jnp.array([-0.2, 0.49, 2.0]), 3), [0, 1, 2])


def test_dequantize_is_uniform_in_each_bin_and_quantize_inverts_it(images):
    y = transforms.dequantize(jax.random.PRNGKey(0), images, LEVELS)
    assert y.dtype == jnp.float32 and float(y.min()) >= 0.0 and float(y.max()) < 1.0
    np.testing.assert_array_equal(transforms.quantize(y, LEVELS), images)
    u = np.asarray(y) * LEVELS - images  # the noise: U[0, 1), mean 1/2, variance 1/12
    np.testing.assert_allclose(u.mean(), 0.5, atol=0.005)  # sd / sqrt(23,040) = 0.002
    np.testing.assert_allclose(u.var(), 1 / 12, atol=0.002)


@pytest.mark.parametrize("levels", [2, 17, 22, 256])
@pytest.mark.parametrize("noise", [0.0, float(np.nextafter(np.float32(1), np.float32(0)))])
def test_quantize_inverts_dequantize_at_the_bin_edges(monkeypatch, levels, noise):
    # Float rounding alone sends (x + u) / L * L to x + 1 for u near 1 (15 of 17 levels for L = 17)
    # and, in numpy float32, below x for u = 0 (L = 22); dequantize keeps y inside its bin.
    monkeypatch.setattr(
        jax.random, "uniform", lambda key, shape: jnp.full(shape, noise, jnp.float32)
    )
    x = np.arange(levels, dtype=np.int32)
    y = transforms.dequantize(None, x, levels)
    assert float(y.max()) < 1.0
    np.testing.assert_array_equal(transforms.quantize(y, levels), x)
    np.testing.assert_allclose(y, (x + noise) / levels, atol=1e-6)


def test_binarizations(images):
    b = transforms.binarize(images, 8)
    np.testing.assert_array_equal(b, (images > 8).astype(np.float32))
    assert set(np.unique(b)) == {0.0, 1.0}
    p = jnp.linspace(0.0, 1.0, 11)
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    draws = jax.jit(jax.vmap(lambda k: transforms.stochastic_binarize(k, p)))(keys)
    assert set(np.unique(draws)) == {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(0), p, atol=0.03)  # unbiased; binomial sd <= 0.008
    np.testing.assert_array_equal(draws[:, 0], 0.0)
    np.testing.assert_array_equal(draws[:, -1], 1.0)


def test_one_hot_round_trip():
    labels = np.array([3, 0, 9, 9], np.int32)
    y = transforms.one_hot(labels, 10)
    np.testing.assert_array_equal(y, np.eye(10, dtype=np.float32)[labels])
    np.testing.assert_array_equal(transforms.from_one_hot(y), labels)


def test_transforms_trace_under_jit_without_validation_errors():
    x = jnp.array([[0, 16], [4, 8]], jnp.int32)
    f = jax.jit(
        lambda x, key: (
            transforms.to_symmetric(x, 17),
            transforms.dequantize(key, x, 17),
            transforms.one_hot(x[0] // 2, 10),
        )
    )
    sym, deq, oh = f(x, jax.random.PRNGKey(0))
    np.testing.assert_allclose(sym, x / 8.0 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(transforms.quantize(deq, 17), x)
    np.testing.assert_array_equal(transforms.from_one_hot(oh), [0, 8])
    # Traced values skip the checks (a rank-1 batch would fail them eagerly).
    jax.jit(lambda z: transforms.validate_images(z, low=0, high=1) or z)(jnp.zeros(3))


def test_validate_images_accepts_a_good_batch():
    transforms.validate_images(np.zeros((2, 8, 8, 1), np.float32), low=-1.0, high=1.0)
    transforms.validate_images(np.full((2, 8, 8, 1), 16, np.uint8), low=0, high=16)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: transforms.to_symmetric(np.array([0.5, 1.0]), 17),
            "integer levels, got dtype float",
        ),
        (
            lambda: transforms.to_symmetric(np.array([0, 17]), 17),
            r"0\.\.16, got values in \[0, 17\]",
        ),
        (lambda: transforms.to_unit(np.array([-1, 3]), 17), r"0\.\.16"),
        (
            lambda: transforms.dequantize(jax.random.PRNGKey(0), np.array([0, 256]), 256),
            r"0\.\.255",
        ),
        (lambda: transforms.to_symmetric(np.array([0, 1]), 1), "levels must be >= 2"),
        (lambda: transforms.one_hot(np.array([3, 10]), 10), r"labels must lie in 0\.\.9"),
        (lambda: transforms.one_hot(np.array([0.0, 1.0]), 10), "integer classes"),
        (
            lambda: transforms.stochastic_binarize(jax.random.PRNGKey(0), np.array([1.5])),
            r"\[0, 1\]",
        ),
        (lambda: transforms.validate_images(np.zeros((8, 8, 1)), low=-1, high=1), "rank 4"),
        (
            lambda: transforms.validate_images(np.full((1, 8, 8, 1), 2.0), low=-1, high=1),
            r"\[-1, 1\]",
        ),
        (
            lambda: transforms.validate_images(np.zeros((1, 8, 8, 1), bool), low=0, high=1),
            "numeric",
        ),
    ],
)
def test_bad_input_names_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()
