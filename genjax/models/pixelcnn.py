"""Autoregressive image models with exact likelihoods: PixelCNN (van den Oord et al., 2016,
pixel recurrent networks), gated PixelCNN (van den Oord et al., 2016, conditional image
generation) and the discretized logistic mixture output of PixelCNN++ (Salimans et al., 2017).

``p(x) = prod_{i, c} p(x_{i, c} | x_{<i}, x_{i, <c})`` in raster order, channels in order.

Data convention: images arrive as ``float32 [B, H, W, C]`` on the grid of ``levels`` values in
[-1, 1], ``x = 2 k / (levels - 1) - 1`` for the integer level ``k`` (``genjax.data.transforms.
to_symmetric``): 17 levels for digits, 256 for 8-bit images, and binary images as ``levels = 2``
on {-1, 1} (map {0, 1} data with ``2 x - 1``). The network reads these values; the likelihood
recovers ``k`` by rounding. ``log_prob`` is the exact log-probability of the discrete image in nats;
:func:`bits_per_dim` divides its negative by ``H W C ln 2``. Samples come back on the same grid.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.base import Likelihood, Model
from genjax.distributions import categorical_log_prob, discretized_logistic_mixture_log_prob
from genjax.nn.masked import GatedBlock, MaskedConv, ResidualMaskedBlock
from genjax.samplers.autoregressive import (
    DistFn,
    ValueSampler,
    categorical_sampler,
    logistic_mixture_sampler,
    sample_autoregressive,
)
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = [
    "PixelCNNConfig",
    "PixelCNN",
    "make_pixelcnn",
    "to_levels",
    "distribution_params",
    "dist_fn",
    "value_sampler",
    "log_prob_from_params",
    "sample_conditional",
    "complete",
    "bits_per_dim",
    "receptive_rows",
]

_MIN_LOG_SCALE = (
    -7.0
)  # PixelCNN++'s floor: keeps a bin's probability from collapsing to a point mass
_FIRST_KERNEL = 7  # the mask-A layer (both variants)
_KERNEL = 3  # every later masked layer


@dataclasses.dataclass(frozen=True)
class PixelCNNConfig:
    """Hyperparameters of a PixelCNN.

    Attributes:
      variant: ``'pixelcnn'`` (a 7x7 mask-A convolution, then residual blocks with 3x3 mask-B
        convolutions; has the blind spot) or ``'gated'`` (vertical and horizontal stacks with gated
        activations; no blind spot).
      data_shape: ``(H, W, C)``.
      levels: discrete values per channel (2 binary, 17 digits, 256 8-bit).
      output: ``'softmax'`` (``levels`` logits per value) or ``'logistic_mixture'`` (PixelCNN++:
        ``num_mixtures`` discretized logistics per value; colours are ordered by the masks, so each
        channel has its own mixture conditioned on the earlier channels instead of PixelCNN++'s
        linear channel coefficients).
      num_mixtures: components of the logistic mixture.
      features: hidden channels (divisible by ``2 C``: the masks give each colour a group).
      num_layers: residual blocks or gated layers after the first layer.
      num_classes: > 0 for a model conditioned on a class label (batch ``'label'``).
      label_features: size of the label embedding.
    """

    variant: str = "gated"
    data_shape: tuple[int, int, int] = (8, 8, 1)
    levels: int = 17
    output: str = "softmax"
    num_mixtures: int = 5
    features: int = 64
    num_layers: int = 5
    num_classes: int = 0
    label_features: int = 32

    def __post_init__(self):
        if self.variant not in ("pixelcnn", "gated"):
            raise ValueError(f"variant must be 'pixelcnn' or 'gated', got {self.variant!r}")
        if self.output not in ("softmax", "logistic_mixture"):
            raise ValueError(f"output must be 'softmax' or 'logistic_mixture', got {self.output!r}")
        if len(self.data_shape) != 3 or min(self.data_shape) < 1:
            raise ValueError(
                f"data_shape must be (H, W, C) with positive sizes, got {self.data_shape}"
            )
        if self.levels < 2:
            raise ValueError(f"levels must be >= 2, got {self.levels}")
        if self.num_mixtures < 1:
            raise ValueError(f"num_mixtures must be >= 1, got {self.num_mixtures}")
        if self.features % (2 * self.data_shape[-1]):
            raise ValueError(
                f"features ({self.features}) must be divisible by 2 * C = {2 * self.data_shape[-1]}"
            )
        if self.num_layers < 0 or self.num_classes < 0:
            raise ValueError(
                "num_layers and num_classes must be >= 0, "
                f"got {self.num_layers}, {self.num_classes}"
            )

    @property
    def params_per_value(self) -> int:
        return self.levels if self.output == "softmax" else 3 * self.num_mixtures


class PixelCNN(nn.Module):
    """The network: ``(x [B, H, W, C] in [-1, 1], label int32 [B] | None) -> [B, H, W, C, P]`` raw
    per-value outputs (``P = config.params_per_value``; see :func:`distribution_params`)."""

    config: PixelCNNConfig

    @nn.compact
    def __call__(self, x: Array, label: Optional[Array] = None) -> Array:
        cfg = self.config
        c = cfg.data_shape[-1]
        cond = None
        if cfg.num_classes:
            if label is None:
                raise ValueError("a class-conditional PixelCNN needs labels")
            cond = nn.Embed(cfg.num_classes, cfg.label_features)(label)
        if cfg.variant == "pixelcnn":
            h = MaskedConv(cfg.features, (_FIRST_KERNEL, _FIRST_KERNEL), "A", c)(x)
            if cond is not None:
                h = h + nn.Dense(cfg.features)(cond)[:, None, None, :]
            for _ in range(cfg.num_layers):
                h = ResidualMaskedBlock(cfg.features, c)(h)
        else:
            v, h = GatedBlock(cfg.features, _FIRST_KERNEL, "A", c)(x, x, cond)
            for _ in range(cfg.num_layers):
                v, h = GatedBlock(cfg.features, _KERNEL, "B", c)(v, h, cond)
        h = MaskedConv(cfg.features, (1, 1), "B", c)(jax.nn.relu(h))
        out = MaskedConv(c * cfg.params_per_value, (1, 1), "B", c)(jax.nn.relu(h))
        # Channel groups are contiguous: group g holds colour g's P outputs.
        return out.reshape(x.shape[:3] + (c, cfg.params_per_value))


def to_levels(x: Array, levels: int) -> Array:
    """[-1, 1] grid values -> int32 levels ``0..levels-1`` (rounded, clipped)."""
    return jnp.clip(jnp.round((x + 1.0) * 0.5 * (levels - 1)), 0, levels - 1).astype(jnp.int32)


def distribution_params(config: PixelCNNConfig, out: Array) -> Any:
    """Raw network outputs ``[B, H, W, C, P]`` -> per-value distribution parameters: softmax logits
    ``[B, H, W, C, levels]``, or ``(logit_weights, means, log_scales)`` each ``[B, H, W, C, M]``
    (log-scales floored at -7)."""
    if config.output == "softmax":
        return out
    logit_weights, means, log_scales = jnp.split(out, 3, axis=-1)
    return logit_weights, means, jnp.maximum(log_scales, _MIN_LOG_SCALE)


def log_prob_from_params(config: PixelCNNConfig, params_out: Any, x: Array) -> Array:
    """Exact ``log p(x)`` in nats, float32 [B], from :func:`distribution_params`' output."""
    if config.output == "softmax":
        return categorical_log_prob(params_out, to_levels(x, config.levels))
    return discretized_logistic_mixture_log_prob(*params_out, x, config.levels)


