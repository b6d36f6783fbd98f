"""Consistency distillation (Song et al., 2023) from the EDM Fashion-MNIST model; sampled in two steps, the
second sigma chosen by greedy search on training images at evaluation (``eval.search_sigmas``)."""

from experiments.configs.common import base_config
from experiments.configs.unet import unet_fields
from genjax.training import CPU_EIGEN_CONVOLUTIONS, CPU_NO_YNNPACK


def get_config():
    c = base_config("consistency", "fashion_mnist")
    c.teacher_config = "diffusion_fashion_mnist"
    c.teacher_workdir = "runs/diffusion_fashion_mnist"
    c.init_from_teacher = True  # the student has the teacher's UNet (the shared preset)
    c.model.objective = "cd"
    c.model.update(unet_fields("fashion_mnist"))
    c.model.num_scales = 18
    c.model.mu0 = 0.95
    c.model.distance = "l2"
    c.model.sample_sigmas = (80.0,)  # `sample` mode; evaluation searches a two-step schedule instead
    # Song et al. (2023): multistep sampling with the intermediate sigma chosen by FID; 1 + 8 scores of
    # 300 samples against the last training images (run.SEARCH_DEFAULTS).
    c.eval.search_sigmas = 2
    c.ema_decay = 0.999
    c.optimizer = {"name": "adam", "learning_rate": 2e-4}
    c.train.num_steps = 1000
    c.train.batch_size = 64
    # XLA:CPU's YNNPACK convolution kernel gradient is 3-4x slower than Eigen's; on 2 idle cores
    # (2026-11-28, experiments.benchmarks.config_steps) Eigen convolutions: the diffusion config's UNet:
    # its step 1.33x faster (1.27..1.43).
    c.train.compiler_options = dict(CPU_EIGEN_CONVOLUTIONS)
    # Sampling and ODE likelihoods without YNNPACK: Heun-18 on 64 images of this UNet 2.66 s under XLA's
    # default, 2.12 s with Eigen convolutions, 1.97 s without YNNPACK (2026-11-28, 2 idle cores).
    c.sample.compiler_options = dict(CPU_NO_YNNPACK)
    return c
