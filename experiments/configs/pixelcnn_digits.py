"""Gated PixelCNN (van den Oord et al., 2016) with a 17-way softmax per pixel on digits."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("pixelcnn")
    c.model.variant = "gated"
    c.model.features = 32
    c.model.num_layers = 4
    c.optimizer = {"name": "adam", "learning_rate": 2e-3}
    c.train.num_steps = 2000
    return c
