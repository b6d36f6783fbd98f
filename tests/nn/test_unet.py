"""The one time-conditioned UNet, its blocks and embeddings, and the MLP denoiser."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.embeddings import FourierEmbedding, sinusoidal_embedding
from genjax.nn.unet import MLPDenoiser, UNet


def _random_params(net, *args, scale=0.05):
    """Random parameters of the right shapes (numpy-drawn: compiling Flax's initializers takes ~10 s
    on this machine, the forward pass ~1 s)."""
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), *args)["params"]
    rng = np.random.default_rng(0)
    return jax.tree.map(
        lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes
    )


def test_sinusoidal_embedding_matches_its_formula():
    t = jnp.array([0.0, 1.0, 37.5])
    e = np.asarray(sinusoidal_embedding(t, 8))
    f = 10000.0 ** (-np.arange(4) / 4)
    np.testing.assert_allclose(
        e, np.concatenate([np.cos(np.outer(t, f)), np.sin(np.outer(t, f))], 1), rtol=1e-5, atol=1e-6
    )


def test_fourier_embedding_is_fixed_and_has_no_parameters():
    emb = FourierEmbedding(16, scale=2.0)
    variables = emb.init(jax.random.PRNGKey(0), jnp.zeros(3))
    assert not jax.tree.leaves(variables)
    a, b = (
        emb.apply({}, jnp.array([0.3])),
        FourierEmbedding(16, scale=2.0).apply({}, jnp.array([0.3])),
    )
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(
        np.sum(np.asarray(a) ** 2), 8.0, rtol=1e-5
    )  # cos^2 + sin^2 per frequency


def test_unet_conditioning_and_null_label():
    net = UNet(base_channels=8, channel_mults=(1, 2), attention_resolutions=(4,), num_classes=3)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
    params = _random_params(net, x, jnp.ones(2), jnp.zeros(2, jnp.int32))
    apply = jax.jit(lambda p, t, y: net.apply({"params": p}, x, t, y))
    apply_none = jax.jit(lambda p: net.apply({"params": p}, x, jnp.ones(2)))
    out = lambda t, y: apply(params, t, y)
    y0, y1, null = jnp.array([0, 0]), jnp.array([1, 1]), jnp.array([3, 3])
    ref = out(jnp.ones(2), y0)
    changed = lambda other: float(jnp.abs(other - ref).max() / jnp.abs(ref).max())
    assert changed(out(jnp.ones(2), y1)) > 1e-3
    assert changed(out(jnp.full(2, 500.0), y0)) > 1e-3
    np.testing.assert_allclose(
        apply_none(params), out(jnp.ones(2), null)
    )  # no label = the null label
    # Attention only at the chosen resolution (H = 4): one block per down/up residual block there
    # plus the middle one.
    assert sum("AttentionBlock" in k for k in params) == 1 + 1 + 2
    with pytest.raises(ValueError, match="not divisible"):
        UNet(channel_mults=(1, 2, 2, 2, 2)).init(jax.random.PRNGKey(0), x, jnp.ones(2))


def test_unet_examples_are_independent():
    # No batch statistics: changing one example leaves the others' outputs unchanged.
    net = UNet(base_channels=8, channel_mults=(1, 2))
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 8, 8, 1))
    params = _random_params(net, x, jnp.ones(3))
    apply = jax.jit(lambda z: net.apply({"params": params}, z, jnp.arange(3.0)))
    a, b = apply(x), apply(x.at[0].set(5.0))
    np.testing.assert_allclose(a[1:], b[1:], rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(a[0] - b[0]).max()) > 1e-4


def test_mlp_denoiser_conditioning():
    net = MLPDenoiser(hidden=32, depth=2, num_classes=2, embedding="fourier")
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2))
    params = _random_params(net, x, jnp.ones(4), jnp.zeros(4, jnp.int32), scale=0.2)
    out = lambda t, y: net.apply({"params": params}, x, t, y)
    assert (
        float(
            jnp.abs(
                out(jnp.ones(4), jnp.zeros(4, jnp.int32)) - out(jnp.ones(4), jnp.ones(4, jnp.int32))
            ).max()
        )
        > 1e-4
    )
    assert float(jnp.abs(out(jnp.ones(4), None) - out(jnp.full(4, -1.0), None)).max()) > 1e-4
    np.testing.assert_allclose(out(jnp.ones(4), None), out(jnp.ones(4), jnp.full(4, 2, jnp.int32)))
    assert math.prod(out(jnp.ones(4), None).shape) == 8
