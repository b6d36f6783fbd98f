"""One convolution at a time: forward, input gradient and kernel gradient of the 3x3 stride-1
convolutions that the 28x28 networks run (the UNet's widths at 28, 14 and 7 pixels, batch 128),
ours (``lax.conv_general_dilated`` under ``jax.jit``, NHWC) against PyTorch's kernel on the same
data (NCHW, ``torch.ops.aten.convolution_backward`` with one output mask, eager).

Each op of ours is timed with XLA:CPU's default compilation (YNNPACK convolution fusions), with
:data:`genjax.training.CPU_EIGEN_CONVOLUTIONS` (``[eigen conv]``) and without any YNNPACK fusion
(``[no ynn]``): the rows say which kernel is slow and by how much, which a whole train step cannot.

``python -m experiments.benchmarks.conv [--quick] [--only kernel]``
"""

from __future__ import annotations

import functools
import sys

import jax
import numpy as np
from jax import lax

from experiments.benchmarks import harness

__all__ = ["cases"]

_NHWC = ("NHWC", "HWIO", "NHWC")
# (batch, size, in channels, out channels): the width-32 UNet's 3x3 convolutions.
SHAPES = ((128, 28, 32, 32), (128, 28, 64, 32), (128, 14, 64, 64), (128, 7, 64, 64))
OPS = ("forward", "input gradient", "kernel gradient")


def _conv(x, kernel):
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_NHWC)


def _arrays(b: int, s: int, c: int, d: int):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (b, s, s, c))
    kernel = jax.random.normal(keys[1], (3, 3, c, d)) / np.sqrt(9 * c)
    dy = jax.random.normal(keys[2], (b, s, s, d))
    return x, kernel, dy


def _ours(op: str, shape, compiler_options=None):
    x, kernel, dy = _arrays(*shape)
    if op == "forward":
        fn = jax.jit(_conv, compiler_options=compiler_options)
        return lambda: fn(x, kernel)
    if op == "input gradient":
        fn = jax.jit(lambda k, g: jax.vjp(lambda v: _conv(v, k), x)[1](g)[0], compiler_options=compiler_options)
        return lambda: fn(kernel, dy)
    fn = jax.jit(lambda v, g: jax.vjp(lambda k: _conv(v, k), kernel)[1](g)[0], compiler_options=compiler_options)
    return lambda: fn(x, dy)


def _torch(op: str, shape):
    import torch

    x, kernel, dy = (np.asarray(a) for a in _arrays(*shape))
    tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    tw = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()
    tdy = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous()
    if op == "forward":
        return lambda: torch.nn.functional.conv2d(tx, tw, padding=1)
    mask = (op == "input gradient", False, op == "kernel gradient")
    index = 0 if op == "input gradient" else 1

    def call():
        return torch.ops.aten.convolution_backward(
            tdy, tx, tw, None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1, mask
        )[index]

    return call


def cases(quick: bool) -> list[harness.Case]:
    """A row per (shape, op, compilation); ``quick``: a batch-4 8x8 shape, ours only."""
    if quick:
        return [
            harness.Case(f"conv3x3 {op} quick", 1.0, "calls", functools.partial(_ours, op, (4, 8, 8, 8)))
            for op in OPS
        ]
    rows = []
    for shape in SHAPES:
        b, s, c, d = shape
        flops = 2.0 * b * s * s * 9 * c * d
        for op in OPS:
            for suffix, options in harness.compiler_variants():
                rows.append(
                    harness.Case(
                        f"conv3x3 {op} b{b} {s}x{s} {c}->{d}{suffix}",
                        1.0,
                        "calls",
                        functools.partial(_ours, op, shape, options),
                        functools.partial(_torch, op, shape),
                        "pytorch-eager",
                        flops,
                        quick_ok=False,
                    )
                )
    return rows


def main(argv=None):
    return harness.main(cases, argv, title="conv")


if __name__ == "__main__":
    main(sys.argv[1:])
