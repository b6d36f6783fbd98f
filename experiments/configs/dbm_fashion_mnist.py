"""2-layer DBM (500, 500) on Fashion-MNIST binarized at 0.5, persistent chains and mean-field inference.

Greedy layer-wise: the bottom layer is the trained ``rbm_fashion_mnist`` run (its averaged params, stacked
by ``genjax.models.dbm.from_rbm``, so the bound starts at the RBM's log-likelihood), then 7,000 joint
steps with the learning rate decaying to 0 by a cosine (PCD settles only with a decaying rate; Tieleman,
2008). Measured on 2026-11-28 (the RBM of the default comparison run, AIS with M = 100 runs): test bound
-112.1 / -118.3 / -117.5 nats at K = 1,000 / 10,000 / 30,000 intermediate distributions, against the
RBM's -122.7 at K = 10,000. At a constant rate of 0.01 the same steps gave -125.3 +- 1.3 at K =
10,000 (3 seeds, 2026-11-27): below the RBM. The doubled-unit pretraining of
``dbm.make_pretraining_rbm`` (6,000 steps per layer) gave -261 at K = 1,000, -253 after 3,000 joint
steps; a DBM trained from random weights -192 after 5,000 steps.
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
    c.train.num_steps = 7_000
    c.optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.5, "weight_decay": 2e-4,
                   "decay_steps": c.train.num_steps}
    c.train.batch_size = 100
    return c
