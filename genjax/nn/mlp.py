"""A multilayer perceptron, the one used by every family for vector data."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax

from genjax.typing import Array

__all__ = ["MLP"]


class MLP(nn.Module):
    """Dense layers with an activation between them (none after the last).

    Attributes:
      features: widths of the layers, the last one being the output width.
      activation: elementwise nonlinearity between layers.
      zero_init_last: initialise the last layer to zero (identity-at-init couplings, residual heads).

    Input ``[..., D_in]`` -> output ``[..., features[-1]]``.
    """

    features: Sequence[int]
    activation: Callable[[Array], Array] = jax.nn.relu
    zero_init_last: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        for i, width in enumerate(self.features):
            last = i == len(self.features) - 1
            init = nn.initializers.zeros if (last and self.zero_init_last) else nn.linear.default_kernel_init
            x = nn.Dense(width, kernel_init=init, name=f"dense_{i}")(x)
            if not last:
                x = self.activation(x)
        return x
