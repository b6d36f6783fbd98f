"""2-layer DBM (2000, 1000) on CIFAR-10 binarized per colour channel (pixel > 127): the DBM has binary
units only, so colour images enter as 3,072 binary pixels."""

from experiments.configs import dbm_mnist


def get_config():
    c = dbm_mnist.get_config("cifar10")
    c.model.hidden = (2000, 1000)
    return c
