"""EDM (Karras et al., 2022) with the shared Fashion-MNIST UNet, Heun sampling (18 steps, 35 NFE)."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields
from genjax.training import CPU_EIGEN_CONVOLUTIONS


def get_config():
    c = base_config("diffusion", "fashion_mnist")
    c.model.kind = "edm"
    c.model.update(unet_fields("fashion_mnist"))
    c.model.num_classes = 0
    c.model.sample_steps = 18
    c.model.likelihood_steps = 128
    c.ema_decay = 0.999
    c.eval.likelihood_examples = 100  # 3 x 128 steps of the ODE with a divergence estimate each
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "warmup_steps": 200}
    c.train.num_steps = 4000
    c.train.batch_size = 64
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 410 -> 309 ms, 1.33x (1.27..1.43).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    return c