def value_sampler(config: PixelCNNConfig) -> ValueSampler:
    """The per-value sampling callable of
    :func:`genjax.samplers.autoregressive.sample_autoregressive` for this output."""
    if config.output == "softmax":
        return categorical_sampler(config.levels)
    return logistic_mixture_sampler(config.levels)


def dist_fn(config: PixelCNNConfig, params: Params, label: Optional[Array] = None) -> DistFn:
    """The network as the plain callable ``x -> distribution params`` the sampler takes."""
    net = PixelCNN(config)
    return lambda x: distribution_params(config, net.apply({"params": params}, x, label))


def receptive_rows(config: PixelCNNConfig) -> int:
    """``R``: how many rows above its own row the network's output at a pixel can see.

    A ``k x k`` masked convolution reaches ``k // 2`` rows up; the 1x1 layers reach none. Plain
    PixelCNN: the 7x7 mask-A layer, then one 3x3 layer per residual block, ``R = 3 + L``. Gated:
    the vertical stack sees ``V_0 = 3`` rows up after the 7x7 layer and ``V_l = V_{l-1} + 1``
    after each 3x3 layer; a layer's horizontal stack adds its vertical convolution shifted down one
    row, so ``H_0 = 3 + 1`` and ``H_l = max(H_{l-1}, V_{l-1} + 1 + 1)``: ``R = H_L = 4 + L``. With
    ``L = num_layers``. ``R + 1`` is the smallest exact ``window_rows`` of
    :func:`genjax.samplers.autoregressive.sample_autoregressive`.
    """
    if config.variant == "pixelcnn":
        return _FIRST_KERNEL // 2 + config.num_layers * (_KERNEL // 2)
    return _FIRST_KERNEL // 2 + 1 + config.num_layers * (_KERNEL // 2)


def _window_rows(config: PixelCNNConfig, window_rows: Optional[int]) -> int:
    need = receptive_rows(config) + 1
    if window_rows is None:
        return need
    if window_rows < need:
        raise ValueError(
            f"window_rows={window_rows} is below the {need} rows the {config.variant!r} network "
            f"with {config.num_layers} layers sees (receptive_rows + 1): samples would not be exact"
        )
    return window_rows


def bits_per_dim(log_prob: Array, num_dims: int) -> Array:
    """``-log p / (D ln 2)`` per example: bits per dimension of the discrete data."""
    return -log_prob / (num_dims * math.log(2.0))


