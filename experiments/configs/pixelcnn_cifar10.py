"""Gated PixelCNN (van den Oord et al., 2016; 3.03 bits/dim) on 8-bit CIFAR-10: a 256-way softmax per
colour channel, R -> G -> B within a pixel; here 15 gated layers of 192 channels; reported in bits/dim."""

from experiments.configs import pixelcnn_mnist


def get_config():
    c = pixelcnn_mnist.get_config("cifar10")
    c.model.features = 192
    c.model.num_layers = 15
    c.train.num_steps = 500_000
    c.optimizer.learning_rate = 2e-4
    return c
