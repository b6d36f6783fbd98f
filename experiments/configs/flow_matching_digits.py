"""Flow matching on the linear path (rectified flow, Liu et al., 2023; Lipman et al., 2023) with the
shared digits UNet on 17-level digits, uniform training times, Heun sampling (18 steps, 36 NFE): the
EDM config's network, optimizer, steps and EMA, so the two rows differ only in the objective."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields


def get_config():
    c = base_config("flow_matching")
    c.model.update(unet_fields("digits"))
    c.model.num_classes = 0
    c.model.time_sampling = "uniform"
    c.model.sampler = "heun"
    c.model.sample_steps = 18
    c.model.likelihood_steps = 128
    c.ema_decay = 0.995
    c.optimizer = {"name": "adam", "learning_rate": 2e-3, "warmup_steps": 200}
    c.train.num_steps = 4000
    c.train.batch_size = 64
    c.eval.num_samples = 1000
    return c
