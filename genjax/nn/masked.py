"""Masked convolutions and blocks for autoregressive image models (van den Oord et al., 2016).

Order: raster scan over pixels; within a pixel, channels in order (R before G before B). Hidden
channels are split into ``num_colors`` contiguous groups, group ``g`` belonging to colour ``g``.
Mask 'A' (first layer) lets colour ``g`` see earlier pixels and the colours ``< g`` of the current
pixel; mask 'B' (later layers) also lets group ``g`` see group ``g`` of the current pixel, which
by induction only carries information about colours ``< g`` of the input.

Stacked 'full' masks leave a blind spot (pixels above and to the right of the receptive field's
diagonal edge never reach the output); the gated blocks avoid it with a vertical stack over the
rows above and a horizontal stack over the current row (van den Oord et al., 2016, conditional image
generation with PixelCNN decoders).
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.nn.convolution import Conv, conv2d
from genjax.typing import Array

__all__ = ["spatial_mask", "MaskedConv", "ResidualMaskedBlock", "GatedBlock"]

_REGIONS = ("full", "vertical", "horizontal")


def _groups(channels: int, num_colors: int) -> np.ndarray:
    if channels % num_colors:
        raise ValueError(f"{channels} channels do not split into {num_colors} colour groups")
    return np.repeat(np.arange(num_colors), channels // num_colors)


def spatial_mask(
    kh: int,
    kw: int,
    in_ch: int,
    out_ch: int,
    mask_type: str,
    num_colors: int = 1,
    region: str = "full",
) -> np.ndarray:
    """The ``float32 [kh, kw, in_ch, out_ch]`` 0/1 kernel mask of a masked convolution.

    Args:
      kh, kw: odd kernel sizes (the centre tap is the current pixel).
      in_ch, out_ch: channels, each divisible by ``num_colors``.
      mask_type: ``'A'`` (current colour excluded) or ``'B'`` (included) at the centre tap.
      num_colors: colour groups of the channel ordering.
      region: ``'full'`` (PixelCNN: rows above and pixels to the left), ``'vertical'`` (every row up
        to and including the centre row, all columns, all channels: the gated vertical stack, which
        must be shifted down one row before it feeds the current row; ``mask_type`` does not apply)
        or ``'horizontal'`` (the centre row: pixels to the left and the masked centre tap).

    Raises:
      ValueError: for an unknown mask type or region, even kernel sizes, or channels that do not
        split into colour groups.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if region not in _REGIONS:
        raise ValueError(f"region must be one of {_REGIONS}, got {region!r}")
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel sizes must be odd, got {(kh, kw)}")
    ci, cj = kh // 2, kw // 2
    m = np.zeros((kh, kw, in_ch, out_ch), np.float32)
    gi, go = _groups(in_ch, num_colors), _groups(out_ch, num_colors)
    if region == "vertical":
        m[: ci + 1] = 1.0
        return m
    if region == "full":
        m[:ci] = 1.0
    m[ci, :cj] = 1.0
    allowed = gi[:, None] < go[None, :] if mask_type == "A" else gi[:, None] <= go[None, :]
    m[ci, cj] = allowed.astype(np.float32)
    return m


class MaskedConv(nn.Module):
    """A stride-1 ``SAME`` convolution whose kernel is multiplied by :func:`spatial_mask`.

    The mask's rows below the centre are always zero, so the kernel holds only the rows up to the
    centre (``[kh // 2 + 1, kw, in, out]``) and the input is padded above only: the outputs of
    the full ``kh x kw`` masked kernel for about half its multiply-adds.

    ``x [B, H, W, in_ch] -> [B, H, W, features]``.
    """

    features: int
    kernel_size: tuple[int, int]
    mask_type: str = "B"
    num_colors: int = 1
    region: str = "full"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kh, kw = self.kernel_size
        rows = kh // 2 + 1
        mask = spatial_mask(
            kh, kw, x.shape[-1], self.features, self.mask_type, self.num_colors, self.region
        )
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (rows, kw, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = conv2d(x, kernel * mask[:rows], (1, 1), ((kh // 2, 0), (kw // 2, kw // 2)))
        return y + bias


class ResidualMaskedBlock(nn.Module):
    """PixelCNN residual block (van den Oord et al., 2016, pixel recurrent networks): ReLU, 1x1 to
    ``features / 2``, ReLU, 3x3 mask 'B', ReLU, 1x1 to ``features``, plus the input.

    ``x [B, H, W, features] -> [B, H, W, features]``.
    """

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
    """A gated PixelCNN layer (van den Oord et al., 2016, conditional image generation).

    A vertical stack over the rows up to the current one feeds, shifted down one row, a horizontal
    stack over the pixels to the left (so together they see every earlier pixel: no blind spot);
    both use ``tanh(a) * sigmoid(b)`` gates with an optional conditioning vector added before the
    gate, and the horizontal stack has a residual connection except in the first, mask-'A' layer
    (whose input is the image itself).

    ``(v [B, H, W, Fv], h [B, H, W, Fh], cond [B, E] | None)`` ->
    ``(v' [B, H, W, F], h' [B, H, W, F])``.
    """

    features: int
    kernel: int = 3
    mask_type: str = "B"
    num_colors: int = 1

    @nn.compact
    def __call__(self, v: Array, h: Array, cond: Optional[Array] = None) -> tuple[Array, Array]:
        f, k = self.features, self.kernel
        v_pre = MaskedConv(2 * f, (k, k), self.mask_type, 1, region="vertical", name="v_conv")(v)
        h_pre = MaskedConv(
            2 * f, (1, k), self.mask_type, self.num_colors, region="horizontal", name="h_conv"
        )(h)
        h_pre = h_pre + Conv(2 * f, (1, 1), name="v_to_h")(_shift_down(v_pre))
        if cond is not None:
            c = nn.Dense(2 * f, name="cond")(cond)[:, None, None, :]
            v_pre, h_pre = v_pre + c, h_pre + c

        def gate(a: Array) -> Array:
            # The gate's two halves must stay within one colour group each: interleave per group.
            a = a.reshape(a.shape[:-1] + (self.num_colors, 2, f // self.num_colors))
            return (jnp.tanh(a[..., 0, :]) * jax.nn.sigmoid(a[..., 1, :])).reshape(
                a.shape[:-3] + (f,)
            )

        v_out = gate(v_pre)
        h_out = MaskedConv(f, (1, 1), "B", self.num_colors, name="h_out")(gate(h_pre))
        return v_out, (h_out if self.mask_type == "A" else h + h_out)
