"""Noise schedules and the EDM preconditioning, shared by diffusion and consistency models and by
their samplers.

Discrete VP (Ho et al., 2020): ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` for t = 0..T-1.
EDM (Karras et al., 2022): ``x = x_0 + sigma n``; a VP step t corresponds to
``sigma = sqrt((1 - abar_t) / abar_t)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from genjax.typing import Array

__all__ = [
    "per_example",
    "VPSchedule",
    "linear_schedule",
    "cosine_schedule",
    "make_vp_schedule",
    "karras_sigmas",
    "EDMScalings",
    "edm_scalings",
]


class VPSchedule(NamedTuple):
    """``betas`` and ``alphas_cumprod`` (``abar_t = prod_{s<=t} (1 - beta_s)``), float32 [T]."""

    betas: Array
    alphas_cumprod: Array

    @property
    def num_timesteps(self) -> int:
        return self.betas.shape[0]


def _from_betas(betas: np.ndarray) -> VPSchedule:
    return VPSchedule(
        jnp.asarray(betas, jnp.float32), jnp.asarray(np.cumprod(1.0 - betas), jnp.float32)
    )


def linear_schedule(
    num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> VPSchedule:
    """Linear betas of Ho et al. (2020), rescaled by ``1000 / T`` so any T spans the same noise range."""
    scale = 1000.0 / num_timesteps
    return _from_betas(
        np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64)
    )


def cosine_schedule(
    num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999
) -> VPSchedule:
    """``abar(t) = cos^2(((t/T + s) / (1 + s)) pi / 2)`` (Nichol & Dhariwal, 2021), betas clipped."""
    t = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, max_beta)
    return _from_betas(betas)


def make_vp_schedule(name: str, num_timesteps: int) -> VPSchedule:
    """``'linear'`` or ``'cosine'``.

    Raises:
      ValueError: for another name.
    """
    if name == "linear":
        return linear_schedule(num_timesteps)
    if name == "cosine":
        return cosine_schedule(num_timesteps)
    raise ValueError(f"unknown schedule {name!r}; valid choices: ['linear', 'cosine']")


def karras_sigmas(
    num_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0
) -> Array:
    """The EDM discretization (Karras et al., 2022, eq. 5), decreasing, with a final 0 appended.

    Returns:
      float32 [num_steps + 1]: ``(sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
      for i = 0..N-1, then 0.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    i = np.arange(num_steps, dtype=np.float64) / max(num_steps - 1, 1)
    s = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return jnp.asarray(np.append(s, 0.0), jnp.float32)


class EDMScalings(NamedTuple):
    """The coefficients of :func:`edm_scalings`, each shaped like its ``sigma``."""

    c_skip: Array
    c_out: Array
    c_in: Array
    c_noise: Array


def edm_scalings(sigma: Array, sigma_data: float) -> EDMScalings:
    """EDM preconditioning (Karras et al., 2022, table 1): ``D(x; s) = c_skip x + c_out F(c_in x, c_noise)``
    with ``c_skip = sd^2 / (s^2 + sd^2)``, ``c_out = s sd / sqrt(s^2 + sd^2)``,
    ``c_in = 1 / sqrt(s^2 + sd^2)``, ``c_noise = log(s) / 4``: unit-variance network inputs and targets."""
    sigma = jnp.asarray(sigma, jnp.float32)
    total = sigma**2 + sigma_data**2
    return EDMScalings(
        sigma_data**2 / total,
        sigma * sigma_data / jnp.sqrt(total),
        1.0 / jnp.sqrt(total),
        jnp.log(sigma) / 4.0,
    )


def per_example(x: Array, sigma) -> Array:
    """A scalar noise level (or time) as one float32 per example of the batch ``x``: ``[B]``."""
    return jnp.full((x.shape[0],), sigma, jnp.float32)
