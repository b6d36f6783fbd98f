"""EDM (Karras et al., 2022) with the shared UNet on MNIST, class-conditional with 10% label dropout for
classifier-free guidance (Ho & Salimans, 2022), Heun sampling (18 steps, 35 evaluations)."""

from experiments.configs.common import accelerator_run, base_config
from experiments.configs.unet import unet_fields


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("diffusion", dataset), num_steps=200_000, batch_size=128)
    c.model.kind = "edm"
    c.model.update(unet_fields("mnist"))
    c.model.num_classes = 10
    c.model.label_dropout = 0.1
    c.model.sample_steps = 18
    c.model.likelihood_steps = 128
    c.ema_decay = 0.9999
    c.optimizer = {"name": "adam", "learning_rate": 2e-4, "warmup_steps": 5000}
    return c
