"""Flow matching on the linear path (rectified flow) with the shared Fashion-MNIST UNet, Heun sampling
(18 steps, 36 NFE): the EDM config's network, optimizer, steps, EMA and compiler options."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields
from genjax.training import CPU_EIGEN_CONVOLUTIONS, CPU_NO_YNNPACK


def get_config():
    c = base_config("flow_matching", "fashion_mnist")
    c.model.update(unet_fields("fashion_mnist"))
    c.model.num_classes = 0
    c.model.time_sampling = "uniform"
    c.model.sampler = "heun"
    c.model.sample_steps = 18
    c.model.likelihood_steps = 256  # as the EDM config: 128 steps were refused there at 0.01 bits/dim
    c.ema_decay = 0.999
    c.eval.likelihood_examples = 200
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "warmup_steps": 200}
    c.train.num_steps = 4000
    c.train.batch_size = 64
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    c.sample.compiler_options = dict(CPU_NO_YNNPACK)
    return c
