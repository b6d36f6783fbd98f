"""Latent diffusion (Rombach et al., 2022) on digits: EDM with Heun sampling (18 steps, 35 NFE plus one
decoder pass) on the 4x4x2 latents of the autoencoder_digits run, scaled to unit variance by the factor
computed at init; the UNet is the shared ``digits_latent`` preset."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields


def get_config():
    c = base_config("ldm")
    c.autoencoder_config = "autoencoder_digits"
    c.autoencoder_workdir = "runs/autoencoder_digits"
    c.model.kind = "edm"
    c.model.update(unet_fields("digits_latent"))
    c.model.sigma_data = 1.0  # the latents are scaled to unit variance
    c.model.num_classes = 0
    c.model.sample_steps = 18
    c.ema_decay = 0.995  # a cap: the half-life grows as 5% of the steps taken, up to 138 steps
    c.optimizer = {"name": "adam", "learning_rate": 2e-3, "warmup_steps": 200}
    c.train.num_steps = 4000
    c.train.batch_size = 64
    return c
