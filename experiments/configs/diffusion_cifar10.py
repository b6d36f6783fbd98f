"""DDPM on CIFAR-10 exactly in Ho et al.'s (2020) setting: UNet base 128, multipliers (1, 2, 2, 2), 2
residual blocks, attention at 16x16, dropout 0.1, linear schedule, 1,000 steps, epsilon-prediction,
Adam 2e-4 with 5,000 warm-up steps, batch 128, 800k steps, EMA 0.9999; class-conditional with label
dropout for guidance."""

from experiments.configs import diffusion_mnist


def get_config():
    c = diffusion_mnist.get_config("cifar10")
    c.model.kind = "vp"
    c.model.schedule = "linear"
    c.model.prediction = "eps"
    c.model.num_timesteps = 1000
    c.model.base_channels = 128
    c.model.channel_mults = (1, 2, 2, 2)
    c.model.attention_resolutions = (16,)
    c.model.dropout = 0.1
    c.model.sample_steps = 50
    c.train.num_steps = 800_000
    return c
