"""2-layer DBM (500, 500) on Fashion-MNIST binarized at 0.5, persistent chains and mean-field inference."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("dbm", "fashion_mnist")
    c.model.hidden = (500, 500)
    c.model.num_chains = 100
    c.model.sample_steps = 1000
    c.model.ais_intermediate = 10_000
    c.model.ais_runs = 100
    c.binarize_threshold = 127
    c.optimizer = {"name": "sgd", "learning_rate": 0.005, "momentum": 0.9, "weight_decay": 2e-4}
    c.train.num_steps = 10_000
    c.train.batch_size = 100
    return c
