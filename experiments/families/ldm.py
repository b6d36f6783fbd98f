"""Latent diffusion (Rombach et al., 2022): EDM on the scaled latents of a trained autoencoder run
(``config.autoencoder_workdir``, trained with ``config.autoencoder_config``), samples decoded to [-1, 1].

The model's ``init`` computes the scale factor ``1 / std`` of the encoder's latent means on the first
training batch (as Rombach et al. do) and keeps it, with the frozen autoencoder, in the model state:
a resumed or restored run gets the checkpointed value back, never a recomputed one. No likelihood:
the decoder makes ``p(x)`` intractable.
"""

from __future__ import annotations

import dataclasses
import importlib

import jax
import numpy as np

from experiments.configs.common import IMAGE_SHAPES
from experiments.families import FamilySpec
from experiments.families import autoencoder as autoencoder_family
from experiments.families.common import identity_images, symmetric_batch
from genjax.models import diffusion, latent_diffusion

__all__ = ["autoencoder_run", "model_config", "spec"]


def autoencoder_run(config):
    """The autoencoder's config (on ``config.dataset``) and its restored train state.

    Raises:
      ValueError: when ``config.autoencoder_config`` names no config module.
      RunError: when ``config.autoencoder_workdir`` has no checkpoint (the message says how to train it).
    """
    from experiments import run  # the autoencoder is restored like any run

    name = config.autoencoder_config
    try:
        ae_config = importlib.import_module(f"experiments.configs.{name}").get_config()
    except ModuleNotFoundError as err:
        raise ValueError(f"autoencoder_config {name!r} is not a module of experiments/configs") from err
    ae_config.dataset = config.dataset
    ae_config.data_dir = config.data_dir
    ae_config.image_shape = IMAGE_SHAPES[config.dataset]
    try:
        _, state = run.restore(ae_config, config.autoencoder_workdir)
    except run.RunError as err:
        raise run.RunError(
            f"latent diffusion needs a trained autoencoder run: {err} (python -m experiments.main --config "
            f"experiments/configs/{name}.py --workdir {config.autoencoder_workdir})"
        ) from err
    return ae_config, state


def model_config(config, ae_config) -> latent_diffusion.LatentDiffusionConfig:
    """The autoencoder of ``ae_config`` with the EDM fields of ``config.model`` on its latent grid
    (continuous: no dequantization levels)."""
    fields = config.model.to_dict()
    for k in ("channel_mults", "attention_resolutions"):
        if k in fields:
            fields[k] = tuple(fields[k])
    ae = autoencoder_family.model_config(ae_config)
    inner = diffusion.DiffusionConfig(data_shape=latent_diffusion.latent_shape(ae), levels=0, **fields)
    if inner.kind != "edm":
        raise ValueError(f"latent diffusion trains EDM on unit-variance latents, got kind {inner.kind!r}")
    return dataclasses.replace(ae, diffusion=inner)


def spec(config) -> FamilySpec:
    ae_config, ae_state = autoencoder_run(config)
    mc = model_config(config, ae_config)
    ae_params = ae_state.eval_params
    to_batch = symmetric_batch(config)

    def summary(state, test: dict) -> dict:
        frozen, scale = state.model_state["autoencoder"], float(state.model_state["scale"])
        images = to_batch(test)["image"]
        return {
            "latent_shape": list(latent_diffusion.latent_shape(mc)),
            "latent_scale": scale,
            # Near 1 when the scale computed on the first training batch holds for the test set.
            "test_latent_std": float(np.std(autoencoder_family.latent_means(mc, frozen, images)) * scale),
            "autoencoder_reconstruction_mse": autoencoder_family.reconstruction_mse(mc, frozen, images),
        }

    # Heun: 2 N - 1 denoiser evaluations per sample, then one decoder pass.
    return FamilySpec(latent_diffusion.make_latent_diffusion(mc, jax.device_get(ae_params)), to_batch,
                      identity_images, nfe=2 * mc.diffusion.sample_steps - 1,
                      ema_decay=config.get("ema_decay", 0.999), summary=summary)
