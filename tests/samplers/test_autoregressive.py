"""Pixel-by-pixel sampler against a hand-written autoregressive model whose probabilities are
known by enumeration: joint samples, completion (conditionals, given rows untouched), the
Python-loop equivalent, the logistic-mixture value sampler, and bad arguments."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax.distributions import discretized_logistic_mixture_log_prob
from genjax.samplers import autoregressive as ar

SHAPE = (2, 2, 2)  # H, W, C: 8 binary values, 256 images
D = 8


def _weights():
    rng = np.random.default_rng(0)
    bias = rng.normal(0.0, 1.0, D)
    w = np.tril(rng.normal(0.0, 1.5, (D, D)), -1)  # value t depends on values s < t only
    return bias, w


def _dist_fn(x):
    """Logits [B, H, W, C, 2] of a fully visible sigmoid belief net in the raster/channel order."""
    bias, w = _weights()
    z = jnp.asarray(bias) + x.reshape(x.shape[0], D) @ jnp.asarray(w).T
    return jnp.stack([jnp.zeros_like(z), z], -1).reshape(x.shape + (2,))


def _all_images():
    return np.asarray(
        list(itertools.product([-1.0, 1.0], repeat=D))
    )  # raster/channel order, t fastest last


def _log_probs(images):
    bias, w = _weights()
    z = bias + images @ w.T
    return np.sum(np.where(images > 0, -np.logaddexp(0, -z), -np.logaddexp(0, z)), axis=1)


def _index(images):
    bits = (np.asarray(images).reshape(len(images), -1) > 0).astype(int)
    return bits @ (2 ** np.arange(bits.shape[1])[::-1])


def _tv(samples_idx, probs):
    empirical = np.bincount(samples_idx, minlength=len(probs)) / len(samples_idx)
    return 0.5 * np.abs(empirical - probs).sum()


def test_joint_samples_match_the_enumerated_distribution():
    probs = np.exp(_log_probs(_all_images()))
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    n = 100_000
    run = jax.jit(
        lambda k: ar.sample_autoregressive(
            k, _dist_fn, ar.categorical_sampler(2), jnp.zeros((n,) + SHAPE)
        )
    )
    samples = run(jax.random.PRNGKey(0))
    assert set(np.unique(np.asarray(samples))) <= {-1.0, 1.0}
    # 256 outcomes, 1e5 draws: expected total variation about 0.02 for this target; a wrong order
    # (e.g. channels before columns) gives > 0.1.
    assert _tv(_index(samples), probs) < 0.035


def test_completion_keeps_the_given_rows_and_samples_the_exact_conditional():
    images = _all_images()
    probs = np.exp(_log_probs(images))
    top = np.array([1.0, -1.0, -1.0, 1.0])  # row 0: (pixel 0: c0, c1), (pixel 1: c0, c1)
    rows = np.all(images[:, :4] == top, axis=1)
    conditional = probs[rows] / probs[rows].sum()  # over the 16 bottom rows, in index order
    n = 40_000
    x0 = jnp.broadcast_to(
        jnp.concatenate([jnp.asarray(top), jnp.full((4,), 0.123)]).reshape(SHAPE), (n,) + SHAPE
    )
    out = jax.jit(
        lambda k: ar.sample_autoregressive(k, _dist_fn, ar.categorical_sampler(2), x0, 1)
    )(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(out[:, 0]), np.asarray(x0[:, 0]))
    bottom = np.asarray(out[:, 1]).reshape(n, 4)
    # 16 outcomes, 4e4 draws: expected total variation about 0.01.
    assert _tv(_index(bottom), conditional) < 0.025


def test_fori_loop_equals_a_python_loop_of_steps_with_the_same_keys():
    key = jax.random.PRNGKey(2)
    x0 = jnp.zeros((5,) + SHAPE)
    draw = ar.categorical_sampler(2)
    fast = ar.sample_autoregressive(key, _dist_fn, draw, x0)
    keys = jax.random.split(key, D)
    step = jax.jit(ar.autoregressive_step, static_argnums=(3, 4))
    x = x0
    for t in range(D):
        x = step(keys[t], x, jnp.int32(t), _dist_fn, draw)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(x))


def test_logistic_mixture_sampler_matches_its_log_prob_and_scipy():
    levels = 17
    w = jnp.array([[0.3, -0.5, 1.0]])
    means = jnp.array([[-0.6, 0.1, 0.7]])
    log_scales = jnp.array([[-1.5, -2.5, -1.0]])
    n = 100_000
    params = tuple(jnp.broadcast_to(p, (n, 3)) for p in (w, means, log_scales))
    draws = np.asarray(jax.jit(ar.logistic_mixture_sampler(levels))(jax.random.PRNGKey(3), params))
    grid = np.linspace(-1, 1, levels)
    assert np.all(np.min(np.abs(draws[:, None] - grid), axis=1) < 1e-6)
    counts = np.bincount(np.round((draws + 1) * 8).astype(int), minlength=levels) / n
    # Independent truth: scipy logistic CDFs at the bin edges, float64, edge bins open.
    edges = np.concatenate([[-np.inf], (grid[:-1] + grid[1:]) / 2, [np.inf]])
    weights = np.exp(np.asarray(w[0], np.float64))
    weights /= weights.sum()
    cdf = sum(
        wk * stats.logistic.cdf(edges, loc=float(m), scale=float(np.exp(s)))
        for wk, m, s in zip(weights, means[0], log_scales[0], strict=True)
    )
    pmf = np.diff(cdf)
    logp = jax.vmap(
        lambda x: discretized_logistic_mixture_log_prob(w, means, log_scales, x[None, None], levels)
    )(jnp.asarray(grid, jnp.float32))
    np.testing.assert_allclose(np.exp(np.asarray(logp))[:, 0], pmf, atol=1e-5)
    # 17 outcomes, 1e5 draws: expected total variation about 0.005.
    assert 0.5 * np.abs(counts - pmf).sum() < 0.015


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="start_row"):
        ar.sample_autoregressive(
            jax.random.PRNGKey(0), _dist_fn, ar.categorical_sampler(2), jnp.zeros((1,) + SHAPE), 3
        )
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        ar.sample_autoregressive(
            jax.random.PRNGKey(0), _dist_fn, ar.categorical_sampler(2), jnp.zeros(SHAPE)
        )


def _row_conv_dist_fn(x):
    """Binary logits of a toy convolutional model that reaches R = 2 rows up (and the pixels to the
    left on the current row), with a non-zero value (0.7) padding the image's top and left: the
    windowed sampler must keep the model's own padding where the image starts."""
    pad = jnp.pad(x[..., 0], ((0, 0), (2, 0), (1, 0)), constant_values=0.7)  # [B, H + 2, W + 1]
    up1, up2 = pad[:, 1:-1, 1:], pad[:, :-2, 1:]
    left = pad[:, 2:, :-1]
    z = 0.3 + 1.7 * up1 - 1.3 * up2 + 0.9 * left + 0.4 * jnp.roll(up2, 1, axis=2)
    return jnp.stack([jnp.zeros_like(z), z], -1)[:, :, :, None, :]


