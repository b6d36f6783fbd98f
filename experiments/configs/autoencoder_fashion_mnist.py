"""Stage one of latent diffusion (Rombach et al., 2022) on 8-bit Fashion-MNIST: a KL-regularized conv
autoencoder, 28x28x1 -> 7x7x4 (two halvings, 196 latent values for 784 pixels).

Why 7x7x4: at the same 196 values, 14x14x2 reconstructs better (test MSE per pixel on [-1, 1] after
1,000 steps: 0.0133 vs 0.0185), but its latent UNet runs at four times the positions. The 7x7x4 code is
not what limits the latent model: at 1,500 steps (test MSE 0.0170) reconstructions of 1,000 training
images score FID 6.0 against the test set (the raw images: 2.8), the ldm samples about 100.
"""

from experiments.configs.common import base_config
from genjax.training import CPU_EIGEN_CONVOLUTIONS


def get_config():
    c = base_config("autoencoder", "fashion_mnist")
    c.model.channels = (32, 64)
    c.model.latent_channels = 4
    c.model.kl_weight = 1e-3
    c.optimizer = {"name": "adam", "learning_rate": 1e-3}
    c.train.num_steps = 1500
    c.train.batch_size = 64
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 168 -> 92 ms, 1.83x (1.73..1.89).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    return c
