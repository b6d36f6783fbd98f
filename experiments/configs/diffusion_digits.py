"""EDM (Karras et al., 2022) with the shared UNet on 17-level digits, Heun sampling (18 steps, 35 NFE)."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields


def get_config():
    c = base_config("diffusion")
    c.model.kind = "edm"
    c.model.update(unet_fields("digits"))
    c.model.num_classes = 0
    c.model.sample_steps = 18
    c.model.likelihood_steps = 128  # within 0.005 bits/dim of the adaptive reference (issue 17)
    c.ema_decay = 0.995  # a cap: the half-life grows as 5% of the steps taken, up to 138 steps
    c.optimizer = {"name": "adam", "learning_rate": 2e-3, "warmup_steps": 200}
    c.train.num_steps = 4000
    c.train.batch_size = 64
    c.eval.num_samples = 1000
    return c
