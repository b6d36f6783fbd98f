"""DCGAN (7 -> 14 -> 28) with the hinge loss, spectral normalisation in the discriminator and an EMA
generator on Fashion-MNIST."""

from experiments.configs.common import base_config
from genjax.training import CPU_EIGEN_CONVOLUTIONS


def get_config():
    c = base_config("gan", "fashion_mnist")
    c.model.architecture = "dcgan"
    c.model.loss = "hinge"
    c.model.latent_dim = 64
    c.model.features = 32
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
    c.train.num_steps = 4000
    c.train.batch_size = 64
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 39 -> 34 ms, 1.16x (1.06..1.28).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    return c
