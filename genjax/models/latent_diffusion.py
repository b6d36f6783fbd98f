"""Latent diffusion (Rombach et al., 2022): a KL-regularized convolutional autoencoder trained first,
then a diffusion model (:mod:`genjax.models.diffusion`) on its scaled latents; samples are decoded.

Two models, trained one after the other with the same train step:

1. :func:`make_autoencoder` - ``x [B, H, W, C] in [-1, 1] -> z [B, H / 2^L, W / 2^L, latent_channels]``
   with loss ``||x - dec(z)||^2 + kl_weight KL(q(z | x) || N(0, I))``, ``z ~ q(z | x)``.
2. :func:`make_latent_diffusion` with the trained autoencoder parameters. Its ``init`` computes the
   latent scale factor ``1 / std`` of the encoder's latent means over the batch it is given (pass the
   training set, or a large sample of it, as ``init_batch``) and stores it, with the frozen
   autoencoder, in the model state: it is checkpointed and restored with the run, never a constant.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.losses import gaussian_kl
from genjax.models import diffusion
from genjax.nn.conv import ConvDecoder, ConvEncoder
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = [
    "LatentDiffusionConfig",
    "latent_shape",
    "make_autoencoder",
    "encode",
    "decode",
    "latent_scale",
    "make_latent_diffusion",
]


@dataclasses.dataclass(frozen=True)
class LatentDiffusionConfig:
    """Hyperparameters of latent diffusion: an autoencoder and a diffusion model of its latents.

    Attributes:
      data_shape: ``(H, W, C)`` of the images.
      channels: encoder widths, one halving of H and W per entry (the decoder mirrors them).
      latent_channels: channels of the latent grid.
      kl_weight: weight of the KL term of the autoencoder loss (small: a nearly deterministic code).
      diffusion: the latent diffusion model; its ``data_shape`` and ``levels`` are set from the
        latent grid (continuous), its ``sigma_data`` should stay 1 for unit-variance latents (EDM).
    """

    data_shape: tuple[int, int, int] = (8, 8, 1)
    channels: tuple[int, ...] = (32,)
    latent_channels: int = 4
    kl_weight: float = 1e-3
    diffusion: diffusion.DiffusionConfig = diffusion.DiffusionConfig(
        kind="edm", base_channels=32, channel_mults=(1, 2), sigma_data=1.0, levels=0
    )

    def __post_init__(self):
        h, w, _ = self.data_shape
        if h % 2 ** len(self.channels) or w % 2 ** len(self.channels):
            raise ValueError(
                f"data_shape {self.data_shape} is not divisible by 2^{len(self.channels)} (channels)"
            )


def latent_shape(config: LatentDiffusionConfig) -> tuple[int, int, int]:
    """``(H / 2^L, W / 2^L, latent_channels)``."""
    f = 2 ** len(config.channels)
    return (config.data_shape[0] // f, config.data_shape[1] // f, config.latent_channels)


def _encoder(config: LatentDiffusionConfig) -> ConvEncoder:
    return ConvEncoder(config.latent_channels, tuple(config.channels), spatial_latent=True)


def _decoder(config: LatentDiffusionConfig) -> ConvDecoder:
    return ConvDecoder(
        tuple(config.data_shape), tuple(reversed(config.channels)), spatial_latent=True
    )


def encode(config: LatentDiffusionConfig, params: Params, x: Array) -> tuple[Array, Array]:
    """``q(z | x)``: ``(mean, log_var)``, each float32 ``[B, *latent_shape]``."""
    return _encoder(config).apply({"params": params["encoder"]}, x)


def decode(config: LatentDiffusionConfig, params: Params, z: Array) -> Array:
    """The decoder's mean image, float32 [B, H, W, C] (unclipped)."""
    return _decoder(config).apply({"params": params["decoder"]}, z)


def make_autoencoder(config: LatentDiffusionConfig) -> Model:
    """The KL-regularized autoencoder as a :class:`~genjax.base.Model` (``batch['image']`` in
    [-1, 1]). ``sample`` decodes ``z ~ N(0, I)``, which the small KL weight leaves far from the
    data; the latent diffusion model is what samples. No likelihood."""

    def init(key: PRNGKey, batch: Batch) -> dict:
        k_e, k_d = jax.random.split(key)
        x = batch["image"][:1]
        enc = _encoder(config).init(k_e, x)["params"]
        dec = _decoder(config).init(k_d, jnp.zeros((1,) + latent_shape(config)))["params"]
        return {"params": {"encoder": enc, "decoder": dec}, "state": {}}

    def loss(params, state, batch, key):
        x = batch["image"]
        mean, log_var = encode(config, params, x)
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
        recon = jnp.sum(jnp.square(decode(config, params, z) - x).reshape(x.shape[0], -1), -1)
        kl = gaussian_kl(mean, log_var)
        value = jnp.mean(recon + config.kl_weight * kl)
        dims = math.prod(x.shape[1:])
        return value, ({"recon_mse": jnp.mean(recon) / dims, "kl": jnp.mean(kl)}, state)

    def sample(params, state, key, n):
        return decode(config, params, jax.random.normal(key, (n,) + latent_shape(config)))

    return Model(init, loss, sample, None, Likelihood.NONE)


def latent_scale(config: LatentDiffusionConfig, autoencoder_params: Params, images: Array) -> Array:
    """``1 / std`` of the encoder's latent means over ``images`` (all entries pooled), float32 scalar."""
    mean, _ = encode(config, autoencoder_params, images)
    return 1.0 / jnp.std(mean)


def make_latent_diffusion(config: LatentDiffusionConfig, autoencoder_params: Params) -> Model:
    """Diffusion on ``scale * mean(q(z | x))`` with the autoencoder frozen.

    Args:
      config: the settings; ``config.diffusion`` is the latent model.
      autoencoder_params: trained :func:`make_autoencoder` parameters; ``init`` puts them in the
        model state (not trained further).

    Returns:
      A :class:`~genjax.base.Model`: state ``{'autoencoder': ..., 'scale': float32 []}``; the loss
      metrics include ``latent_scale``; ``sample`` gives decoded images clipped to [-1, 1]; no
      likelihood (the decoder makes it intractable).
    """
    inner_config = dataclasses.replace(config.diffusion, data_shape=latent_shape(config), levels=0)
    inner = diffusion.make_diffusion(inner_config)

    def latents(state, x):
        return encode(config, state["autoencoder"], x)[0] * state["scale"]

    def init(key: PRNGKey, batch: Batch) -> dict:
        state = {
            # Device arrays even when host arrays are given: a checkpoint restore places the state
            # like its template, and a host leaf would come back with the saved (multi-device) layout.
            "autoencoder": jax.tree.map(jnp.asarray, autoencoder_params),
            "scale": latent_scale(config, autoencoder_params, batch["image"]),
        }
        inner_batch = {"image": latents(state, batch["image"][:1])}
        if "label" in batch:
            inner_batch["label"] = batch["label"][:1]
        return {"params": inner.init(key, inner_batch)["params"], "state": state}

    def loss(params, state, batch, key):
        inner_batch = dict(batch, image=jax.lax.stop_gradient(latents(state, batch["image"])))
        value, (metrics, _) = inner.loss(params, {}, inner_batch, key)
        # Logged so that a run's metrics show the scale it trains under (constant after init).
        return value, (dict(metrics, latent_scale=state["scale"]), state)

    def sample(params, state, key, n):
        z = inner.sample(params, {}, key, n) / state["scale"]
        return jnp.clip(decode(config, state["autoencoder"], z), -1.0, 1.0)

    return Model(init, loss, sample, None, Likelihood.NONE)
