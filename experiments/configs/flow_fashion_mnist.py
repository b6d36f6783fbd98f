"""RealNVP (2 scales, ResNet couplings) on uniformly dequantized 8-bit Fashion-MNIST."""

from experiments.configs.common import base_config
from genjax.training import CPU_EIGEN_CONVOLUTIONS


def get_config():
    c = base_config("flow", "fashion_mnist")
    c.model.architecture = "realnvp"
    c.model.num_scales = 2
    c.model.conv_features = 32
    c.model.num_blocks = 1
    # 2,500 steps at a constant rate after the warmup reached 3.535 test bits/dim (default run of
    # 2026-11-27, train bits/dim still falling and swinging 3.40..3.67 between logged batches); the
    # rate now decays to 0 by a cosine over 4,000 steps.
    c.train.num_steps = 4000
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "grad_clip": 100.0, "warmup_steps": 200,
                   "decay_steps": c.train.num_steps}
    c.train.batch_size = 32
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 211 -> 166 ms, 1.26x (1.21..1.36).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    # Sampling too: 64 samples 83 ms under XLA's default, 65 ms (1.28x) with Eigen convolutions (2026-11-28, 2 idle cores).
    c.sample.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    return c
