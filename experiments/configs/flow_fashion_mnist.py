"""RealNVP (2 scales, ResNet couplings) on uniformly dequantized 8-bit Fashion-MNIST."""

from experiments.configs.common import base_config
from genjax.training import CPU_EIGEN_CONVOLUTIONS


def get_config():
    c = base_config("flow", "fashion_mnist")
    c.model.architecture = "realnvp"
    c.model.num_scales = 2
    c.model.conv_features = 32
    c.model.num_blocks = 1
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "grad_clip": 100.0, "warmup_steps": 200}
    c.train.num_steps = 2500
    c.train.batch_size = 32
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 211 -> 166 ms, 1.26x (1.21..1.36).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    return c
