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
    """Conv(3x3) blocks with ReLU, average pooling after each block but the first, a dense feature
    layer and a linear head.

    Attributes:
      num_classes: output classes.
      channels: convolution widths, one block each.
      feature_dim: width of the penultimate (feature) layer.

    ``__call__(x)`` with ``x: float32 [B, H, W, C]`` in [-1, 1] returns ``(logits [B, num_classes],
    features [B, feature_dim])``.
    """

    num_classes: int = 10
    channels: Sequence[int] = (32, 64)
    feature_dim: int = 128

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        for i, width in enumerate(self.channels):
            x = jax.nn.relu(nn.Conv(width, (3, 3), name=f"conv_{i}")(x))
            if i > 0:
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        features = jax.nn.relu(
            nn.Dense(self.feature_dim, name="features")(x.reshape(x.shape[0], -1))
        )
        return nn.Dense(self.num_classes, name="head")(features), features
