"""genjax.data.toy: each 2-D toy against its defining geometry, with stated tolerances."""

import functools

import chex
import jax
import numpy as np
import pytest

from genjax.data import toy


@functools.lru_cache(maxsize=None)
def _draw(name, seed, n):
    # One compiled program per toy is faster than eager op-by-op dispatch.
    return np.asarray(_jitted(name, jax.random.PRNGKey(seed), n))


_jitted = jax.jit(toy.sample_toy, static_argnums=(0, 2))


def test_shapes_for_every_name_and_jit_matches_eager():
    for name in toy.TOY_NAMES:  # abstract evaluation: shapes without compiling four samplers
        out = jax.eval_shape(
            lambda k, name=name: toy.sample_toy(name, k, 64), jax.random.PRNGKey(0)
        )
        assert out.shape == (64, 2) and out.dtype == np.float32
    f = _jitted
    x = f("eight_gaussians", jax.random.PRNGKey(0), 64)
    chex.assert_shape(x, (64, 2))
    np.testing.assert_allclose(
        x, toy.sample_toy("eight_gaussians", jax.random.PRNGKey(0), 64), atol=1e-5
    )
    assert not np.allclose(x, f("eight_gaussians", jax.random.PRNGKey(1), 64))


def test_eight_gaussians_modes_balanced_centred_and_tight():
    x = _draw("eight_gaussians", 0, 8000)
    centers, std = toy.EIGHT_GAUSSIANS_CENTERS, toy.EIGHT_GAUSSIANS_STD
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0, rtol=1e-6)
    d = np.linalg.norm(x[:, None] - centers[None], axis=-1)
    nearest = d.argmin(1)
    counts = np.bincount(nearest, minlength=8)
    assert counts.min() > 850 and counts.max() < 1150  # 1000 each, binomial sd ~30
    for k in range(8):  # each mode's mean within 5 standard errors (std / sqrt(850)) of its centre
        np.testing.assert_allclose(x[nearest == k].mean(0), centers[k], atol=5 * std / np.sqrt(850))
        np.testing.assert_allclose(x[nearest == k].std(0), std, rtol=0.1)
    assert np.mean(d.min(1) < 3 * std) > 0.98  # 2-D Gaussian: P(r < 3 sd) = 1 - e^-4.5 = 0.989


def _arc_distance(x, centre, upper_half):
    """Distance from points to a unit half circle about ``centre`` (upper or lower half)."""
    v = x - centre
    on_side = v[:, 1] >= 0 if upper_half else v[:, 1] <= 0
    to_circle = np.abs(np.linalg.norm(v, axis=1) - 1)
    to_ends = np.minimum(np.linalg.norm(v - [1, 0], axis=1), np.linalg.norm(v + [1, 0], axis=1))
    return np.where(on_side, to_circle, to_ends)


def test_two_moons_lie_on_two_unit_half_circles():
    x = _draw("two_moons", 1, 4000)
    # Upper moon: the upper unit half circle about (0, 0); lower: the lower one about (1, 0.5).
    d_upper = _arc_distance(x, np.array([0.0, 0.0]), True)
    d_lower = _arc_distance(x, np.array([1.0, 0.5]), False)
    upper = d_upper < d_lower
    assert np.mean(np.minimum(d_upper, d_lower) < 0.15) > 0.99  # noise sd 0.05: 3 sd
    assert abs(upper.mean() - 0.5) < 0.03  # both moons equally likely (sd 0.008)
    angle = np.arctan2(x[upper, 1], x[upper, 0])  # uniform on [0, pi] along the arc
    np.testing.assert_allclose(angle.mean(), np.pi / 2, atol=0.1)  # sd / sqrt(2000) = 0.02


def test_checkerboard_is_uniform_on_the_eight_black_cells():
    x = _draw("checkerboard", 2, 8000)
    assert np.abs(x).max() <= 2.0
    cells = np.floor(x + 2.0).astype(int)
    assert np.all((cells[:, 0] + cells[:, 1]) % 2 == 0)
    counts = np.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16)
    black = [i * 4 + j for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    assert counts[black].min() > 850 and counts[black].max() < 1150  # 1000 each, sd ~30
    within = x - np.floor(x)  # uniform inside a cell: mean 1/2, variance 1/12 per axis
    np.testing.assert_allclose(within.mean(0), 0.5, atol=0.02)
    np.testing.assert_allclose(within.var(0), 1 / 12, atol=0.005)


def test_swiss_roll_follows_its_spiral():
    x = _draw("swiss_roll", 3, 2000)
    # The curve (t cos t, t sin t) / 5 for t ~ U[1.5 pi, 4.5 pi], plus isotropic noise sd 0.05.
    t = np.linspace(1.5 * np.pi, 4.5 * np.pi, 1500)  # spacing 0.006 * radius, far below 0.05
    curve = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5.0
    d = np.linalg.norm(x[:, None] - curve[None], axis=-1)
    assert np.mean(d.min(1) < 0.15) > 0.98  # within 3 sd; the arms are 2 pi / 5 = 1.26 apart
    t_hat = t[d.argmin(1)]
    np.testing.assert_allclose(t_hat.mean(), 3 * np.pi, atol=0.15)  # sd / sqrt(n) = 0.06
    np.testing.assert_allclose(t_hat.std(), np.pi * 3 / np.sqrt(12), rtol=0.05)


def test_unknown_toy_lists_valid_choices():
    with pytest.raises(ValueError, match="valid choices: .*two_moons"):
        toy.sample_toy("spirals", jax.random.PRNGKey(0), 10)
