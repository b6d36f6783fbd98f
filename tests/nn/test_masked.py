"""Masks against the ordering's definition, and causality of stacked masked layers with colour
groups by Jacobians: nothing flows from a value to itself or to an earlier value; the gated stacks
reach every earlier value (no blind spot)."""

import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn import masked


def _expected_mask(kh, kw, in_ch, out_ch, mask_type, colors, region):
    ci, cj = kh // 2, kw // 2
    m = np.zeros((kh, kw, in_ch, out_ch), np.float32)
    for a, b, i, o in itertools.product(range(kh), range(kw), range(in_ch), range(out_ch)):
        gi, go = i // (in_ch // colors), o // (out_ch // colors)
        earlier_pixel = a < ci or (a == ci and b < cj)
        centre_ok = a == ci and b == cj and (gi < go if mask_type == "A" else gi <= go)
        if region == "vertical":
            m[a, b, i, o] = a <= ci
        elif region == "horizontal":
            m[a, b, i, o] = a == ci and (b < cj or centre_ok)
        else:
            m[a, b, i, o] = earlier_pixel or centre_ok
    return m


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("region", ["full", "vertical", "horizontal"])
def test_masks_match_the_raster_and_colour_ordering(mask_type, region):
    got = masked.spatial_mask(5, 3, 6, 9, mask_type, 3, region)
    np.testing.assert_array_equal(got, _expected_mask(5, 3, 6, 9, mask_type, 3, region))


def _random_params(module, x, seed):
    """Gaussian params of fan-in scale (no weight or bias is zero by construction); built from
    shapes alone, so no initializer has to compile."""
    shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)["params"]
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: jnp.asarray(
            rng.normal(0.0, 1.0 / np.sqrt(max(1, s.size // s.shape[-1])), s.shape), jnp.float32
        ),
        shapes,
    )


def _dependency(fn, shape, features, key):
    """``dep[t_out, t_in]``: summed |d out / d in| between values in the order t = (i W + j) C + c;
    output channel o belongs to colour o // (features / C)."""
    h, w, c = shape
    x = jax.random.uniform(key, (1,) + shape, minval=-1, maxval=1)
    jac = np.abs(np.asarray(jax.jit(jax.jacrev(fn))(x)))[0, ..., 0, :, :, :]  # [H, W, F, H, W, C]
    jac = jac.reshape(h, w, c, features // c, h, w, c).sum(3)
    return jac.reshape(h * w * c, h * w * c)


class _FullStack(nn.Module):
    features: int
    colors: int

    @nn.compact
    def __call__(self, x):
        h = masked.MaskedConv(self.features, (3, 3), "A", self.colors)(x)
        h = masked.MaskedConv(self.features, (3, 3), "B", self.colors)(jnp.tanh(h))
        return masked.ResidualMaskedBlock(self.features, self.colors)(h)


class _GatedStack(nn.Module):
    features: int
    colors: int

    @nn.compact
    def __call__(self, x):
        v, h = masked.GatedBlock(self.features, 7, "A", self.colors)(x, x)
        for _ in range(2):
            v, h = masked.GatedBlock(self.features, 3, "B", self.colors)(v, h)
        return h


def test_full_masked_stack_with_colours_is_causal_and_sees_earlier_colours_of_the_pixel():
    shape, f = (4, 4, 3), 6
    seed = 0
    net = _FullStack(f, 3)
    params = _random_params(net, jnp.zeros((1,) + shape), seed)
    dep = _dependency(lambda x: net.apply({"params": params}, x), shape, f, jax.random.PRNGKey(1))
    n = dep.shape[0]
    assert np.all(dep[np.triu(np.ones((n, n), bool))] == 0.0)  # t_in >= t_out
    for p in range(16):  # R -> G, R -> B, G -> B inside every pixel
        for g_in, g_out in [(0, 1), (0, 2), (1, 2)]:
            assert dep[3 * p + g_out, 3 * p + g_in] > 0.0


def test_gated_stack_with_colours_is_causal_and_has_no_blind_spot():
    shape, f = (5, 5, 3), 6
    seed = 2
    net = _GatedStack(f, 3)
    params = _random_params(net, jnp.zeros((1,) + shape), seed)
    dep = _dependency(lambda x: net.apply({"params": params}, x), shape, f, jax.random.PRNGKey(3))
    n = dep.shape[0]
    assert np.all(dep[np.triu(np.ones((n, n), bool))] == 0.0)
    assert np.all(
        dep[np.tril(np.ones((n, n), bool), -1)] > 0.0
    )  # every earlier value reaches every output


def test_bad_masks_raise():
    with pytest.raises(ValueError, match="mask_type"):
        masked.spatial_mask(3, 3, 1, 1, "C")
    with pytest.raises(ValueError, match="region"):
        masked.spatial_mask(3, 3, 1, 1, "A", region="diagonal")
    with pytest.raises(ValueError, match="odd"):
        masked.spatial_mask(4, 3, 1, 1, "A")
    with pytest.raises(ValueError, match="colour groups"):
        masked.spatial_mask(3, 3, 4, 3, "A", num_colors=3)
