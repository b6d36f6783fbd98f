"""The sub-pixel transposed convolution against ``lax.conv_transpose`` and flax's module."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from genjax.nn.conv_transpose import ConvTranspose, conv_transpose

CASES = [
    # (H, W, k_h, k_w, s_h, s_w, padding)
    (7, 7, 4, 4, 2, 2, "SAME"),
    (5, 6, 4, 3, 2, 2, "SAME"),
    (4, 5, 3, 3, 2, 3, "SAME"),
    (6, 4, 5, 2, 3, 2, "VALID"),
    (3, 3, 1, 1, 2, 2, "SAME"),
    (4, 4, 3, 3, 1, 1, "SAME"),
    (5, 5, 4, 4, 2, 2, ((2, 1), (1, 3))),
    (4, 3, 2, 2, 4, 4, "VALID"),
]


@pytest.mark.parametrize("h,w,kh,kw,sh,sw,padding", CASES)
def test_matches_lax_conv_transpose(h, w, kh, kw, sh, sw, padding):
    kx, kk = jax.random.split(jax.random.PRNGKey(h * 100 + kh * 10 + sh))
    x = jax.random.normal(kx, (2, h, w, 3))
    kernel = jax.random.normal(kk, (kh, kw, 3, 5))
    want = lax.conv_transpose(
        x, kernel, (sh, sw), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    got = conv_transpose(x, kernel, (sh, sw), padding)
    chex.assert_shape(got, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gradients_match_lax():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 7, 4))
    kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 4, 6))
    probe = jax.random.normal(jax.random.PRNGKey(2), (3, 14, 14, 6))

    def loss(fn):
        return lambda x, k: jnp.sum(fn(x, k) * probe)

    ref = jax.grad(
        loss(
            lambda x, k: lax.conv_transpose(
                x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
        ),
        (0, 1),
    )(x, kernel)
    got = jax.jit(jax.grad(loss(lambda x, k: conv_transpose(x, k, (2, 2), "SAME")), (0, 1)))(
        x, kernel
    )
    chex.assert_trees_all_close(got, ref, rtol=1e-4, atol=1e-4)


def test_forward_mode_matches_lax():
    keys = jax.random.split(jax.random.PRNGKey(5), 4)
    x, dx = (jax.random.normal(k, (2, 5, 5, 3)) for k in keys[:2])
    kernel, dkernel = (jax.random.normal(k, (4, 4, 3, 2)) for k in keys[2:])

    def ref(x, k):
        return lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    want = jax.jvp(ref, (x, kernel), (dx, dkernel))
    got = jax.jvp(lambda x, k: conv_transpose(x, k, (2, 2), "SAME"), (x, kernel), (dx, dkernel))
    chex.assert_trees_all_close(got, want, rtol=1e-4, atol=1e-4)


def test_second_order_gradients_match_lax():
    x = jax.random.normal(jax.random.PRNGKey(6), (2, 5, 5, 3))
    kernel = jax.random.normal(jax.random.PRNGKey(7), (4, 4, 3, 2))

    def grad_of_input_grad_norm(fn):
        input_grad = lambda k: jax.grad(lambda x: jnp.sum(jnp.sin(fn(x, k))))(x)
        return jax.grad(lambda k: jnp.sum(input_grad(k) ** 2))(kernel)

    want = grad_of_input_grad_norm(
        lambda x, k: lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    )
    got = grad_of_input_grad_norm(lambda x, k: conv_transpose(x, k, (2, 2), "SAME"))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(jnp.abs(want).max()))


def test_module_is_a_drop_in_for_flax():
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 7, 7, 8))
    flax_conv = nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding="SAME")
    ours = ConvTranspose(4, (4, 4), strides=(2, 2), padding="SAME")
    params = flax_conv.init(jax.random.PRNGKey(4), x)
    params = jax.tree.map(lambda p: p + 0.1, params)  # a nonzero bias
    chex.assert_trees_all_equal_shapes(ours.init(jax.random.PRNGKey(4), x), params)
    np.testing.assert_allclose(
        ours.apply(params, x), flax_conv.apply(params, x), rtol=1e-5, atol=1e-5
    )


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="input channels"):
        conv_transpose(jnp.zeros((1, 4, 4, 3)), jnp.zeros((4, 4, 2, 5)), (2, 2))
    with pytest.raises(ValueError, match="padding"):
        conv_transpose(jnp.zeros((1, 4, 4, 3)), jnp.zeros((4, 4, 3, 5)), (2, 2), "FULL")
