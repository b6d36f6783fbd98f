"""A small CNN image classifier whose penultimate features and softmax serve evaluation
(FID/KID/precision/recall features, Inception-Score probabilities) on small images such as
digits."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from genjax.typing import Array

__all__ = ["ImageClassifier"]


class ImageClassifier(nn.Module):
    """Conv(3x3) blocks with ReLU, 2x2 average pooling after each block from ``pool_from`` on, a
    dense feature layer and a linear head.

    Attributes:
      num_classes: output classes.
      channels: convolution widths, one block each.
      feature_dim: width of the penultimate (feature) layer.
      pool_from: index of the first block followed by pooling (1 for 8x8 digits; 0 at 28x28 keeps the
        wide convolutions at the lower resolutions, where they cost a sixteenth).

    ``__call__(x)`` with ``x: float32 [B, H, W, C]`` in [-1, 1] returns ``(logits [B, num_classes],
    features [B, feature_dim])``.
    """

    num_classes: int = 10
    channels: Sequence[int] = (32, 64)
    feature_dim: int = 128
    pool_from: int = 1

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        for i, width in enumerate(self.channels):
            x = jax.nn.relu(nn.Conv(width, (3, 3), name=f"conv_{i}")(x))
            if i >= self.pool_from:
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        features = jax.nn.relu(
            nn.Dense(self.feature_dim, name="features")(x.reshape(x.shape[0], -1))
        )
        return nn.Dense(self.num_classes, name="head")(features), features
