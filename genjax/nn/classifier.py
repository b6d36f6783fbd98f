"""A small CNN image classifier whose penultimate features and softmax serve evaluation
(FID/KID/precision/recall features, Inception-Score probabilities) on small images such as
digits."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.convolution import Conv
from genjax.typing import Array

__all__ = ["ImageClassifier"]


class ImageClassifier(nn.Module):
    """Blocks of ``convs_per_block`` Conv(3x3)+ReLU layers, 2x2 pooling (average or max) after each
    block from ``pool_from`` on, a dense feature layer and a linear head (a VGG-style stack,
    Simonyan & Zisserman, 2015).

    Attributes:
      num_classes: output classes.
      channels: convolution widths, one block each.
      feature_dim: width of the penultimate (feature) layer.
      pool_from: index of the first block followed by pooling (1 for 8x8 digits; 0 at 28x28 keeps the
        wide convolutions at the lower resolutions, where they cost a sixteenth).
      mirror_average: the features are the mean of those of the image and of its left-right mirror
        (the logits follow from them), for data whose classes are mirror-symmetric (Fashion-MNIST):
        test-time augmentation written into the network, so that the features that judge samples
        are the ones whose accuracy is reported. Same parameters as without it.

    ``__call__(x)`` with ``x: float32 [B, H, W, C]`` in [-1, 1] returns ``(logits [B, num_classes],
    features [B, feature_dim])``.
    """

    num_classes: int = 10
    channels: Sequence[int] = (32, 64)
    feature_dim: int = 128
    pool_from: int = 1
    convs_per_block: int = 1
    pool: str = "avg"
    mirror_average: bool = False

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        if self.pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
        pool = nn.avg_pool if self.pool == "avg" else nn.max_pool
        n = x.shape[0]
        if self.mirror_average:
            x = jnp.concatenate([x, x[:, :, ::-1]])
        for i, width in enumerate(self.channels):
            for j in range(self.convs_per_block):
                # The first conv of a block keeps the name of the one-conv layout, so weights saved
                # before ``convs_per_block`` existed still load.
                name = f"conv_{i}" if j == 0 else f"conv_{i}_{j}"
                x = jax.nn.relu(Conv(width, (3, 3), name=name)(x))
            if i >= self.pool_from:
                x = pool(x, (2, 2), strides=(2, 2))
        features = jax.nn.relu(
            nn.Dense(self.feature_dim, name="features")(x.reshape(x.shape[0], -1))
        )
        if self.mirror_average:
            features = 0.5 * (features[:n] + features[n:])
        return nn.Dense(self.num_classes, name="head")(features), features
