"""Encoders and decoders for VAEs and the latent-diffusion autoencoder: MLP and convolutional.

Encoders map ``x [B, H, W, C]`` (or ``[B, D]``) to ``(mean, log_var)`` of a diagonal Gaussian
``[B, Z]``; decoders map ``z [B, Z]`` to the observation model's parameters shaped like the data,
with ``out_channels_per_pixel`` values per data channel (1 for Bernoulli logits or a Gaussian mean,
2 for a mean and a log-scale).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax

from genjax.typing import Array

__all__ = ["MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder"]


class MLPEncoder(nn.Module):
    """Flatten, ReLU MLP, then a linear head to ``(mean, log_var)`` each ``[B, latent_dim]``."""

    latent_dim: int
    hidden: Sequence[int] = (400,)

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        h = x.reshape(x.shape[0], -1)
        for width in self.hidden:
            h = jax.nn.relu(nn.Dense(width)(h))
        out = nn.Dense(2 * self.latent_dim, name="head")(h)
        return out[:, : self.latent_dim], out[:, self.latent_dim:]


class MLPDecoder(nn.Module):
    """ReLU MLP from ``z [B, Z]`` to ``[B, *data_shape[:-1], data_shape[-1] * out_channels_per_pixel]``."""

    data_shape: Sequence[int]
    hidden: Sequence[int] = (400,)
    out_channels_per_pixel: int = 1

    @nn.compact
    def __call__(self, z: Array) -> Array:
        h = z
        for width in self.hidden:
            h = jax.nn.relu(nn.Dense(width)(h))
        shape = tuple(self.data_shape[:-1]) + (self.data_shape[-1] * self.out_channels_per_pixel,)
        return nn.Dense(math.prod(shape), name="head")(h).reshape((z.shape[0],) + shape)


class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions (one halving per entry of ``channels``), then a dense head to
    ``(mean, log_var)``; with ``spatial_latent`` the head is a 1x1 convolution and the latent keeps
    the downsampled grid ``[B, H / 2^L, W / 2^L, latent_dim]`` (the latent-diffusion autoencoder)."""

    latent_dim: int
    channels: Sequence[int] = (32, 64)
    spatial_latent: bool = False

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        h = x
        for width in self.channels:
            h = jax.nn.silu(nn.Conv(width, (3, 3), strides=(2, 2))(h))
        if self.spatial_latent:
            out = nn.Conv(2 * self.latent_dim, (1, 1), name="head")(h)
        else:
            out = nn.Dense(2 * self.latent_dim, name="head")(h.reshape(h.shape[0], -1))
        return out[..., : self.latent_dim], out[..., self.latent_dim:]


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: a dense (or 1x1) projection to the downsampled grid, then
    nearest-neighbour upsampling and 3x3 convolutions back to ``data_shape``."""

    data_shape: Sequence[int]
    channels: Sequence[int] = (64, 32)
    out_channels_per_pixel: int = 1
    spatial_latent: bool = False

    @nn.compact
    def __call__(self, z: Array) -> Array:
        h_out, w_out, c_out = self.data_shape
        scale = 2 ** len(self.channels)
        h0, w0 = h_out // scale, w_out // scale
        if self.spatial_latent:
            h = nn.Conv(self.channels[0], (1, 1))(z)
        else:
            h = nn.Dense(h0 * w0 * self.channels[0])(z).reshape(z.shape[0], h0, w0, self.channels[0])
        for width in self.channels:
            h = jax.image.resize(h, (h.shape[0], 2 * h.shape[1], 2 * h.shape[2], h.shape[3]), "nearest")
            h = jax.nn.silu(nn.Conv(width, (3, 3))(h))
        return nn.Conv(c_out * self.out_channels_per_pixel, (3, 3), name="head")(h)


