"""Consistency distillation (Song et al., 2023) from the EDM digits model; sampled in two steps, the
second sigma chosen by greedy search on training images at evaluation (``eval.search_sigmas``)."""

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
    c.model.sample_sigmas = (80.0,)  # `sample` mode; evaluation searches a two-step schedule instead
    # Song et al. (2023): multistep sampling with the intermediate sigma chosen by FID; 1 + 8 scores of
    # 300 samples against the last training images (run.SEARCH_DEFAULTS).
    c.eval.search_sigmas = 2
    c.ema_decay = 0.995  # a cap: the half-life grows as 5% of the steps taken, up to 138 steps
    c.optimizer = {"name": "adam", "learning_rate": 4e-4}
    c.train.num_steps = 3000
    c.train.batch_size = 64
    return c
