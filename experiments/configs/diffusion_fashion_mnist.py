"""EDM (Karras et al., 2022) with the shared Fashion-MNIST UNet, Heun sampling (18 steps, 35 NFE)."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields
from genjax.training import CPU_EIGEN_CONVOLUTIONS, CPU_NO_YNNPACK


def get_config():
    c = base_config("diffusion", "fashion_mnist")
    c.model.kind = "edm"
    c.model.update(unet_fields("fashion_mnist"))
    c.model.num_classes = 0
    c.model.sample_steps = 18
    # At 128 Heun steps the default run of 2026-11-27 was refused: Richardson error 0.016 bits/dim
    # against the 64-step solve (tolerance 0.01). Heun's error falls 4x per doubling; since the
    # divergence is a VJP (2026-11-28) a step costs about 5 ms per test image on 2 cores.
    c.model.likelihood_steps = 256
    c.ema_decay = 0.999
    c.eval.likelihood_examples = 200
    c.optimizer = {"name": "adam", "learning_rate": 1e-3, "warmup_steps": 200}
    c.train.num_steps = 4000
    c.train.batch_size = 64
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: its step 410 -> 309 ms, 1.33x (1.27..1.43).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    # Sampling and ODE likelihoods without YNNPACK: Heun-18 on 64 images of this UNet 2.66 s under XLA's
    # default, 2.12 s with Eigen convolutions, 1.97 s without YNNPACK (2026-11-28, 2 idle cores).
    c.sample.compiler_options = dict(CPU_NO_YNNPACK)
    return c