def _check_labels(config: PixelCNNConfig, label: Optional[Array]) -> None:
    if config.num_classes and label is None:
        raise ValueError(f"the model is conditional on {config.num_classes} classes: pass labels")
    if not config.num_classes and label is not None:
        raise ValueError("the model is unconditional (num_classes = 0): labels must be None")


def sample_conditional(
    config: PixelCNNConfig,
    params: Params,
    key: PRNGKey,
    labels: Array,
    window_rows: Optional[int] = None,
) -> Array:
    """One image per label, pixel by pixel: float32 [B, H, W, C] on the grid.

    Args:
      labels: int32 [B] in ``0..num_classes-1``.
      window_rows: rows of each network evaluation: ``None`` for the smallest exact window
        (:func:`receptive_rows` ``+ 1``); a larger one (``>= H``: the whole image) gives the same
        samples for the same key, more slowly.

    Raises:
      ValueError: for a window below :func:`receptive_rows` ``+ 1`` or labels the model does not
        take.
    """
    _check_labels(config, labels)
    x0 = jnp.zeros((labels.shape[0],) + tuple(config.data_shape), jnp.float32)
    return sample_autoregressive(
        key,
        dist_fn(config, params, labels),
        value_sampler(config),
        x0,
        window_rows=_window_rows(config, window_rows),
    )


def complete(
    config: PixelCNNConfig,
    params: Params,
    key: PRNGKey,
    images: Array,
    given_rows: int,
    label: Optional[Array] = None,
    window_rows: Optional[int] = None,
) -> Array:
    """Image completion: keeps the top ``given_rows`` rows of ``images`` (float32 [B, H, W, C] on
    the grid) exactly and samples the rest from ``p(rest | top rows[, label])``; ``window_rows`` as
    in :func:`sample_conditional`."""
    _check_labels(config, label)
    return sample_autoregressive(
        key,
        dist_fn(config, params, label),
        value_sampler(config),
        images,
        given_rows,
        _window_rows(config, window_rows),
    )


def _check_images(config: PixelCNNConfig, x: Array) -> None:
    if tuple(x.shape[1:]) != tuple(config.data_shape):
        raise ValueError(
            f"images must be [B, {', '.join(map(str, config.data_shape))}], got {x.shape}"
        )
    if isinstance(x, jax.core.Tracer):
        return
    arr = np.asarray(x, np.float64)
    on_grid = np.abs(
        arr - (2.0 * np.asarray(to_levels(x, config.levels)) / (config.levels - 1) - 1.0)
    )
    if arr.size and (arr.min() < -1 or arr.max() > 1 or on_grid.max() > 1e-4):
        raise ValueError(
            f"images must lie on the grid of {config.levels} levels in [-1, 1] "
            f"(2 k / {config.levels - 1} - 1; binary {{0, 1}} data: use 2 x - 1), "
            f"got values in [{arr.min()}, {arr.max()}]"
        )


def make_pixelcnn(config: PixelCNNConfig) -> Model:
    """Builds the :class:`~genjax.base.Model`.

    ``loss`` is the mean NLL in nats per image (metrics: ``nll_nats``, ``bits_per_dim``);
    ``log_prob`` is exact (:data:`~genjax.base.Likelihood.EXACT`, nats, float32 [B]); ``sample`` draws pixel
    by pixel inside one ``lax.fori_loop``, each network evaluation on the :func:`receptive_rows` ``+ 1``
    rows ending at the current row (labels ``i mod num_classes`` for a conditional model; see
    :func:`sample_conditional` and :func:`complete`).
    """
    net = PixelCNN(config)
    dims = math.prod(config.data_shape)
    window = _window_rows(config, None)

    def labels(batch: Batch) -> Optional[Array]:
        if not config.num_classes:
            return None
        if "label" not in batch:
            raise ValueError("a class-conditional PixelCNN needs batch['label']")
        return batch["label"]

    def init(key: PRNGKey, batch: Batch) -> dict:
        x = jnp.asarray(batch["image"][:1])
        _check_images(config, x)
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        return {"params": net.init(key, x, label)["params"], "state": {}}

    def log_prob(params: Params, state: Any, batch: Batch, key: PRNGKey) -> Array:
        x = batch["image"]
        _check_images(config, x)
        return log_prob_from_params(
            config, distribution_params(config, net.apply({"params": params}, x, labels(batch))), x
        )

    def loss(params: Params, state: Any, batch: Batch, key: PRNGKey):
        nll = -jnp.mean(log_prob(params, state, batch, key))
        return nll, ({"nll_nats": nll, "bits_per_dim": nll / (dims * math.log(2.0))}, state)

    def sample(params: Params, state: Any, key: PRNGKey, n: int) -> Array:
        if config.num_classes:
            return sample_conditional(
                config, params, key, jnp.arange(n, dtype=jnp.int32) % config.num_classes
            )
        x0 = jnp.zeros((n,) + tuple(config.data_shape), jnp.float32)
        return sample_autoregressive(
            key, dist_fn(config, params), value_sampler(config), x0, window_rows=window
        )

    return Model(init, loss, sample, log_prob, Likelihood.EXACT)
