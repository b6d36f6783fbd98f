"""2-D toy distributions sampled on the fly with ``jax.random`` (jit-friendly; name, n static)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, PRNGKey

__all__ = ["sample_toy", "TOY_NAMES", "EIGHT_GAUSSIANS_CENTERS", "EIGHT_GAUSSIANS_STD"]

TOY_NAMES = ("two_moons", "eight_gaussians", "checkerboard", "swiss_roll")
"""The 2-D distributions ``sample_toy`` draws from."""
EIGHT_GAUSSIANS_RADIUS = 2.0
EIGHT_GAUSSIANS_STD = 0.05
"""Each mode's standard deviation (the mode-coverage metric counts samples within 3 std)."""
EIGHT_GAUSSIANS_CENTERS = np.array(
    [
        [
            EIGHT_GAUSSIANS_RADIUS * math.cos(2 * math.pi * k / 8),
            EIGHT_GAUSSIANS_RADIUS * math.sin(2 * math.pi * k / 8),
        ]
        for k in range(8)
    ],
    np.float32,
)
"""float32 [8, 2]: the modes on a circle of radius 2."""


def _two_moons(key: PRNGKey, n: int, noise: float = 0.05) -> Array:
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,)) * math.pi
    upper = jax.random.bernoulli(k2, 0.5, (n,))
    x = jnp.where(upper, jnp.cos(t), 1.0 - jnp.cos(t))
    y = jnp.where(upper, jnp.sin(t), 0.5 - jnp.sin(t))
    return jnp.stack([x, y], -1) + noise * jax.random.normal(k3, (n, 2))


def _eight_gaussians(key: PRNGKey, n: int) -> Array:
    k1, k2 = jax.random.split(key)
    mode = jax.random.randint(k1, (n,), 0, 8)
    eps = jax.random.normal(k2, (n, 2))
    return jnp.asarray(EIGHT_GAUSSIANS_CENTERS)[mode] + EIGHT_GAUSSIANS_STD * eps


def _checkerboard(key: PRNGKey, n: int) -> Array:
    # Uniform on the 8 "black" unit squares of a 4x4 board over [-2, 2]^2.
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.uniform(k1, (n,), minval=-2.0, maxval=2.0)
    y_in_cell = jax.random.uniform(k2, (n,))
    row_pair = jax.random.randint(k3, (n,), 0, 2)
    parity = jnp.floor(x + 2.0).astype(jnp.int32) % 2
    y = -2.0 + 2.0 * row_pair + parity + y_in_cell
    return jnp.stack([x, y], -1)


def _swiss_roll(key: PRNGKey, n: int, noise: float = 0.05) -> Array:
    k1, k2 = jax.random.split(key)
    t = 1.5 * math.pi * (1.0 + 2.0 * jax.random.uniform(k1, (n,)))
    spiral = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], -1) / 5.0
    return spiral + noise * jax.random.normal(k2, (n, 2))


_SAMPLERS = {
    "two_moons": _two_moons,
    "eight_gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "swiss_roll": _swiss_roll,
}


def sample_toy(name: str, key: PRNGKey, n: int) -> Array:
    """Draws ``n`` points of a 2-D toy distribution.

    Args:
      name: one of :data:`TOY_NAMES`.
      key: PRNG key.
      n: number of points (static).

    Returns:
      float32 [n, 2]. Scales: two moons in about [-1, 2] x [-0.5, 1]; eight Gaussians on a circle of
      radius 2 with std 0.05; checkerboard in [-2, 2]^2; swiss roll in about [-3, 3]^2.

    Raises:
      ValueError: for an unknown name.
    """
    if name not in _SAMPLERS:
        raise ValueError(f"unknown toy dataset {name!r}; valid choices: {list(TOY_NAMES)}")
    return _SAMPLERS[name](key, n).astype(jnp.float32)
