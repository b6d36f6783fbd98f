"""2-layer DBM (500, 500) on Fashion-MNIST binarized at 0.5, persistent chains and mean-field inference.

Greedy layer-wise: the bottom layer is the trained ``rbm_fashion_mnist`` run (its averaged params, stacked
by ``genjax.models.dbm.from_rbm``, so the bound starts at the RBM's log-likelihood), then 7,000 joint
steps (about 3 minutes of process CPU time on 2 cores; with the RBM's 3, 6 in all). The doubled-unit
pretraining of ``dbm.make_pretraining_rbm`` (6,000 steps per layer) reached a bound of -261 nats, -253
after 3,000 joint steps, far below the RBM; a DBM trained from random weights -192 after 5,000 steps.
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
