"""Bernoulli RBM, 500 hidden units, PCD-1 on Fashion-MNIST binarized at 0.5 (pixel > 127 of 255).

Sized for about 3 minutes of training on 2 CPU cores: 25,000 steps at batch 100 took 176 s of process CPU
time (without per-step metrics). SGD at 0.01 with momentum 0.5: AIS test log-likelihood -119.6 +- 1.9
nats at K = 1,000 and -122.9 +- 0.2 at K = 10,000 (3 seeds, M = 100); at K = 1,000 it beat 0.02 (-126)
and 0.05 (-148 after 16,000 steps); momentum 0.9 at 0.01 or 0.02 reached -250 after 4,000 steps. The
params averaged over the last steps (``ema_decay``, see ``experiments.families.rbm``) give the samples
and the likelihood.
"""

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
    c.model.train_metrics = False
    c.binarize_threshold = 127
    c.ema_decay = 0.99
    c.optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.5, "weight_decay": 2e-4}
    c.train.num_steps = 25_000
    c.train.batch_size = 100
    return c
