"""DCGAN (Radford et al., 2016) with the hinge loss and a spectrally normalised discriminator (Miyato
et al., 2018), EMA generator, on MNIST."""

from experiments.configs.common import accelerator_run, base_config


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("gan", dataset), num_steps=100_000, batch_size=128)
    c.model.architecture = "dcgan"
    c.model.loss = "hinge"
    c.model.latent_dim = 128
    c.model.features = 64
    c.model.num_scales = 2
    c.model.n_critic = 1
    c.model.spectral_norm = True
    c.model.discriminator_norm = "none"
    c.model.generator_norm = "batch"
    c.ema_decay = 0.999
    c.optimizer = {
        "disc": {"name": "adam", "learning_rate": 2e-4, "b1": 0.0, "b2": 0.9},
        "gen": {"name": "adam", "learning_rate": 2e-4, "b1": 0.0, "b2": 0.9},
    }
    return c
