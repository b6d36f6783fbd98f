"""DCGAN generator and discriminator (Radford, Metz & Chintala, 2016), with the options later GANs
added: spectral normalization of the discriminator (Miyato et al., 2018) and class conditioning
through a projection discriminator (Miyato & Koyama, 2018).

Generator: ``z [B, Z]`` (with a learned label embedding concatenated when conditional) -> Dense to a
``[H / 2^k, W / 2^k, F 2^(k-1)]`` map -> ``k`` stride-2 4x4 transposed convolutions halving the
channels and doubling the resolution (the last one to ``C`` channels) -> ``tanh``: images in
[-1, 1]. Normalization and ReLU after every layer but the last.

Discriminator: ``k`` stride-2 4x4 convolutions doubling the channels from ``F`` (no normalization
after the first, as in the paper), LeakyReLU(0.2), flatten, then one logit per example. With
``num_classes`` the logit gains the projection term ``<embed(y), h>`` of the flattened features.

For 28x28 MNIST with ``features=64, num_upsamples=2`` these are the familiar PyTorch DCGANs:
``Linear(Z, 128*7*7) BN ReLU, ConvT(128, 64, 4, 2, 1) BN ReLU, ConvT(64, C, 4, 2, 1) tanh`` and
``Conv(C, 64, 4, 2, 1) LReLU, Conv(64, 128, 4, 2, 1) BN LReLU, Linear(128*7*7, 1)``.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.conv_transpose import ConvTranspose
from genjax.nn.convolution import Conv
from genjax.typing import Array

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "NORMS", "check_norm"]

NORMS = ("batch", "layer", "none")
"""Normalizations of the hidden layers: BatchNorm (running averages kept in ``'batch_stats'``),
LayerNorm (per example, so it is safe under gradient penalties), or none."""


def check_norm(norm: str, who: str) -> None:
    """Raises a ValueError naming ``who`` when ``norm`` is not one of :data:`NORMS`."""
    if norm not in NORMS:
        raise ValueError(f"{who} norm must be one of {NORMS}, got {norm!r}")


def _normalize(norm: str, train: bool, name: str):
    if norm == "batch":
        # PyTorch's BatchNorm momentum 0.1 is flax's 0.9.
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)
    if norm == "layer":
        return nn.LayerNorm(name=name)
    return lambda x: x


class DCGANGenerator(nn.Module):
    """Latent vectors to images in [-1, 1].

    Attributes:
      image_shape: ``(H, W, C)``; ``H`` and ``W`` divisible by ``2**num_upsamples``.
      features: ``F``, the channels before the last upsampling (the first map has ``F 2^(k-1)``).
      num_upsamples: ``k >= 1`` stride-2 transposed convolutions.
      norm: one of :data:`NORMS` (``'batch'`` in the paper).
      num_classes: when set, a label embedding of width ``latent`` is concatenated to ``z``.

    Call: ``(z: float32 [B, Z], labels: int32 [B] | None, train: bool) -> float32 [B, H, W, C]``.
    """

    image_shape: tuple[int, int, int]
    features: int = 64
    num_upsamples: int = 2
    norm: str = "batch"
    num_classes: Optional[int] = None

    @nn.compact
    def __call__(self, z: Array, labels: Optional[Array] = None, train: bool = True) -> Array:
        h_img, w_img, c_img = self.image_shape
        k = self.num_upsamples
        if k < 1 or h_img % 2**k or w_img % 2**k:
            raise ValueError(
                f"image_shape {self.image_shape} is not divisible by 2**num_upsamples = {2**k}"
            )
        if self.num_classes is not None:
            if labels is None:
                raise ValueError("a class-conditional generator needs labels")
            z = jnp.concatenate(
                [z, nn.Embed(self.num_classes, z.shape[-1], name="embed")(labels)], -1
            )
        channels = self.features * 2 ** (k - 1)
        h = nn.Dense(h_img // 2**k * (w_img // 2**k) * channels, name="project")(z)
        h = h.reshape(z.shape[0], h_img // 2**k, w_img // 2**k, channels)
        h = nn.relu(_normalize(self.norm, train, "norm_0")(h))
        for i in range(k):
            last = i == k - 1
            out = c_img if last else channels // 2 ** (i + 1)
            h = ConvTranspose(out, (4, 4), strides=(2, 2), padding="SAME", name=f"up_{i}")(h)
            if not last:
                h = nn.relu(_normalize(self.norm, train, f"norm_{i + 1}")(h))
        return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
    """Images to one logit (or critic value) per example.

    Attributes:
      features: ``F``, channels of the first convolution (doubled at each further one).
      num_downsamples: ``k >= 1`` stride-2 convolutions.
      norm: one of :data:`NORMS` for every convolution but the first. Use ``'layer'`` or ``'none'``
        with gradient penalties, which need each output to depend on its own example only.
      spectral_norm: divide every weight matrix by its largest singular value (one power-iteration
        step per call; ``u`` and ``sigma`` live in the ``'batch_stats'`` collection and are updated
        when ``train``).
      num_classes: when set, the projection discriminator ``psi(h) + <embed(y), h>``.

    Call: ``(x: float32 [B, H, W, C], labels: int32 [B] | None, train: bool) -> float32 [B]``.
    """

    features: int = 64
    num_downsamples: int = 2
    norm: str = "batch"
    spectral_norm: bool = False
    num_classes: Optional[int] = None

    def _layer(self, layer: nn.Module, x: Array, train: bool) -> Array:
        if self.spectral_norm:
            return nn.SpectralNorm(layer, name=f"sn_{layer.name}")(x, update_stats=train)
        return layer(x)

    @nn.compact
    def __call__(self, x: Array, labels: Optional[Array] = None, train: bool = True) -> Array:
        h = x
        for i in range(self.num_downsamples):
            conv = Conv(
                self.features * 2**i, (4, 4), strides=(2, 2), padding="SAME", name=f"down_{i}"
            )
            h = self._layer(conv, h, train)
            if i > 0:
                h = _normalize(self.norm, train, f"norm_{i}")(h)
            h = nn.leaky_relu(h, 0.2)
        h = h.reshape(h.shape[0], -1)
        logit = self._layer(nn.Dense(1, name="logit"), h, train)[:, 0]
        if self.num_classes is None:
            return logit
        if labels is None:
            raise ValueError("a projection discriminator needs labels")
        table = _Table(self.num_classes, h.shape[-1], name="embed")
        # The [K, D] table is the matrix of the linear map one_hot(y) -> e_y, normalised as such.
        table = (
            nn.SpectralNorm(table, name="sn_embed")(update_stats=train)
            if self.spectral_norm
            else table()
        )
        return logit + jnp.sum(table[labels] * h, axis=-1)


class _Table(nn.Module):
    """A ``[K, D]`` parameter returned as is, so that ``nn.SpectralNorm`` can normalise it."""

    num_rows: int
    width: int

    @nn.compact
    def __call__(self) -> Array:
        return self.param("embedding", nn.initializers.normal(1.0), (self.num_rows, self.width))
