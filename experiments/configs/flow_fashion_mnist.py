"""RealNVP (2 scales, ResNet couplings) on uniformly dequantized 8-bit Fashion-MNIST."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("flow", "fashion_mnist")
    c.model.architecture = "realnvp"
    c.model.num_scales = 2
    c.model.conv_features = 32
    c.model.num_blocks = 1
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "grad_clip": 100.0, "warmup_steps": 200}
    c.train.num_steps = 2500
    c.train.batch_size = 32
    return c
