"""Multi-scale RealNVP (Dinh et al., 2016) with Glow's ActNorm and 1x1 convolutions on dequantized 8-bit
CIFAR-10, reported in bits/dim."""

from experiments.configs.common import accelerator_run, base_config


def get_config():
    c = accelerator_run(base_config("flow", "cifar10"), num_steps=300_000, batch_size=64)
    c.model.architecture = "realnvp"
    c.model.num_scales = 3
    c.model.conv_features = 64
    c.model.num_blocks = 8
    c.model.glow_steps = True
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "warmup_steps": 2000, "grad_clip": 100.0}
    return c
