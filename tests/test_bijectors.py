"""Bijectors: round trips, log-determinants against ``slogdet(jacfwd(f))``, ActNorm's init.

Tolerances (float32): round trips within 1e-4 absolute (inputs of order 1, several layers); log-dets
within 2e-3 absolute of the autodiff Jacobian's (sums over up to 64 dimensions).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import bijectors as bj

ROUND_TRIP_ATOL = 1e-4
LOG_DET_ATOL = 2e-3


class _DenseNet(nn.Module):
    out: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.out)(jnp.tanh(nn.Dense(16)(x)))


class _ConvNet(nn.Module):
    out: int

    @nn.compact
    def __call__(self, x):
        return nn.Conv(self.out, (3, 3))(jnp.tanh(nn.Conv(8, (3, 3))(x)))


def _perturb(key, params, scale=0.3):
    """Random params so that no layer is the identity (zero-initialised parts included)."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    return jax.tree.unflatten(
        tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=False)]
    )


def _cases():
    img = (4, 4, 2)
    return {
        "additive_coupling_vec": (
            bj.additive_coupling(bj.checkerboard_mask((6,), 0), _DenseNet(6)),
            (6,),
        ),
        "affine_coupling_vec": (
            bj.affine_coupling(bj.checkerboard_mask((6,), 1), _DenseNet(12)),
            (6,),
        ),
        "affine_coupling_checkerboard": (
            bj.affine_coupling(bj.checkerboard_mask(img, 0), _ConvNet(4)),
            img,
        ),
        "affine_coupling_channel": (bj.affine_coupling(bj.channel_mask(img, 1), _ConvNet(4)), img),
        "diagonal_scaling": (bj.diagonal_scaling(img), img),
        "logit": (bj.logit(0.05), img),
        "squeeze": (bj.squeeze(), img),
        "actnorm": (bj.actnorm(), img),
        "conv1x1": (bj.invertible_conv1x1(2, seed=3), img),
        "conv1x1_vec": (bj.invertible_conv1x1(6, seed=1), (6,)),
        "factor_out": (
            bj.factor_out(bj.affine_coupling(bj.checkerboard_mask((4, 4, 1), 0), _ConvNet(2))),
            img,
        ),
        "chain": (
            bj.chain(
                [
                    bj.actnorm(),
                    bj.invertible_conv1x1(2),
                    bj.affine_coupling(bj.checkerboard_mask(img, 0), _ConvNet(4)),
                    bj.squeeze(),
                    bj.affine_coupling(bj.channel_mask((2, 2, 8), 0), _ConvNet(16)),
                ]
            ),
            img,
        ),
        "inverse_of_coupling": (
            bj.inverse_of(bj.affine_coupling(bj.channel_mask(img, 0), _ConvNet(4))),
            img,
        ),
    }


CASES = _cases()


def _input(name, shape, batch, key):
    x = jax.random.normal(key, (batch,) + shape)
    return jax.nn.sigmoid(x) if name == "logit" else x  # logit acts on [0, 1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_and_log_det_matches_jacobian(name):
    bijector, shape = CASES[name]
    k_init, k_x, k_p = jax.random.split(jax.random.PRNGKey(0), 3)
    x = _input(name, shape, 3, k_x)
    params = _perturb(k_p, bijector.init(k_init, x))
    y, log_det = jax.jit(bijector.forward_and_log_det)(params, x)
    x_back, inv_log_det = jax.jit(bijector.inverse_and_log_det)(params, y)
    np.testing.assert_allclose(x_back, x, atol=ROUND_TRIP_ATOL)
    np.testing.assert_allclose(inv_log_det, -log_det, atol=LOG_DET_ATOL)
    assert y.size == x.size
    assert not np.allclose(log_det, 0.0) or name in ("squeeze", "additive_coupling_vec")

    # Independent truth: the log |det| of the dense Jacobian of one example.
    def flat_forward(v):
        out, _ = bijector.forward_and_log_det(params, v.reshape((1,) + shape))
        return out.reshape(-1)

    jac = jax.jit(jax.vmap(jax.jacfwd(flat_forward)))(x.reshape(x.shape[0], -1))
    sign, expected = np.linalg.slogdet(np.asarray(jac, np.float64))
    assert np.all(sign != 0)
    np.testing.assert_allclose(log_det, expected, atol=LOG_DET_ATOL)


