"""NICE exactly as Dinh et al. (2014) for MNIST: 4 additive couplings of 5 x 1000 ReLU MLPs, diagonal
scaling, logistic prior, on dequantized 8-bit MNIST."""

from experiments.configs.common import accelerator_run, base_config


def get_config():
    c = accelerator_run(base_config("flow", "mnist"), num_steps=300_000, batch_size=256)
    c.model.architecture = "nice"
    c.model.prior = "logistic"
    c.model.num_couplings = 4
    c.model.hidden = (1000,) * 5
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "grad_clip": 100.0}
    return c
