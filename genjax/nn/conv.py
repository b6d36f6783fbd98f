"""Encoders and decoders of the VAE and the latent-diffusion autoencoder: MLP and convolutional.

An encoder maps ``x [B, H, W, C]`` (or ``[B, D]``) to ``(mean, log_var)`` of a diagonal Gaussian
``q(z | x)``, each ``[B, Z]`` (or ``[B, H / 2^L, W / 2^L, Z]`` with a spatial latent). A decoder
maps
``z`` to the observation model's parameters shaped like the data, with ``out_channels_per_pixel``
values per data channel (1 for Bernoulli logits or a Gaussian mean, 2 for a location and a
log-scale), laid out as ``[..., C * out_channels_per_pixel]`` with all locations first.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax

from genjax.nn.convolution import Conv
from genjax.nn.mlp import MLP
from genjax.typing import Array

__all__ = ["MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "check_divisible"]


def check_divisible(data_shape: Sequence[int], num_halvings: int) -> None:
    """Raises a ValueError unless ``H`` and ``W`` of ``data_shape`` (H, W, C) are divisible by
    ``2^num_halvings`` (what the strided encoder and its mirror decoder need)."""
    if len(data_shape) != 3:
        raise ValueError(
            f"a convolutional network needs data_shape (H, W, C), got {tuple(data_shape)}"
        )
    f = 2**num_halvings
    if data_shape[0] % f or data_shape[1] % f:
        raise ValueError(
            f"data_shape {tuple(data_shape)}: H and W must be divisible by 2^{num_halvings} = {f}"
        )


def _split_gaussian(out: Array, latent_dim: int) -> tuple[Array, Array]:
    return out[..., :latent_dim], out[..., latent_dim:]


class MLPEncoder(nn.Module):
    """Flattens ``x [B, ...]``, applies an MLP with ``hidden`` widths, and a linear head to
    ``(mean, log_var)``, each ``[B, latent_dim]`` (the encoder of Kingma & Welling, 2013).

    Attributes:
      latent_dim: Z.
      hidden: hidden widths; ``()`` makes the encoder affine.
      activation: nonlinearity between layers.
    """

    latent_dim: int
    hidden: Sequence[int] = (400,)
    activation: Callable[[Array], Array] = jax.nn.relu

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        h = x.reshape(x.shape[0], -1)
        out = MLP(tuple(self.hidden) + (2 * self.latent_dim,), self.activation, name="mlp")(h)
        return _split_gaussian(out, self.latent_dim)


class MLPDecoder(nn.Module):
    """An MLP from ``z [B, Z]`` to ``[B, *data_shape[:-1], data_shape[-1] * P]``, P the
    ``out_channels_per_pixel``.

    Attributes:
      data_shape: one example's shape, e.g. ``(28, 28, 1)`` or ``(D,)``.
      hidden: hidden widths; ``()`` makes the decoder affine (probabilistic PCA).
      out_channels_per_pixel: parameters per data value.
      activation: nonlinearity between layers.
    """

    data_shape: Sequence[int]
    hidden: Sequence[int] = (400,)
    out_channels_per_pixel: int = 1
    activation: Callable[[Array], Array] = jax.nn.relu

    @nn.compact
    def __call__(self, z: Array) -> Array:
        shape = tuple(self.data_shape[:-1]) + (self.data_shape[-1] * self.out_channels_per_pixel,)
        out = MLP(tuple(self.hidden) + (math.prod(shape),), self.activation, name="mlp")(z)
        return out.reshape((z.shape[0],) + shape)


class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions, one halving of H and W per entry of ``channels``, then a head to
    ``(mean, log_var)``: dense to ``[B, latent_dim]``, or, with ``spatial_latent``, a 1x1
    convolution keeping the grid ``[B, H / 2^L, W / 2^L, latent_dim]`` (the latent-diffusion
    autoencoder, Rombach et al., 2022).

    Attributes:
      latent_dim: Z (channels of a spatial latent).
      channels: widths of the strided convolutions (L = ``len(channels)``).
      spatial_latent: keep the downsampled grid.
      activation: nonlinearity after each convolution.

    Raises:
      ValueError: when H or W is not divisible by ``2^L``.
    """

    latent_dim: int
    channels: Sequence[int] = (32, 64)
    spatial_latent: bool = False
    activation: Callable[[Array], Array] = jax.nn.silu

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        check_divisible(x.shape[1:], len(self.channels))
        h = x
        for width in self.channels:
            h = self.activation(Conv(width, (3, 3), strides=(2, 2))(h))
        if self.spatial_latent:
            out = Conv(2 * self.latent_dim, (1, 1), name="head")(h)
        else:
            out = nn.Dense(2 * self.latent_dim, name="head")(h.reshape(h.shape[0], -1))
        return _split_gaussian(out, self.latent_dim)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: a dense (or, with ``spatial_latent``, 1x1) projection to
    the grid ``[B, H / 2^L, W / 2^L, channels[0]]``, then per entry of ``channels`` a
    nearest-neighbour doubling and a 3x3 convolution, and a 3x3 head to
    ``[B, H, W, C * out_channels_per_pixel]``.

    Attributes:
      data_shape: ``(H, W, C)``, H and W divisible by ``2^len(channels)``.
      channels: widths from the coarsest grid up (the encoder's reversed).
      out_channels_per_pixel: parameters per data value.
      spatial_latent: ``z`` is ``[B, H / 2^L, W / 2^L, Z]`` instead of ``[B, Z]``.
      activation: nonlinearity after each convolution.

    Raises:
      ValueError: when H or W is not divisible by ``2^L``.
    """

    data_shape: Sequence[int]
    channels: Sequence[int] = (64, 32)
    out_channels_per_pixel: int = 1
    spatial_latent: bool = False
    activation: Callable[[Array], Array] = jax.nn.silu

    @nn.compact
    def __call__(self, z: Array) -> Array:
        check_divisible(self.data_shape, len(self.channels))
        h_out, w_out, c_out = self.data_shape
        f = 2 ** len(self.channels)
        if self.spatial_latent:
            h = Conv(self.channels[0], (1, 1))(z)
        else:
            h = nn.Dense(h_out // f * (w_out // f) * self.channels[0])(z)
            h = h.reshape(z.shape[0], h_out // f, w_out // f, self.channels[0])
        for width in self.channels:
            b, hh, ww, c = h.shape
            h = jax.image.resize(h, (b, 2 * hh, 2 * ww, c), "nearest")
            h = self.activation(Conv(width, (3, 3))(h))
        return Conv(c_out * self.out_channels_per_pixel, (3, 3), name="head")(h)
