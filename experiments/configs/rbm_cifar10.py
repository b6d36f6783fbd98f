"""Bernoulli RBM on CIFAR-10 binarized per colour channel (pixel > 127), 4,000 hidden units, PCD-1.

The RBM family's command-line path trains binary units on binarized pixels; a Gaussian-Bernoulli RBM on
standardized colour pixels (Krizhevsky, 2009) is ``genjax.models.rbm`` with ``visible='gaussian'``
called from Python on data the user standardizes.
"""

from experiments.configs import rbm_mnist


def get_config():
    c = rbm_mnist.get_config("cifar10")
    c.model.num_hidden = 4000
    c.optimizer.learning_rate = 0.002
    return c
