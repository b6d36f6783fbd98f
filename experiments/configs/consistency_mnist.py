"""Improved consistency training (Song & Dhariwal, 2023) on MNIST: pseudo-Huber loss, the exponential
curriculum from 10 to 1,280 sigmas, log-normal index sampling, no EMA target; one-step sampling."""

from experiments.configs.common import accelerator_run, base_config
from experiments.configs.unet import unet_fields


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("consistency", dataset), num_steps=400_000, batch_size=512)
    c.model.objective = "ict"
    c.model.update(unet_fields("mnist"))
    c.model.num_scales = 10
    c.model.max_scales = 1280
    c.model.total_steps = 400_000
    c.model.sample_sigmas = (80.0,)
    c.ema_decay = 0.99993
    c.optimizer = {"name": "radam", "learning_rate": 1e-4}
    return c
