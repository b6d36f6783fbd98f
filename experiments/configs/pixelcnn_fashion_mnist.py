"""Gated PixelCNN (van den Oord et al., 2016) with a 256-way softmax per pixel on 8-bit Fashion-MNIST."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("pixelcnn", "fashion_mnist")
    c.model.variant = "gated"
    c.model.output = "softmax"
    c.model.features = 32
    c.model.num_layers = 6
    c.optimizer = {"name": "adam", "learning_rate": 1e-3}
    c.train.num_steps = 1200
    c.train.batch_size = 32
    return c
