"""RealNVP on dequantized 8-bit CIFAR-10 in Dinh et al.'s (2016) setting: 8 residual blocks of 64
feature maps per coupling, downscaling once (2 scales), Adam 1e-3, batch 64; reported in bits/dim."""

from experiments.configs.common import accelerator_run, base_config


def get_config():
    c = accelerator_run(base_config("flow", "cifar10"), num_steps=300_000, batch_size=64)
    c.model.architecture = "realnvp"
    c.model.num_scales = 2
    c.model.conv_features = 64
    c.model.num_blocks = 8
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "grad_clip": 100.0}  # clipping: a guard, not in the paper
    return c
