"""Improved consistency training on CIFAR-10 in Song & Dhariwal's (2023) setting: NCSN++-sized UNet
stand-in (base 128, multipliers (1, 2, 2, 2), attention at 16x16), batch 1,024, 400k steps, RAdam 1e-4,
EMA 0.99993; one- and two-step sampling."""

from experiments.configs import consistency_mnist
from experiments.configs.unet import unet_fields


def get_config():
    c = consistency_mnist.get_config("cifar10")
    c.model.update(unet_fields("cifar10"))
    c.model.sample_sigmas = (80.0, 0.821)
    c.train.batch_size = 1024
    return c
