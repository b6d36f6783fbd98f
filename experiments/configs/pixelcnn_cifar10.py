"""Gated PixelCNN with the PixelCNN++ discretized logistic-mixture output (Salimans et al., 2017, 10
components) on 8-bit CIFAR-10, reported in bits/dim."""

from experiments.configs import pixelcnn_mnist
from experiments.configs.common import accelerator_run, base_config


def get_config():
    c = accelerator_run(base_config("pixelcnn", "cifar10"), num_steps=500_000, batch_size=64)
    c.model = pixelcnn_mnist.get_config().model
    c.model.output = "logistic_mixture"
    c.model.num_mixtures = 10
    c.model.features = 192
    c.model.num_layers = 15
    c.optimizer = {"name": "adam", "learning_rate": 2e-4}
    return c
