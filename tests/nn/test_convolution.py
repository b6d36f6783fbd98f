"""genjax.nn.convolution: values, reverse- and forward-mode derivatives equal to
``lax.conv_general_dilated``'s (JAX's own rules are the independent truth), and gradients that
XLA:CPU compiles to canonical convolutions inside a scan."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from genjax.nn.convolution import Conv, conv2d, conv_general_dilated

_NHWC = ("NHWC", "HWIO", "NHWC")
CASES = [  # (kernel, strides, padding)
    ((3, 3), (1, 1), ((1, 1), (1, 1))),
    ((3, 3), (2, 2), ((0, 1), (0, 1))),
    ((4, 4), (2, 2), ((1, 2), (1, 2))),
    ((2, 3), (1, 1), ((1, 0), (1, 1))),  # a PixelCNN-style half kernel, padded above only
    ((1, 1), (1, 1), ((0, 0), (0, 0))),
]


def _arrays(kernel_size, c=3, d=5, size=9):
    kx, kk, kg = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (2, size, size, c))
    k = jax.random.normal(kk, (*kernel_size, c, d))
    return x, k, kg


@pytest.mark.parametrize("kernel_size, strides, padding", CASES)
def test_values_and_both_gradients_equal_lax(kernel_size, strides, padding):
    x, k, kg = _arrays(kernel_size)
    ref = lambda x, k: lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=_NHWC)
    ours = lambda x, k: conv2d(x, k, strides, padding)
    y = ref(x, k)
    np.testing.assert_allclose(ours(x, k), y, rtol=1e-5, atol=1e-5)
    g = jax.random.normal(kg, y.shape)
    ref_dx, ref_dk = jax.vjp(ref, x, k)[1](g)
    dx, dk = jax.vjp(ours, x, k)[1](g)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, ref_dk, rtol=1e-4, atol=1e-4)
    # forward mode (jacfwd log-dets of conv flows go through it)
    tx, tk = jnp.ones_like(x) * 0.3, jnp.flip(k, 0)
    np.testing.assert_allclose(jax.jvp(ours, (x, k), (tx, tk))[1], jax.jvp(ref, (x, k), (tx, tk))[1], rtol=1e-4, atol=1e-4)


def test_second_order_gradient_equals_lax():
    x, k, _ = _arrays((3, 3))
    f = lambda conv: lambda k: jnp.sum(jnp.tanh(conv(x, k)) ** 2)
    ours = f(lambda x, k: conv2d(x, k, (1, 1), ((1, 1), (1, 1))))
    ref = f(lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_NHWC))
    v = jnp.ones_like(k)
    hvp = lambda g: jax.jvp(jax.grad(g), (k,), (v,))[1]
    np.testing.assert_allclose(hvp(ours), hvp(ref), rtol=1e-3, atol=1e-3)


def test_flax_conv_has_nn_conv_params_and_outputs():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    for kwargs in ({}, {"strides": (2, 2)}, {"padding": "VALID"}, {"kernel_dilation": (2, 2)}):
        ref = nn.Conv(4, (3, 3), **kwargs)
        params = ref.init(jax.random.PRNGKey(0), x)
        assert jax.tree.structure(Conv(4, (3, 3), **kwargs).init(jax.random.PRNGKey(0), x)) == jax.tree.structure(params)
        np.testing.assert_allclose(Conv(4, (3, 3), **kwargs).apply(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-5)


def test_other_convolutions_fall_through_to_lax():
    x, k, _ = _arrays((3, 3), c=4, d=4)
    grouped = conv_general_dilated(x, k[:, :, :2], (1, 1), "SAME", dimension_numbers=_NHWC, feature_group_count=2)
    ref = lax.conv_general_dilated(x, k[:, :, :2], (1, 1), "SAME", dimension_numbers=_NHWC, feature_group_count=2)
    np.testing.assert_allclose(grouped, ref, rtol=1e-6)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's canonical convolution layout")
def test_scanned_gradients_compile_to_canonical_convolutions():
    """Inside a while body XLA:CPU leaves JAX's transposed convolutions as they are (a naive loop,
    about 50x slower); ours must come out as ``b01f_01io->b01f`` only."""
    x, k, _ = _arrays((3, 3), c=4, d=4)

    def labels(conv):
        loss = lambda k, x: jnp.sum(conv(jax.nn.relu(conv(x, k)), k) ** 2)

        def body(carry, _):
            return jax.tree.map(lambda a, g: a - 1e-3 * g, carry, jax.grad(loss, (0, 1))(*carry)), None

        hlo = jax.jit(lambda c: lax.scan(body, c, None, length=2)[0]).lower((k, x)).compile().as_text()
        return set(re.findall(r"dim_labels=([\w>-]+)", hlo))

    assert labels(lambda x, k: conv2d(x, k, (1, 1), ((1, 1), (1, 1)))) == {"b01f_01io->b01f"}
    # the failure it prevents: JAX's own rules leave non-canonical convolutions in the loop
    assert len(labels(lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_NHWC))) > 1


def test_a_zero_tangent_adds_no_convolution():
    """An input-only JVP (the kernel's tangent is zero) runs one tangent convolution, not a second
    one in the kernel-gradient layout, and still equals lax's."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 3))
    k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 4))
    x_dot = jax.random.normal(jax.random.PRNGKey(2), x.shape)
    pads = ((1, 1), (1, 1))
    ours = lambda x: conv2d(x, k, (1, 1), pads)
    ref = lambda x: lax.conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    jaxpr = jax.make_jaxpr(lambda x, t: jax.jvp(ours, (x,), (t,)))(x, x_dot)
    assert str(jaxpr).count("conv_general_dilated") == 2  # the primal and the input tangent
    got, expected = jax.jvp(ours, (x,), (x_dot,)), jax.jvp(ref, (x,), (x_dot,))
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-5)
