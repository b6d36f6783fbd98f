"""Diffusion models (VP with DDIM sampling, or EDM with Heun sampling) on [-1, 1] images."""

from __future__ import annotations

import jax

from experiments.families import FamilySpec
from experiments.families.common import compiler_options, identity_images, symmetric_batch
from genjax.data import registry
from genjax.models import diffusion


def model_config(config) -> diffusion.DiffusionConfig:
    fields = config.model.to_dict()
    for k in ("channel_mults", "attention_resolutions"):
        if k in fields:
            fields[k] = tuple(fields[k])
    return diffusion.DiffusionConfig(data_shape=tuple(config.image_shape), levels=registry.num_levels(config.dataset),
                                     **fields)


def checked_log_prob(mc: diffusion.DiffusionConfig, params_of, config):
    """``(train_state, batch, key) -> LogLikelihood``: the probability-flow ODE likelihood at
    ``mc.likelihood_steps`` with its Richardson error estimate, which ``run.evaluate`` checks
    before it reports bits/dim; ``params_of(train_state)`` picks the network's parameters. Compiled
    under ``config.sample.compiler_options``."""
    fn = jax.jit(lambda params, batch, key: diffusion.ode_likelihood(
        mc, params, batch, key, error_estimate=True),
        compiler_options=compiler_options(config.sample))
    return lambda state, batch, key: fn(params_of(state), batch, key)


def spec(config) -> FamilySpec:
    mc = model_config(config)
    nfe = mc.sample_steps if mc.kind == "vp" else 2 * mc.sample_steps - 1
    model = diffusion.make_diffusion(mc)
    # The likelihood of the parameters that are sampled (the EMA when kept).
    params_of = lambda state: state.eval_params
    return FamilySpec(model, symmetric_batch(config), identity_images, nfe=nfe,
                      ema_decay=config.get("ema_decay", 0.999),
                      log_prob=checked_log_prob(mc, params_of, config), likelihood=model.likelihood.value,
                      likelihood_steps=mc.likelihood_steps)
