"""genjax.nn.activations.silu against jax.nn.silu: the same values, derivatives to rounding."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from genjax.nn.activations import silu


def test_values_and_derivatives_match_jax_silu_across_the_range():
    x = jnp.concatenate([jnp.linspace(-30.0, 30.0, 2001), jnp.array([-100.0, -1e-3, 0.0, 1e-3, 100.0])])
    np.testing.assert_array_equal(silu(x), jax.nn.silu(x))
    first = jax.vmap(jax.grad(silu))(x)
    # Within float32 rounding of values near 1 (the tanh form saturates where 1 - s < 2^-24).
    chex.assert_trees_all_close(first, jax.vmap(jax.grad(jax.nn.silu))(x), rtol=0, atol=4e-6)
    # The derivative's limits: 0 far left, 1 far right, 1/2 at 0; its minimum -0.0998 near x = -2.40.
    np.testing.assert_allclose(first[-5:], [0.0, 0.4995, 0.5, 0.5005, 1.0], atol=1e-4)
    np.testing.assert_allclose(first.min(), -0.09984, atol=1e-4)
    second = jax.vmap(jax.grad(jax.grad(silu)))(x)
    chex.assert_trees_all_close(second, jax.vmap(jax.grad(jax.grad(jax.nn.silu)))(x), rtol=0, atol=4e-6)
    tangent = jax.random.normal(jax.random.PRNGKey(0), x.shape)
    chex.assert_trees_all_close(jax.jvp(silu, (x,), (tangent,))[1], first * tangent, rtol=1e-6, atol=1e-6)


def test_half_precision_stays_half_precision():
    x = jnp.linspace(-4.0, 4.0, 9, dtype=jnp.bfloat16)
    assert silu(x).dtype == jnp.bfloat16 and jax.grad(lambda x: silu(x).sum())(x).dtype == jnp.bfloat16
