"""The first stage of latent diffusion (Rombach et al., 2022): a KL-regularized convolutional
autoencoder on [-1, 1] images. The ``ldm`` family restores its run (``config.autoencoder_workdir``)
and trains a diffusion model on its latents.

Its own samples decode ``z ~ N(0, I)`` (far from the data under the small KL weight); what this stage
is judged by is its reconstruction error, which the evaluation records with the latent shape.
"""

from __future__ import annotations

import jax
import numpy as np

from experiments.families import FamilySpec
from experiments.families.common import identity_images, symmetric_batch
from genjax.models import latent_diffusion
from genjax.models.latent_diffusion import LatentDiffusionConfig
from genjax.typing import Params

__all__ = ["model_config", "latent_means", "reconstruction_mse", "spec"]

_CHUNK = 500  # images per encoder / decoder call: bounds the memory of the 28x28 activations


def model_config(config) -> LatentDiffusionConfig:
    """The autoencoder fields of ``config.model`` (``channels``, ``latent_channels``, ``kl_weight``) on
    ``config.image_shape``; the ``diffusion`` field keeps its default (the ``ldm`` family sets it)."""
    fields = config.model.to_dict()
    if "channels" in fields:
        fields["channels"] = tuple(fields["channels"])
    return LatentDiffusionConfig(data_shape=tuple(config.image_shape), **fields)


def _chunked(fn, params: Params, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(fn(params, x[i:i + _CHUNK])) for i in range(0, len(x), _CHUNK)])


def latent_means(mc: LatentDiffusionConfig, params: Params, images: np.ndarray) -> np.ndarray:
    """``mean(q(z | x))``, float32 ``[N, *latent_shape]``, of ``[N, H, W, C]`` images in [-1, 1]."""
    return _chunked(jax.jit(lambda p, x: latent_diffusion.encode(mc, p, x)[0]), params, images)


def reconstruction_mse(mc: LatentDiffusionConfig, params: Params, images: np.ndarray) -> float:
    """Mean squared error per pixel (on the [-1, 1] scale) of ``dec(mean(q(z | x)))`` (unclipped)."""
    means = latent_means(mc, params, images)
    recon = _chunked(jax.jit(lambda p, z: latent_diffusion.decode(mc, p, z)), params, means)
    return float(np.mean(np.square(recon - images)))


def spec(config) -> FamilySpec:
    mc = model_config(config)
    to_batch = symmetric_batch(config)

    def summary(state, test: dict) -> dict:
        params = state.eval_params
        return {
            "latent_shape": list(latent_diffusion.latent_shape(mc)),
            "reconstruction_mse": reconstruction_mse(mc, params, to_batch(test)["image"]),
        }

    # One decoder evaluation per sample.
    return FamilySpec(latent_diffusion.make_autoencoder(mc), to_batch, identity_images, nfe=1,
                      ema_decay=config.get("ema_decay", None), summary=summary)
