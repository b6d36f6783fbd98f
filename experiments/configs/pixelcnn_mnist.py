"""Gated PixelCNN (van den Oord et al., 2016) with a 256-way softmax per pixel on 8-bit MNIST."""

from experiments.configs.common import accelerator_run, base_config


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("pixelcnn", dataset), num_steps=200_000, batch_size=64)
    c.model.variant = "gated"
    c.model.output = "softmax"
    c.model.features = 64
    c.model.num_layers = 12
    c.optimizer = {"name": "adam", "learning_rate": 3e-4}
    # The exact likelihood of the test set 1,000 images per call: its 256-way logits are 0.8 GB per
    # 1,000 MNIST images (3.1 GB at CIFAR-10's 32x32x3), all 10,000 at once would not fit.
    c.eval.likelihood_batch = 1000
    return c
