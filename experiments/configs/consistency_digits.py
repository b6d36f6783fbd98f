"""Consistency distillation (Song et al., 2023) from the EDM digits model; one-step sampling."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields


def get_config():
    c = base_config("consistency")
    c.teacher_config = "diffusion_digits"
    c.teacher_workdir = "runs/diffusion_digits"
    c.init_from_teacher = True  # the student has the teacher's UNet (the shared preset)
    c.model.objective = "cd"
    c.model.update(unet_fields("digits"))
    c.model.num_scales = 18
    c.model.mu0 = 0.95
    c.model.distance = "l2"
    c.model.sample_sigmas = (80.0,)
    c.ema_decay = 0.995  # short CPU runs: 0.999 would keep ~37% of the initial weights after 1,000 steps
    c.optimizer = {"name": "adam", "learning_rate": 4e-4}
    c.train.num_steps = 3000
    c.train.batch_size = 64
    return c
