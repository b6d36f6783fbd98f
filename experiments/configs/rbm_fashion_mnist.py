"""Bernoulli RBM, 500 hidden units, PCD-1 on Fashion-MNIST binarized at 0.5 (pixel > 127 of 255)."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("rbm", "fashion_mnist")
    c.model.num_hidden = 500
    c.model.cd_steps = 1
    c.model.persistent = True
    c.model.num_chains = 100
    c.model.sample_steps = 1000
    c.model.ais_intermediate = 10_000
    c.model.ais_runs = 100
    c.binarize_threshold = 127
    c.optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 2e-4}
    c.train.num_steps = 20_000
    c.train.batch_size = 100
    return c