def test_row_windows_give_the_whole_image_samples_and_a_short_window_does_not():
    key = jax.random.PRNGKey(5)
    x0 = jnp.zeros((200, 7, 3, 1))
    draw = ar.categorical_sampler(2)
    run = jax.jit(
        lambda k, x, rows: ar.sample_autoregressive(
            k, _row_conv_dist_fn, draw, x, window_rows=rows
        ),
        static_argnums=2,
    )
    full = np.asarray(run(key, x0, None))
    for rows in (3, 4, 7, 50):  # R + 1 = 3 is the smallest exact window; >= H is the whole image
        np.testing.assert_array_equal(np.asarray(run(key, x0, rows)), full)
    # Two rows miss the top padding (0.7 for a real value) at row 2 and x[i - 2] everywhere below.
    assert np.mean(np.asarray(run(key, x0, 2)) != full) > 0.05
    given = x0.at[:, :3].set(full[::-1, :3])  # completion from row 3 on
    done = ar.sample_autoregressive(key, _row_conv_dist_fn, draw, given, 3, window_rows=3)
    np.testing.assert_array_equal(
        np.asarray(done),
        np.asarray(ar.sample_autoregressive(key, _row_conv_dist_fn, draw, given, 3)),
    )


@pytest.mark.parametrize("rows", [0, -2, 2.0, True])
def test_a_bad_window_raises(rows):
    with pytest.raises(ValueError, match="window_rows"):
        ar.sample_autoregressive(
            jax.random.PRNGKey(0),
            _row_conv_dist_fn,
            ar.categorical_sampler(2),
            jnp.zeros((1, 4, 3, 1)),
            window_rows=rows,
        )
