"""Bernoulli RBM, 64 hidden units, PCD-1 on binarized digits (threshold at level 8)."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("rbm")
    c.model.num_hidden = 64
    c.model.cd_steps = 1
    c.model.persistent = True
    c.model.num_chains = 100
    c.model.sample_steps = 1000
    c.model.ais_intermediate = 1000
    c.model.ais_runs = 100
    c.binarize_threshold = 8
    c.optimizer = {"name": "sgd", "learning_rate": 0.05, "momentum": 0.5, "weight_decay": 1e-4}
    c.train.num_steps = 3000
    return c
