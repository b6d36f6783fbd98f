"""The building blocks of the UNet, defined once: residual block, self-attention, down/upsampling."""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.activations import silu
from genjax.nn.convolution import Conv
from genjax.nn.group_norm import GroupNorm
from genjax.typing import Array

__all__ = ["ResBlock", "AttentionBlock", "Downsample", "Upsample", "group_norm"]


def group_norm(channels: int, name: Optional[str] = None) -> GroupNorm:
    """GroupNorm (:mod:`genjax.nn.group_norm`) with at most 32 groups that divide ``channels``."""
    groups = min(32, channels)
    while channels % groups:
        groups -= 1
    return GroupNorm(num_groups=groups, name=name)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv twice with a skip connection (Ho et al., 2020), conditioned by a scale and
    shift of the second normalisation (Nichol & Dhariwal, 2021, "scale-shift norm"). Adding the
    embedding before a GroupNorm, as in the first DDPM, is erased when every group holds one channel
    (narrow networks); modulating after it is not. The second conv starts at zero so the block
    starts as the identity.

    ``x: [B, H, W, C_in]``, ``emb: [B, E]`` -> ``[B, H, W, out_channels]``.
    """

    out_channels: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: Array, emb: Array, *, train: bool = False) -> Array:
        h = Conv(self.out_channels, (3, 3), name="conv_0")(
            silu(group_norm(x.shape[-1], "norm_0")(x))
        )
        scale, shift = jnp.split(
            nn.Dense(2 * self.out_channels, name="emb")(silu(emb))[:, None, None, :], 2, -1
        )
        h = silu(group_norm(self.out_channels, "norm_1")(h) * (1.0 + scale) + shift)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = Conv(self.out_channels, (3, 3), kernel_init=nn.initializers.zeros, name="conv_1")(h)
        if x.shape[-1] != self.out_channels:
            x = Conv(self.out_channels, (1, 1), name="skip")(x)
        return x + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the spatial positions with a residual connection.

    ``[B, H, W, C]`` -> ``[B, H, W, C]``.
    """

    num_heads: int = 1

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b, h, w, c = x.shape
        y = group_norm(c, "norm")(x).reshape(b, h * w, c)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, out_kernel_init=nn.initializers.zeros, name="attn"
        )(y, y)
        return x + y.reshape(b, h, w, c)


class Downsample(nn.Module):
    """Strided 3x3 convolution halving H and W."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        return Conv(x.shape[-1], (3, 3), strides=(2, 2), name="conv")(x)


class Upsample(nn.Module):
    """Nearest-neighbour doubling of H and W followed by a 3x3 convolution."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b, h, w, c = x.shape
        x = jax.image.resize(x, (b, 2 * h, 2 * w, c), "nearest")
        return Conv(c, (3, 3), name="conv")(x)
