"""Flow matching on the linear path with the shared UNet on MNIST, class-conditional with 10% label
dropout for classifier-free guidance (Ho & Salimans, 2022), logit-normal training times (Esser et
al., 2024), Heun sampling (18 steps, 36 evaluations): the EDM MNIST config's network and schedule."""

from experiments.configs.common import accelerator_run, base_config
from experiments.configs.unet import unet_fields


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("flow_matching", dataset), num_steps=200_000, batch_size=128)
    c.model.update(unet_fields("mnist"))
    c.model.num_classes = 10
    c.model.label_dropout = 0.1
    c.model.time_sampling = "logit_normal"
    c.model.sampler = "heun"
    c.model.sample_steps = 18
    c.model.likelihood_steps = 128
    c.ema_decay = 0.9999
    c.optimizer = {"name": "adam", "learning_rate": 2e-4, "warmup_steps": 5000}
    return c
