"""Autoregressive image models with exact likelihoods: PixelCNN and gated PixelCNN (van den Oord et
al., 2016), conditional on a class label, with a softmax over the data's discrete levels.

``p(x) = prod_{i, c} p(x_{i, c} | x_{<i}, x_{i, <c})`` in raster order. Images arrive as
``float32 [B, H, W, C]`` on the grid of ``levels`` values in [-1, 1] (binary data: ``levels = 2``);
the network reads them as they are and predicts ``levels`` logits per value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.distributions import categorical_log_prob
from genjax.nn.masked import GatedBlock, MaskedConv, ResidualMaskedBlock
from genjax.samplers.autoregressive import sample_pixels
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = ["PixelCNNConfig", "PixelCNN", "make_pixelcnn", "to_levels", "logits_fn", "complete", "bits_per_dim"]


@dataclasses.dataclass(frozen=True)
class PixelCNNConfig:
    """Attributes:
    variant: ``'pixelcnn'`` (mask A 7x7, residual mask-B blocks) or ``'gated'`` (vertical and
      horizontal stacks, no blind spot).
    data_shape: ``(H, W, C)``.
    levels: discrete values per channel (2 binary, 17 digits, 256 8-bit).
    features: hidden channels (divisible by C).
    num_layers: residual blocks or gated layers after the first.
    num_classes: > 0 for class-conditional models.
    """

    variant: str = "gated"
    data_shape: tuple[int, int, int] = (8, 8, 1)
    levels: int = 17
    features: int = 64
    num_layers: int = 5
    num_classes: int = 0

    def __post_init__(self):
        if self.variant not in ("pixelcnn", "gated"):
            raise ValueError(f"variant must be 'pixelcnn' or 'gated', got {self.variant!r}")


class PixelCNN(nn.Module):
    """The network: ``(x [B, H, W, C] in [-1, 1], label int32 [B] | None) -> logits [B, H, W, C, K]``."""

    config: PixelCNNConfig

    @nn.compact
    def __call__(self, x: Array, label: Optional[Array] = None) -> Array:
        cfg = self.config
        c = cfg.data_shape[-1]
        cond = nn.Embed(cfg.num_classes, 32)(label) if cfg.num_classes and label is not None else None
        if cfg.variant == "pixelcnn":
            h = MaskedConv(cfg.features, (7, 7), "A", c)(x)
            if cond is not None:
                h = h + nn.Dense(cfg.features)(cond)[:, None, None, :]
            for _ in range(cfg.num_layers):
                h = ResidualMaskedBlock(cfg.features, c)(h)
        else:
            v, h = GatedBlock(cfg.features, 7, "A", c)(x, x, cond)
            for _ in range(cfg.num_layers):
                v, h = GatedBlock(cfg.features, 3, "B", c)(v, h, cond)
        h = MaskedConv(cfg.features, (1, 1), "B", c)(jax.nn.relu(h))
        out = MaskedConv(c * cfg.levels, (1, 1), "B", c)(jax.nn.relu(h))
        # Channel groups are contiguous: group g holds colour g's K logits.
        return out.reshape(x.shape[:3] + (c, cfg.levels))


def to_levels(x: Array, levels: int) -> Array:
    """[-1, 1] grid values -> int32 levels ``0..levels-1``."""
    return jnp.clip(jnp.round((x + 1.0) * 0.5 * (levels - 1)), 0, levels - 1).astype(jnp.int32)


def logits_fn(config: PixelCNNConfig, params: Params, label: Optional[Array] = None):
    """The plain callable ``x -> logits`` that :func:`genjax.samplers.autoregressive.sample_pixels` takes."""
    net = PixelCNN(config)
    return lambda x: net.apply({"params": params}, x, label)


def bits_per_dim(log_prob: Array, num_dims: int) -> Array:
    """``-log p / (D ln 2)`` per example."""
    return -log_prob / (num_dims * math.log(2.0))


def complete(config: PixelCNNConfig, params: Params, key: PRNGKey, images: Array, given_rows: int,
             label: Optional[Array] = None) -> Array:
    """Image completion: keeps the top ``given_rows`` rows of ``images`` and samples the rest."""
    return sample_pixels(key, logits_fn(config, params, label), images, config.levels, given_rows)


def make_pixelcnn(config: PixelCNNConfig) -> Model:
    """Builds the :class:`~genjax.base.Model`: loss = NLL in nats per example (metrics give
    bits/dim); ``log_prob`` exact (:data:`Likelihood.EXACT`); ``sample`` pixel by pixel (labels
    ``i mod num_classes`` for conditional models)."""
    net = PixelCNN(config)
    dims = math.prod(config.data_shape)

    def labels(batch: Batch) -> Optional[Array]:
        return batch["label"] if config.num_classes else None

    def init(key: PRNGKey, batch: Batch) -> dict:
        x = batch["image"][:1]
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        return {"params": net.init(key, x, label)["params"], "state": {}}

    def log_prob(params, state, batch, key):
        x = batch["image"]
        if tuple(x.shape[1:]) != tuple(config.data_shape):
            raise ValueError(f"images must be [B, {', '.join(map(str, config.data_shape))}], got {x.shape}")
        return categorical_log_prob(net.apply({"params": params}, x, labels(batch)), to_levels(x, config.levels))

    def loss(params, state, batch, key):
        nll = -jnp.mean(log_prob(params, state, batch, key))
        return nll, ({"nll_nats": nll, "bits_per_dim": nll / (dims * math.log(2.0))}, state)

    def sample(params, state, key, n):
        label = jnp.arange(n, dtype=jnp.int32) % config.num_classes if config.num_classes else None
        return sample_pixels(key, logits_fn(config, params, label), jnp.zeros((n,) + tuple(config.data_shape)),
                             config.levels)

    return Model(init, loss, sample, log_prob, Likelihood.EXACT)
