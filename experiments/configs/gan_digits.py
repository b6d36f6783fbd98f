"""DCGAN with the hinge loss, spectral normalisation in the discriminator and an EMA generator."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("gan")
    c.model.architecture = "dcgan"
    c.model.loss = "hinge"
    c.model.latent_dim = 32
    c.model.features = 32
    c.model.num_scales = 2
    c.model.n_critic = 1
    c.model.spectral_norm = True
    c.model.discriminator_norm = "none"
    c.model.generator_norm = "batch"
    c.ema_decay = 0.995  # a cap: the half-life grows as 5% of the steps taken, up to 138 steps
    c.optimizer = {
        "disc": {"name": "adam", "learning_rate": 2e-4, "b1": 0.0, "b2": 0.9},
        "gen": {"name": "adam", "learning_rate": 2e-4, "b1": 0.0, "b2": 0.9},
    }
    c.train.num_steps = 3000
    return c
