"""2-layer DBM (500, 1000) on binarized MNIST with persistent chains and mean-field inference, as in
Salakhutdinov & Hinton (2009); AIS lower bound with 20,000 intermediate distributions."""

from experiments.configs.common import accelerator_run, base_config


def get_config(dataset: str = "mnist"):
    c = accelerator_run(base_config("dbm", dataset), num_steps=300_000, batch_size=100)
    c.model.hidden = (500, 1000)
    c.model.num_chains = 100
    c.model.gibbs_steps = 5
    c.model.mf_max_iters = 30
    c.model.sample_steps = 1000
    c.model.ais_intermediate = 20_000
    c.model.ais_runs = 100
    c.binarize_threshold = 127
    c.optimizer = {"name": "sgd", "learning_rate": 0.005, "momentum": 0.9, "weight_decay": 2e-4}
    return c
