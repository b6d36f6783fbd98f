"""The one 2-D convolution of genjax's networks: ``lax.conv_general_dilated`` with gradients that
XLA:CPU runs on its fast kernels inside loops too.

JAX's transpose rules write a convolution's kernel gradient as a convolution with batch and feature
swapped (``dim_labels=f01b_i01o->01bf``) and its input gradient with the kernel's in and out swapped
(``b01f_01oi->b01f``). At the top level of a compiled function XLA:CPU inserts transposes that make
them canonical (``b01f_01io->b01f``) and calls its Eigen or YNNPACK kernels; inside a ``while`` body
(``lax.scan``, ``fori_loop``: several train steps per call) it does not, and falls back to a naive
loop: the PixelCNN's train step ran about 30x slower per step with ``steps_per_call = 10``, and two
scanned steps of a two-layer 3x3 network took 4,508 ms against 82 ms (batch 32, 28x28, 32 channels,
jaxlib 0.10, 2026-11-27).

Here the tangent is written with those transposes explicit and with dimension numbers chosen so
that reverse mode's transpose rules produce canonical convolutions wherever they land. Forward mode
(``jax.jvp``, ``jacfwd``) and the values are those of ``lax.conv_general_dilated``; the price is that a
JVP executed as such inside a loop runs the non-canonical layouts, so loops that need a
Jacobian-vector quadratic form (Hutchinson divergences in ``genjax.samplers.ode``) use a VJP.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from genjax.typing import Array

__all__ = ["conv_general_dilated", "conv2d", "Conv"]

_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))
# The input tangent reads the kernel as [kh, kw, out, in] (out at 2, in at 3): its transpose, the
# input gradient, then reads it as [kh, kw, in', out'], canonical.
_INPUT_TANGENT = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(2, 3, 0, 1), out_spec=(0, 3, 1, 2))
# The kernel tangent reads x as [C, H, W, B] (batch at 3, feature at 0), the kernel as
# [in, kh, kw, out] and writes [H, W, B, D]: its transpose, the kernel gradient, is then a canonical
# convolution of x [C, H, W, B] (batch C) with the output gradient [H, W, B, D] (in B, out D).
_KERNEL_TANGENT = lax.ConvDimensionNumbers(lhs_spec=(3, 0, 1, 2), rhs_spec=(3, 0, 1, 2), out_spec=(2, 3, 0, 1))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _conv2d(x: Array, kernel: Array, strides: tuple[int, int], padding: tuple[tuple[int, int], ...]) -> Array:
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=_NHWC)


def _conv2d_jvp(strides, padding, primals, tangents):
    x, kernel = primals
    x_dot, kernel_dot = tangents
    y = _conv2d(x, kernel, strides, padding)
    # A tangent that is zero (the kernel's in an input-only JVP: ODE divergences, input gradients; the
    # input's at a network's first layer) adds no convolution. The kernel tangent's layout is the
    # kernel gradient's, which XLA:CPU runs as a naive loop when it is executed forward: an
    # instantiated zero made Hutchinson divergences of the UNet about 10x slower.
    terms = []
    if not isinstance(x_dot, SymbolicZero):
        terms.append(lax.conv_general_dilated(
            x_dot, jnp.transpose(kernel, (0, 1, 3, 2)), strides, padding, dimension_numbers=_INPUT_TANGENT
        ))
    if not isinstance(kernel_dot, SymbolicZero):
        dy_dk = lax.conv_general_dilated(
            jnp.transpose(x, (3, 1, 2, 0)),
            jnp.transpose(kernel_dot, (2, 0, 1, 3)),
            strides,
            padding,
            dimension_numbers=_KERNEL_TANGENT,
        )
        terms.append(jnp.transpose(dy_dk, (2, 0, 1, 3)))
    return y, functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)


_conv2d.defjvp(_conv2d_jvp, symbolic_zeros=True)


def conv2d(x: Array, kernel: Array, strides: Sequence[int], padding: Sequence[tuple[int, int]]) -> Array:
    """Cross-correlation ``x [B, H, W, C] * kernel [kh, kw, C, D] -> [B, H', W', D]`` (NHWC, HWIO).

    Args:
      x: float inputs.
      kernel: float kernel.
      strides: ``(s_h, s_w)``.
      padding: ``((low_h, high_h), (low_w, high_w))``, explicit.

    Returns:
      ``lax.conv_general_dilated(x, kernel, strides, padding)`` in NHWC; its gradients are canonical
      XLA:CPU convolutions, also inside loops (see the module docstring).
    """
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    return _conv2d(x, kernel, tuple(int(s) for s in strides), pads)


def _is_nhwc(dimension_numbers: Any, ndim: int) -> bool:
    if ndim != 4:
        return False
    if dimension_numbers is None:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return dimension_numbers == _NHWC
    return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def conv_general_dilated(
    lhs: Array,
    rhs: Array,
    window_strides: Sequence[int],
    padding: Union[str, Sequence[tuple[int, int]]],
    lhs_dilation: Optional[Sequence[int]] = None,
    rhs_dilation: Optional[Sequence[int]] = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """``lax.conv_general_dilated``'s signature (what ``flax.linen.Conv`` calls): undilated,
    ungrouped 2-D NHWC / HWIO convolutions at default precision go through :func:`conv2d`, anything
    else to ``lax.conv_general_dilated`` unchanged."""
    plain = (
        _is_nhwc(dimension_numbers, lhs.ndim)
        and all(d == 1 for d in (lhs_dilation or (1, 1)))
        and all(d == 1 for d in (rhs_dilation or (1, 1)))
        and feature_group_count == 1
        and batch_group_count == 1
        and precision is None
        and preferred_element_type is None
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
            feature_group_count, batch_group_count, precision, preferred_element_type,
        )
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], tuple(window_strides), padding)
    return conv2d(lhs, rhs, window_strides, padding)


Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
"""``flax.linen.Conv`` on :func:`conv_general_dilated`: the same parameters and names (``Conv_0``,
``kernel``, ``bias``), so checkpoints of networks built on ``nn.Conv`` load unchanged."""
