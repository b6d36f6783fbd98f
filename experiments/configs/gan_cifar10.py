"""SN-GAN (Miyato et al., 2018) with the DCGAN-style CNN on CIFAR-10: hinge loss, Adam 2e-4 (b1 0,
b2 0.9), 5 discriminator updates per generator update, batch 64, 100k generator updates."""

from experiments.configs import gan_mnist


def get_config():
    c = gan_mnist.get_config("cifar10")
    c.model.num_scales = 3
    c.model.n_critic = 5
    c.train.batch_size = 64
    return c
