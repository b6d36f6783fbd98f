"""Latent diffusion (Rombach et al., 2022) on Fashion-MNIST: EDM with Heun sampling (18 steps, 35 NFE
plus one decoder pass) on the 7x7x4 latents of the autoencoder_fashion_mnist run, scaled to unit
variance by the factor computed at init; the UNet is the shared ``fashion_mnist_latent`` preset.

On the autoencoder_fashion_mnist run (seed 0) init computes the scale 0.799 (latent std 1.25); test
latents then have std 1.03. Training both stages costs about 1,000 CPU-seconds (0.21 s per autoencoder
step, 0.32 s per ldm step).
"""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields
from genjax.training import CPU_EIGEN_CONVOLUTIONS, CPU_NO_YNNPACK


def get_config():
    c = base_config("ldm", "fashion_mnist")
    c.autoencoder_config = "autoencoder_fashion_mnist"
    c.autoencoder_workdir = "runs/autoencoder_fashion_mnist"
    c.model.kind = "edm"
    c.model.update(unet_fields("fashion_mnist_latent"))
    c.model.sigma_data = 1.0  # the latents are scaled to unit variance
    c.model.num_classes = 0
    c.model.sample_steps = 18
    c.ema_decay = 0.999
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "warmup_steps": 200}
    c.train.num_steps = 2000
    c.train.batch_size = 64
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: the pixel-space UNet's step
    # 1.33x faster (1.27..1.43); the latent UNet's not timed.
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    # Sampling and ODE likelihoods without YNNPACK: Heun-18 on 64 images of this UNet 2.66 s under XLA's
    # default, 2.12 s with Eigen convolutions, 1.97 s without YNNPACK (2026-11-28, 2 idle cores).
    c.sample.compiler_options = dict(CPU_NO_YNNPACK)
    return c
