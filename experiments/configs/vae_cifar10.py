"""Convolutional VAE with a discretized-logistic decoder on 8-bit CIFAR-10, reported in bits/dim."""

from experiments.configs.common import accelerator_run, base_config


def get_config():
    c = accelerator_run(base_config("vae", "cifar10"), num_steps=200_000, batch_size=128)
    c.model.architecture = "conv"
    c.model.channels = (64, 128, 256)
    c.model.latent_dim = 128
    c.model.likelihood = "logistic"
    c.model.kl_warmup_steps = 10_000
    c.model.iwae_samples = 1000
    c.model.iwae_chunk = 100
    c.binarize_threshold = 127
    c.optimizer = {"name": "adam", "learning_rate": 5e-4}
    return c
