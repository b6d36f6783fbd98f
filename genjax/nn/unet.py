"""The one time-conditioned UNet (diffusion, consistency and latent diffusion share it) and an MLP
denoiser for 2-D toys."""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.activations import silu
from genjax.nn.blocks import AttentionBlock, Downsample, ResBlock, Upsample, group_norm
from genjax.nn.convolution import Conv
from genjax.nn.embeddings import FourierEmbedding, sinusoidal_embedding
from genjax.typing import Array

__all__ = ["UNet", "MLPDenoiser"]


class _NoiseEmbedding(nn.Module):
    dim: int
    kind: str

    @nn.compact
    def __call__(self, t: Array) -> Array:
        if self.kind == "sinusoidal":
            e = sinusoidal_embedding(t, self.dim)
        elif self.kind == "fourier":
            e = FourierEmbedding(self.dim)(t)
        else:
            raise ValueError(
                f"unknown embedding {self.kind!r}; valid choices: ['sinusoidal', 'fourier']"
            )
        return nn.Dense(4 * self.dim)(silu(nn.Dense(4 * self.dim)(e)))


class UNet(nn.Module):
    """A DDPM-style UNet (Ho et al., 2020; Dhariwal & Nichol, 2021) over ``[B, H, W, C]`` images.

    Attributes:
      out_channels: output channels (``None``: same as the input).
      base_channels: channels at the first resolution.
      channel_mults: one multiplier per resolution; H and W halve between resolutions, so they must
        be divisible by ``2 ** (len(channel_mults) - 1)``.
      num_res_blocks: residual blocks per resolution on the way down (one more on the way up).
      attention_resolutions: spatial sizes (H) at which self-attention follows each block.
      embedding: ``'sinusoidal'`` (timesteps, Ho et al.) or ``'fourier'`` (noise levels, NCSN++).
      num_classes: class-conditional when > 0; label ``num_classes`` is the learned null label used
        by classifier-free guidance.
      dropout: dropout rate in residual blocks (active with ``train=True``).

    ``__call__(x, t, label=None, train=False)``: ``t`` float [B] (timestep or ``c_noise(sigma)``),
    ``label`` int32 [B] in ``0..num_classes`` -> ``[B, H, W, out_channels]``; the last conv starts
    at zero.
    """

    out_channels: Optional[int] = None
    base_channels: int = 32
    channel_mults: Sequence[int] = (1, 2)
    num_res_blocks: int = 1
    attention_resolutions: Sequence[int] = ()
    embedding: str = "sinusoidal"
    num_classes: int = 0
    dropout: float = 0.0
    num_heads: int = 1

    @nn.compact
    def __call__(
        self, x: Array, t: Array, label: Optional[Array] = None, *, train: bool = False
    ) -> Array:
        levels = len(self.channel_mults)
        if x.shape[1] % 2 ** (levels - 1) or x.shape[2] % 2 ** (levels - 1):
            raise ValueError(
                f"image size {x.shape[1:3]} is not divisible by 2^{levels - 1} ({levels} resolutions)"
            )
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), (x.shape[0],))
        emb = _NoiseEmbedding(self.base_channels, self.embedding, name="noise_embedding")(t)
        if self.num_classes:
            if label is None:
                label = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
            emb = emb + nn.Embed(self.num_classes + 1, emb.shape[-1], name="label_embedding")(label)
        h = Conv(self.base_channels, (3, 3), name="conv_in")(x)
        skips = [h]
        for i, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.base_channels * mult, self.dropout)(h, emb, train=train)
                if h.shape[1] in self.attention_resolutions:
                    h = AttentionBlock(self.num_heads)(h)
                skips.append(h)
            if i < levels - 1:
                h = Downsample()(h)
                skips.append(h)
        h = ResBlock(h.shape[-1], self.dropout)(h, emb, train=train)
        if h.shape[1] in self.attention_resolutions:
            h = AttentionBlock(self.num_heads)(h)
        h = ResBlock(h.shape[-1], self.dropout)(h, emb, train=train)
        for i, mult in reversed(list(enumerate(self.channel_mults))):
            for _ in range(self.num_res_blocks + 1):
                h = ResBlock(self.base_channels * mult, self.dropout)(
                    jnp.concatenate([h, skips.pop()], -1), emb, train=train
                )
                if h.shape[1] in self.attention_resolutions:
                    h = AttentionBlock(self.num_heads)(h)
            if i > 0:
                h = Upsample()(h)
        h = silu(group_norm(h.shape[-1], "norm_out")(h))
        return Conv(
            self.out_channels or x.shape[-1],
            (3, 3),
            kernel_init=nn.initializers.zeros,
            name="conv_out",
        )(h)


class MLPDenoiser(nn.Module):
    """A time-conditioned MLP for vector data (2-D toys): ``(x [B, D], t [B]) -> [B, D]``.

    Attributes:
      hidden: width of the hidden layers.
      depth: hidden layers.
      num_classes: class-conditional when > 0 (label ``num_classes`` is the null label).
    """

    hidden: int = 128
    depth: int = 3
    num_classes: int = 0
    embedding: str = "sinusoidal"

    @nn.compact
    def __call__(
        self, x: Array, t: Array, label: Optional[Array] = None, *, train: bool = False
    ) -> Array:
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), (x.shape[0],))
        emb = _NoiseEmbedding(self.hidden // 4, self.embedding, name="noise_embedding")(t)
        if self.num_classes:
            if label is None:
                label = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
            emb = emb + nn.Embed(self.num_classes + 1, emb.shape[-1], name="label_embedding")(label)
        h = nn.Dense(self.hidden, name="dense_in")(x)
        for i in range(self.depth):
            h = h + nn.Dense(self.hidden, name=f"emb_{i}")(emb)
            h = nn.Dense(self.hidden, name=f"dense_{i}")(silu(h))
        return nn.Dense(x.shape[-1], kernel_init=nn.initializers.zeros, name="dense_out")(
            silu(h)
        )
