"""Gated PixelCNN (van den Oord et al., 2016) with a 256-way softmax per pixel on 8-bit Fashion-MNIST."""

from experiments.configs.common import base_config
from genjax.training import CPU_EIGEN_CONVOLUTIONS


def get_config():
    c = base_config("pixelcnn", "fashion_mnist")
    c.model.variant = "gated"
    c.model.output = "softmax"
    c.model.features = 32
    c.model.num_layers = 6
    c.optimizer = {"name": "adam", "learning_rate": 1e-3}
    c.train.num_steps = 1200
    c.train.batch_size = 32
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 687 -> 329 ms, 2.01x (1.98..2.14).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    # Sampling too: 64 images 36.4 s under XLA's default, 27.3 s (1.39x) with Eigen convolutions (2026-11-28, 2 idle cores).
    c.sample.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    # The exact test likelihood 500 images per call (logits 0.4 GB), compiled: 2.5 s per call against
    # 15.9 s op by op (2026-11-28, 2 busy cores); all 10,000 at once would hold 8 GB of logits.
    c.eval.likelihood_batch = 500
    return c
