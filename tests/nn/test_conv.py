"""Encoders and decoders: affine MLPs against their own weights, the receptive fields of the strided
encoder and its mirror decoder (read off input gradients), output layouts, and shape errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.conv import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder


def _init_scale(shape):
    return 1.0 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.1


def _init_apply_and_grad(module, x, select):
    """Random params, outputs and the gradient of the scalar ``select(outputs)`` w.r.t. the input.

    The params are drawn with numpy at the shapes ``init`` gives (fan-in scaled normal kernels,
    small biases), so that no compiled initializer is needed: compiling threefry-based
    initializers would dominate these tests.
    """
    rng = np.random.default_rng(1)
    shapes = jax.eval_shape(module.init, jax.random.PRNGKey(1), x)["params"]
    params = jax.tree.map(
        lambda s: (rng.normal(size=s.shape) * _init_scale(s.shape)).astype(np.float32), shapes
    )

    @jax.jit
    def run(x):
        out, vjp = jax.vjp(lambda v: module.apply({"params": params}, v), x)
        return out, vjp(jax.grad(select)(out))[0]

    return (params, *run(x))


def test_affine_mlp_encoder_and_decoder_match_their_weights():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 4, 2))
    p_enc, (mean, log_var), _ = _init_apply_and_grad(
        MLPEncoder(latent_dim=5, hidden=()), x, lambda o: o[0][0, 0]
    )
    dense = p_enc["mlp"]["dense_0"]
    out = np.asarray(x).reshape(3, -1) @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"])
    np.testing.assert_allclose(mean, out[:, :5], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_var, out[:, 5:], rtol=1e-5, atol=1e-5)

    dec = MLPDecoder(data_shape=(4, 4, 2), hidden=(), out_channels_per_pixel=2)
    p_dec, y, _ = _init_apply_and_grad(dec, mean, lambda o: o[0, 0, 0, 0])
    chex.assert_shape(y, (3, 4, 4, 4))
    dense = p_dec["mlp"]["dense_0"]
    flat = np.asarray(mean) @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"])
    np.testing.assert_allclose(y, flat.reshape(3, 4, 4, 4), rtol=1e-5, atol=1e-5)


def test_spatial_encoder_and_decoder_are_local():
    # Two 3x3 stride-2 SAME convolutions: latent (0, 0) sees input rows and columns 0..6 (XLA pads
    # an even input by one on the high side only), and decoder output (0, 0) sees latent (0, 0) and
    # its right and lower neighbours only (3x3 kernels after each nearest-neighbour doubling).
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 16, 16, 1))
    enc = ConvEncoder(latent_dim=2, channels=(4, 4), spatial_latent=True)
    _, (mean, _), grad = _init_apply_and_grad(enc, x, lambda o: o[0][0, 0, 0, 0])
    chex.assert_shape(mean, (1, 4, 4, 2))
    seen = np.abs(np.asarray(grad[0, :, :, 0])) > 0
    assert seen[:7, :7].any() and seen[6, :].any() and seen[:, 6].any()
    assert not seen[7:, :].any() and not seen[:, 7:].any()

    dec = ConvDecoder(data_shape=(16, 16, 1), channels=(4, 4), spatial_latent=True)
    _, y, grad = _init_apply_and_grad(dec, mean, lambda o: o[0, 0, 0, 0])
    chex.assert_shape(y, (1, 16, 16, 1))
    seen = np.abs(np.asarray(grad[0, :, :, 0])) > 0
    assert seen[0, 0] and not seen[2:, :].any() and not seen[:, 2:].any()


def test_dense_conv_networks_shapes_and_global_dependence():
    # The dense heads make each latent depend on every pixel, and each output on every latent.
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 28, 28, 1))
    enc = ConvEncoder(latent_dim=6, channels=(4, 8))
    _, (mean, log_var), grad = _init_apply_and_grad(enc, x, lambda o: o[0][0, 0])
    chex.assert_shape((mean, log_var), (2, 6))
    assert np.all(np.abs(np.asarray(grad[0])) > 0) and not np.any(np.asarray(grad[1]))
    dec = ConvDecoder(data_shape=(28, 28, 1), channels=(8, 4), out_channels_per_pixel=2)
    _, y, grad = _init_apply_and_grad(dec, mean, lambda o: o[0, 14, 14, 0])
    chex.assert_shape(y, (2, 28, 28, 2))
    assert np.all(np.abs(np.asarray(grad[0])) > 0) and not np.any(np.asarray(grad[1]))


@pytest.mark.parametrize(
    "module, inp",
    [
        (ConvEncoder(latent_dim=2, channels=(4, 4, 4)), jnp.zeros((1, 28, 28, 1))),
        (ConvDecoder(data_shape=(12, 12, 1), channels=(4, 4, 4)), jnp.zeros((1, 2))),
    ],
)
def test_sizes_not_divisible_by_the_downsampling_are_rejected(module, inp):
    with pytest.raises(ValueError, match="divisible"):
        module.init(jax.random.PRNGKey(0), inp)