def test_forward_and_inverse_helpers_agree():
    bijector, shape = CASES["chain"]
    x = jax.random.normal(jax.random.PRNGKey(1), (2,) + shape)
    params = _perturb(jax.random.PRNGKey(2), bijector.init(jax.random.PRNGKey(3), x))
    y = bj.forward(bijector, params, x)
    np.testing.assert_allclose(y, bijector.forward_and_log_det(params, x)[0])
    np.testing.assert_allclose(bj.inverse(bijector, params, y), x, atol=ROUND_TRIP_ATOL)


def test_actnorm_data_dependent_init_standardizes_init_batch():
    x = 3.0 + 2.5 * jax.random.normal(jax.random.PRNGKey(0), (64, 4, 4, 3)) * jnp.array(
        [1.0, 0.1, 5.0]
    )
    b = bj.actnorm()
    y, _ = b.forward_and_log_det(b.init(jax.random.PRNGKey(1), x), x)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.var(y, axis=(0, 1, 2)), 1.0, atol=1e-4)


def test_chain_init_pushes_data_through_earlier_layers():
    # ActNorm after a rotation must standardize the rotated data, not the raw data.
    x = jax.random.normal(jax.random.PRNGKey(0), (512, 3)) * jnp.array([5.0, 1.0, 0.2]) + 1.0
    flow = bj.chain([bj.invertible_conv1x1(3, seed=2), bj.actnorm()])
    y = bj.forward(flow, flow.init(jax.random.PRNGKey(1), x), x)
    np.testing.assert_allclose(jnp.mean(y, axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, axis=0), 1.0, atol=1e-4)


def test_conv1x1_starts_as_a_rotation():
    b = bj.invertible_conv1x1(5, seed=7)
    x = jax.random.normal(jax.random.PRNGKey(0), (10, 5))
    y, log_det = b.forward_and_log_det(b.init(None, x), x)
    np.testing.assert_allclose(jnp.linalg.norm(y, axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(log_det, 0.0, atol=1e-5)


@pytest.mark.parametrize("transform", [jax.jit, jax.vmap, jax.pmap])
def test_conv1x1_builds_inside_jit_vmap_and_pmap(transform):
    # Glow builds its 1x1 convolutions inside the compiled loss; building one under a trace must
    # give the same map as building it eagerly (it once called np.asarray on a tracer).
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4))  # 2 <= the 4 CPU devices of conftest

    def build_and_apply(x):
        b = bj.invertible_conv1x1(4, seed=7)
        return b.forward_and_log_det(b.init(None, x), x)

    if transform is jax.jit:
        want = build_and_apply(x)
    else:  # mapped over the leading axis: eager calls one example at a time, stacked
        want = jax.tree.map(lambda *v: jnp.stack(v), *[build_and_apply(xi) for xi in x])
    got = transform(build_and_apply)(x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_squeeze_moves_2x2_blocks_to_channels():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    y = bj.forward(bj.squeeze(), {}, x)
    assert y.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(y[0, 0, 0], [0.0, 1.0, 4.0, 5.0])


def test_masks():
    np.testing.assert_array_equal(bj.checkerboard_mask((4,), 0), [1, 0, 1, 0])
    board = bj.checkerboard_mask((2, 2, 3), 1)
    np.testing.assert_array_equal(board[..., 0], [[0, 1], [1, 0]])
    np.testing.assert_array_equal(bj.channel_mask((1, 1, 4), 1)[0, 0], [0, 0, 1, 1])


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="even number of channels"):
        bj.channel_mask((2, 2, 3))
    with pytest.raises(ValueError, match="event shape"):
        bj.checkerboard_mask((2, 2))
    with pytest.raises(ValueError, match="alpha"):
        bj.logit(0.5)
    with pytest.raises(ValueError, match="at least one"):
        bj.chain([])
    with pytest.raises(ValueError, match="built for events of shape"):
        bj.diagonal_scaling((3,)).init(None, jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="even height"):
        bj.forward(bj.squeeze(), {}, jnp.zeros((1, 3, 4, 1)))
