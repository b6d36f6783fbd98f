"""DDPM on CIFAR-10 in Ho et al.'s (2020) setting: unconditional UNet base 128, multipliers (1, 2, 2, 2),
2 residual blocks, attention at 16x16, dropout 0.1, linear schedule over 1,000 steps, epsilon-prediction,
Adam 2e-4 (5,000 warm-up steps, gradient clipping at 1), batch 128, 800k steps, EMA 0.9999. Samples
with 50 DDIM steps rather than the paper's 1,000 ancestral ones; no random flips (the data pipeline has
none)."""

from experiments.configs import diffusion_mnist
from experiments.configs.unet import unet_fields


def get_config():
    c = diffusion_mnist.get_config("cifar10")
    c.model.kind = "vp"
    c.model.schedule = "linear"
    c.model.prediction = "eps"
    c.model.num_timesteps = 1000
    c.model.update(unet_fields("cifar10"))
    c.model.dropout = 0.1
    c.model.num_classes = 0
    c.model.sample_steps = 50
    c.optimizer.grad_clip = 1.0
    c.train.num_steps = 800_000
    return c
