"""Bernoulli RBM, 500 hidden units, PCD-1 on binarized MNIST (Tieleman, 2008; the 500-unit model whose
log-likelihood Salakhutdinov & Murray, 2008, estimate with AIS: 14,500 intermediate distributions)."""

from experiments.configs.common import accelerator_run, base_config


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("rbm", dataset), num_steps=120_000, batch_size=100)
    c.model.num_hidden = 500
    c.model.cd_steps = 1
    c.model.persistent = True
    c.model.num_chains = 100
    c.model.sample_steps = 1000
    c.model.ais_intermediate = 14_500
    c.model.ais_runs = 100
    c.binarize_threshold = 127
    c.optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 2e-4}
    return c
