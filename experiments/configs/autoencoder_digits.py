"""Stage one of latent diffusion (Rombach et al., 2022) on 17-level digits: a KL-regularized conv
autoencoder, 8x8x1 -> 4x4x2 (one halving, 32 latent values for 64 pixels)."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("autoencoder")
    c.model.channels = (32,)
    c.model.latent_channels = 2
    c.model.kl_weight = 1e-3
    c.optimizer = {"name": "adam", "learning_rate": 2e-3}
    c.train.num_steps = 2000
    c.train.batch_size = 64
    return c
