"""Stage one of latent diffusion (Rombach et al., 2022) on 8-bit Fashion-MNIST: a KL-regularized conv
autoencoder, 28x28x1 -> 7x7x4 (two halvings, 196 latent values for 784 pixels)."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("autoencoder", "fashion_mnist")
    c.model.channels = (32, 64)
    c.model.latent_channels = 4
    c.model.kl_weight = 1e-3
    c.optimizer = {"name": "adam", "learning_rate": 1e-3}
    c.train.num_steps = 1500
    c.train.batch_size = 64
    return c
