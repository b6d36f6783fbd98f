"""Flow matching on CIFAR-10 with the DDPM-sized UNet (base 128, multipliers (1, 2, 2, 2), 2 residual
blocks, attention at 16x16, dropout 0.1), unconditional, logit-normal training times (Esser et al.,
2024), Adam 2e-4 with gradient clipping at 1, batch 128, 800k steps, EMA 0.9999; Heun sampling over
50 steps (100 evaluations)."""

from experiments.configs import flow_matching_mnist
from experiments.configs.unet import unet_fields


def get_config():
    c = flow_matching_mnist.get_config("cifar10")
    c.model.update(unet_fields("cifar10"))
    c.model.dropout = 0.1
    c.model.num_classes = 0
    c.model.sample_steps = 50
    c.optimizer.grad_clip = 1.0
    c.train.num_steps = 800_000
    return c
