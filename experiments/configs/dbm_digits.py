"""2-layer DBM (64, 32) on binarized digits with persistent chains and mean-field inference."""

from experiments.configs.common import base_config


def get_config():
    c = base_config("dbm")
    c.model.hidden = (64, 32)
    c.model.num_chains = 100
    c.model.sample_steps = 1000
    c.binarize_threshold = 8
    c.optimizer = {"name": "sgd", "learning_rate": 0.02, "momentum": 0.5, "weight_decay": 1e-4}
    c.train.num_steps = 3000
    return c
