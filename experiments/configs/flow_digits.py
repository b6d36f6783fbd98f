"""RealNVP (2 scales, ResNet couplings) on dequantized 17-level digits."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("flow")
    c.model.architecture = "realnvp"
    c.model.num_scales = 2
    c.model.conv_features = 32
    c.model.num_blocks = 2
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "grad_clip": 100.0}
    c.train.num_steps = 3000
    return c
