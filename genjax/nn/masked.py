"""Masked convolutions for autoregressive image models (van den Oord et al., 2016).

Raster-scan order over pixels; within a pixel, channels in order (R before G before B): hidden
channels are split into ``num_colors`` contiguous groups, group ``g`` belonging to colour ``g``.
Mask 'A' (first layer) lets colour ``g`` see only earlier pixels and colours ``< g`` of the current
pixel; mask 'B' (later layers) also lets it see colour ``g`` itself.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array

__all__ = ["spatial_mask", "MaskedConv", "GatedBlock", "ResidualMaskedBlock"]


def _groups(channels: int, num_colors: int) -> np.ndarray:
    if channels % num_colors:
        raise ValueError(f"{channels} channels do not split into {num_colors} colour groups")
    return np.repeat(np.arange(num_colors), channels // num_colors)


def spatial_mask(kh: int, kw: int, in_ch: int, out_ch: int, mask_type: str, num_colors: int = 1,
                 region: str = "full") -> np.ndarray:
    """The ``[kh, kw, in, out]`` 0/1 mask of a masked convolution.

    ``region``: ``'full'`` (PixelCNN: rows above and pixels to the left), ``'vertical'`` (all of the
    rows up to and including the centre row: the gated vertical stack, shifted down before use) or
    ``'horizontal'`` (the centre row, pixels to the left).
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    ci, cj = kh // 2, kw // 2
    m = np.zeros((kh, kw, in_ch, out_ch), np.float32)
    if region == "vertical":
        m[: ci + 1] = 1.0
        return m
    if region == "full":
        m[:ci] = 1.0
    m[ci, :cj] = 1.0
    gi, go = _groups(in_ch, num_colors), _groups(out_ch, num_colors)
    allowed = gi[:, None] < go[None, :] if mask_type == "A" else gi[:, None] <= go[None, :]
    m[ci, cj] = allowed.astype(np.float32)
    return m


class MaskedConv(nn.Module):
    """A convolution whose kernel is multiplied by :func:`spatial_mask` (``SAME`` padding)."""

    features: int
    kernel_size: tuple[int, int]
    mask_type: str = "B"
    num_colors: int = 1
    region: str = "full"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kh, kw = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        mask = spatial_mask(kh, kw, x.shape[-1], self.features, self.mask_type, self.num_colors, self.region)
        y = jax.lax.conv_general_dilated(x, kernel * mask, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + bias


class ResidualMaskedBlock(nn.Module):
    """PixelCNN residual block: 1x1 (h/2), masked 3x3 'B', 1x1 (h), ReLU before each, plus the input."""

    features: int
    num_colors: int = 1

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = MaskedConv(self.features // 2, (1, 1), "B", self.num_colors)(jax.nn.relu(x))
        h = MaskedConv(self.features // 2, (3, 3), "B", self.num_colors)(jax.nn.relu(h))
        h = MaskedConv(self.features, (1, 1), "B", self.num_colors)(jax.nn.relu(h))
        return x + h


def _shift_down(x: Array) -> Array:
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


class GatedBlock(nn.Module):
    """A gated PixelCNN layer (van den Oord et al., 2016, conditional image generation): a vertical
    stack over the rows above (no blind spot) feeding a horizontal stack over the pixels to the left,
    ``tanh(a) * sigmoid(b)`` gates, an optional conditioning vector added to both, and a residual
    connection on the horizontal stack (except in the first, mask-'A' layer).

    ``(v [B, H, W, F], h [B, H, W, F], cond [B, E] | None) -> (v', h')``.
    """

    features: int
    kernel: int = 3
    mask_type: str = "B"
    num_colors: int = 1

    @nn.compact
    def __call__(self, v: Array, h: Array, cond: Optional[Array] = None) -> tuple[Array, Array]:
        f, k = self.features, self.kernel
        v_pre = MaskedConv(2 * f, (k, k), self.mask_type, 1, region="vertical", name="v_conv")(v)
        h_pre = MaskedConv(2 * f, (1, k), self.mask_type, self.num_colors, region="horizontal", name="h_conv")(h)
        h_pre = h_pre + nn.Conv(2 * f, (1, 1), name="v_to_h")(_shift_down(v_pre))
        if cond is not None:
            c = nn.Dense(2 * f, name="cond")(cond)[:, None, None, :]
            v_pre, h_pre = v_pre + c, h_pre + c
        gate = lambda a: jnp.tanh(a[..., :f]) * jax.nn.sigmoid(a[..., f:])
        v_out = gate(v_pre)
        h_out = MaskedConv(f, (1, 1), "B", self.num_colors, name="h_out")(gate(h_pre))
        return v_out, (h_out if self.mask_type == "A" else h + h_out)
