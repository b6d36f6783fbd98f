"""Convolutional VAE with a discretized-logistic decoder on 17-level digits; IWAE-1000 test bound."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("vae")
    c.model.architecture = "conv"
    c.model.latent_dim = 16
    c.model.channels = (32, 64)
    c.model.likelihood = "logistic"
    c.model.prior = "gaussian"  # fitted to the aggregate posterior: N(0, I) left holes (vae_diagnostics)
    c.model.sample_output = "mean"
    c.model.kl_warmup_steps = 500
    c.model.iwae_samples = 1000
    c.model.iwae_chunk = 100
    c.binarize_threshold = 8
    c.optimizer = {"name": "adam", "learning_rate": 1e-3}
    c.train.num_steps = 3000
    return c
