"""SN-DCGAN on CIFAR-10 (Miyato et al., 2018, their standard CNN setting: hinge loss, Adam 2e-4,
b1 0, b2 0.9, batch 64, 5 discriminator steps per generator step)."""

from experiments.configs import gan_mnist


def get_config():
    c = gan_mnist.get_config("cifar10")
    c.model.num_scales = 3
    c.model.n_critic = 5
    c.train.batch_size = 64
    return c
