"""Flow matching on the linear path (rectified flow) with the shared UNet on [-1, 1] images."""

from __future__ import annotations

import jax

from experiments.families import FamilySpec
from experiments.families.common import compiler_options, identity_images, symmetric_batch
from genjax.data import registry
from genjax.models import flow_matching


def model_config(config) -> flow_matching.FlowMatchingConfig:
    fields = config.model.to_dict()
    for k in ("channel_mults", "attention_resolutions"):
        if k in fields:
            fields[k] = tuple(fields[k])
    return flow_matching.FlowMatchingConfig(
        data_shape=tuple(config.image_shape), levels=registry.num_levels(config.dataset), **fields
    )


def checked_log_prob(mc: flow_matching.FlowMatchingConfig, config):
    """``(train_state, batch, key) -> LogLikelihood`` of the sampled (EMA) parameters: the ODE
    likelihood at ``mc.likelihood_steps`` with its Richardson error estimate, which
    ``run.evaluate`` checks before it reports bits/dim."""
    fn = jax.jit(lambda params, batch, key: flow_matching.ode_likelihood(
        mc, params, batch, key, error_estimate=True),
        compiler_options=compiler_options(config.sample))
    return lambda state, batch, key: fn(state.eval_params, batch, key)


def spec(config) -> FamilySpec:
    mc = model_config(config)
    model = flow_matching.make_flow_matching(mc)
    nfe = mc.sample_steps if mc.sampler == "euler" else 2 * mc.sample_steps
    return FamilySpec(model, symmetric_batch(config), identity_images, nfe=nfe,
                      ema_decay=config.get("ema_decay", 0.999),
                      log_prob=checked_log_prob(mc, config), likelihood=model.likelihood.value,
                      likelihood_steps=mc.likelihood_steps)
