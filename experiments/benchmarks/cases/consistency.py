"""Sampling case of the consistency family: one-step consistency sampling against its teacher's
Heun sampler (18 steps, 35 network evaluations) on the same UNet, 8x8 images, batch 64."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from experiments.benchmarks import harness
from genjax.models import consistency, diffusion
from genjax.samplers import consistency as cs
from genjax.samplers import ode
from genjax.samplers.schedules import karras_sigmas


def _params(net_init, shape):
    return net_init(jax.random.PRNGKey(0), {"image": jnp.zeros((1,) + shape)})["params"]


def _one_step(width: int, batch: int):
    config = consistency.ConsistencyConfig(objective="ict", base_channels=width)
    params = _params(consistency.make_consistency(config).init, config.data_shape)
    f = consistency.consistency_fn(config, params)
    run = jax.jit(lambda k: cs.one_step(k, f, (batch,) + config.data_shape, config.sigma_max))
    return lambda: run(jax.random.PRNGKey(1))


def _heun(width: int, batch: int, steps: int):
    config = diffusion.DiffusionConfig(kind="edm", base_channels=width)
    params = _params(diffusion.make_diffusion(config).init, config.data_shape)
    denoise = diffusion.denoiser(config, params)
    sigmas = karras_sigmas(steps)
    run = jax.jit(lambda k: ode.sample_heun(k, denoise, sigmas[0] * jax.random.normal(k, (batch,) + config.data_shape),
                                            sigmas))
    return lambda: run(jax.random.PRNGKey(1))


def sampling_cases(quick: bool) -> list[harness.Case]:
    """One-step consistency vs the teacher's Heun-18 (ours vs ours: the ratio is the speed-up)."""
    width, batch, steps = (8, 4, 3) if quick else (32, 64, 18)
    return [
        harness.Case(
            f"consistency 1-step vs teacher Heun-{steps} w{width} b{batch}", batch, "images",
            functools.partial(_one_step, width, batch), functools.partial(_heun, width, batch, steps),
            f"heun-{2 * steps - 1}nfe",
        )
    ]
