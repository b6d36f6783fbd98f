"""2-layer DBM (500, 500) on Fashion-MNIST binarized at 0.5, persistent chains and mean-field inference.

Greedy layer-wise: the bottom layer is the trained ``rbm_fashion_mnist`` run (its averaged params, stacked
by ``genjax.models.dbm.from_rbm``, so the bound starts at the RBM's log-likelihood), then 7,000 joint
steps (202 s of process CPU time; 378 s with the RBM's). Measured (AIS, 3 seeds, K = 1,000 / 10,000):
test bound -118.0 +- 0.9 / -125.3 +- 1.3 nats against the RBM's -119.6 +- 1.9 / -122.9 +- 0.2, so at
this budget the DBM does NOT beat the RBM, and its AIS has not converged at K = 10,000. The doubled-unit
pretraining of ``dbm.make_pretraining_rbm`` (6,000 steps per layer) gave -261 at K = 1,000, -253 after
3,000 joint steps; a DBM trained from random weights -192 after 5,000 steps.
``experiments.compare`` points ``teacher_workdir`` at the RBM row's directory.
"""

from experiments.configs.common import base_config


def get_config():
    c = base_config("dbm", "fashion_mnist")
    c.model.hidden = (500, 500)
    c.model.num_chains = 100
    c.model.sample_steps = 1000
    c.model.ais_intermediate = 10_000
    c.model.ais_runs = 100
    c.binarize_threshold = 127
    c.ema_decay = 0.99
    c.init_from_rbm = True
    c.teacher_config = "rbm_fashion_mnist"
    c.teacher_workdir = "runs/rbm_fashion_mnist"
    c.optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.5, "weight_decay": 2e-4}
    c.train.num_steps = 7_000
    c.train.batch_size = 100
    return c
