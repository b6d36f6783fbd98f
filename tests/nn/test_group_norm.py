"""genjax.nn.group_norm against Flax's GroupNorm: the same parameters, values, gradients and tangents."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn import blocks
from genjax.nn.group_norm import GroupNorm, group_norm

# One channel per group (the UNet's at 32 channels or fewer), three per group, one group, no
# position axis.
CASES = (((4, 6, 6, 32), 32), ((3, 7, 12), 4), ((2, 3, 3, 6), 1), ((5, 12), 3))


def _params_and_inputs(shape, groups):
    x = 3.0 * jax.random.normal(jax.random.PRNGKey(0), shape) + 1.0  # far from zero mean, unit variance
    params = nn.GroupNorm(num_groups=groups).init(jax.random.PRNGKey(1), x)
    # Perturbed away from the ones / zeros init, so that a swapped scale and bias would show.
    params = jax.tree.map(lambda a: a + jax.random.normal(jax.random.PRNGKey(2), a.shape), params)
    return params, x


@pytest.mark.parametrize("shape, groups", CASES)
def test_values_gradients_and_tangents_match_flax(shape, groups):
    params, x = _params_and_inputs(shape, groups)
    ours, ref = GroupNorm(num_groups=groups), nn.GroupNorm(num_groups=groups)
    chex.assert_trees_all_equal_shapes(ours.init(jax.random.PRNGKey(1), x), params)
    cotangent = jax.random.normal(jax.random.PRNGKey(3), shape)
    loss = lambda m: lambda p, x: jnp.sum(jnp.sin(m.apply(p, x)) * cotangent)
    for wrap in (lambda f: f, jax.jit):
        chex.assert_trees_all_close(wrap(ours.apply)(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-5)
    chex.assert_trees_all_close(jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(params, x),
                                jax.jit(jax.grad(loss(ref), argnums=(0, 1)))(params, x), rtol=1e-4, atol=1e-4)
    tangent = jax.random.normal(jax.random.PRNGKey(4), shape)
    chex.assert_trees_all_close(jax.jvp(lambda x: ours.apply(params, x), (x,), (tangent,))[1],
                                jax.jvp(lambda x: ref.apply(params, x), (x,), (tangent,))[1], rtol=1e-4, atol=1e-4)


def test_half_precision_inputs_are_normalized_in_float32_as_flax_does():
    params, x = _params_and_inputs((2, 8, 8, 16), 8)
    x = (x + 100.0).astype(jnp.bfloat16)  # a large mean: bfloat16 sums of x^2 would lose the variance
    ours, ref = GroupNorm(num_groups=8).apply(params, x), nn.GroupNorm(num_groups=8).apply(params, x)
    assert ours.dtype == ref.dtype == jnp.float32
    chex.assert_trees_all_close(ours, ref, rtol=1e-4, atol=1e-4)
    grad = jax.grad(lambda x: jnp.sum(GroupNorm(num_groups=8).apply(params, x) ** 3))(x)
    assert grad.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(grad)))


def test_each_group_is_normalized_and_the_gradient_is_the_finite_difference():
    x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 8)) + 0.5
    y = group_norm(x, jnp.ones(8), jnp.zeros(8), 4).reshape(2, 16, 4, 2)
    np.testing.assert_allclose(y.mean((1, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var((1, 3)), 1.0, rtol=1e-4)  # epsilon 1e-6 against variance ~4
    f = jax.jit(lambda x: jnp.sum(jnp.cos(group_norm(x, jnp.linspace(0.5, 2.0, 8), jnp.zeros(8), 4))))
    v = jax.random.normal(jax.random.PRNGKey(1), x.shape)
    x64, v64 = np.asarray(x, np.float64), np.asarray(v, np.float64)
    eps = 1e-3
    fd = (f(jnp.asarray(x64 + eps * v64, jnp.float32)) - f(jnp.asarray(x64 - eps * v64, jnp.float32))) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(jax.jit(jax.grad(f))(x), v), fd, rtol=2e-2)


def test_the_blocks_use_it_and_a_bad_group_count_is_named():
    assert isinstance(blocks.group_norm(48), GroupNorm) and blocks.group_norm(48).num_groups == 24
    with pytest.raises(ValueError, match="num_groups=5 must divide the 32 channels"):
        GroupNorm(num_groups=5).init(jax.random.PRNGKey(0), jnp.zeros((1, 2, 2, 32)))
