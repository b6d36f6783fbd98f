"""Consistency distillation from a trained EDM diffusion run (``config.teacher_workdir``, trained
with ``config.teacher_config``), or consistency training without a teacher (objective 'ct'/'ict')."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Optional

import jax
import jax.numpy as jnp

from experiments.families import FamilySpec
from experiments.families import diffusion as diffusion_family
from experiments.families.common import compiler_options, identity_images, symmetric_batch
from genjax.models import consistency, diffusion


def model_config(config) -> tuple[consistency.ConsistencyConfig, Optional[diffusion.DiffusionConfig], Any]:
    """The typed student config, and for distillation the teacher's typed config and its restored
    (EMA) params (``None, None`` without a teacher). The student learns the teacher at guidance
    scale 1 (its conditional ODE), whatever the teacher's own sampling scale."""
    fields = config.model.to_dict()
    for k in ("channel_mults", "attention_resolutions", "sample_sigmas"):
        if k in fields:
            fields[k] = tuple(fields[k])
    teacher_params, teacher_fn, tc = None, None, None
    if fields.get("objective", "cd") == "cd":
        from experiments import run  # the teacher is restored like any run

        teacher_config = importlib.import_module(f"experiments.configs.{config.teacher_config}").get_config()
        teacher_config.dataset = config.dataset
        _, teacher_state = run.restore(teacher_config, config.teacher_workdir)
        teacher_params = teacher_state.eval_params
        tc = diffusion_family.model_config(teacher_config)
        if tc.kind != "edm":
            raise ValueError(f"the teacher must be an EDM diffusion model, got kind {tc.kind!r}")
        # The student learns the teacher's conditional ODE (guidance scale 1) under the teacher's label
        # space; guidance is applied once, when the student samples.
        cond_teacher = dataclasses.replace(tc, guidance_scale=1.0)
        teacher_fn = lambda p, x, s, y: diffusion.denoiser(cond_teacher, p, y)(x, s)  # noqa: E731
        fields.update(sigma_min=tc.sigma_min, sigma_max=tc.sigma_max, sigma_data=tc.sigma_data, rho=tc.rho,
                      num_classes=tc.num_classes, label_dropout=tc.label_dropout)
        teacher_params = jax.device_get(teacher_params)
    mc = consistency.ConsistencyConfig(data_shape=tuple(config.image_shape), teacher_fn=teacher_fn, **fields)
    return mc, tc, teacher_params


def spec(config) -> FamilySpec:
    mc, tc, teacher_params = model_config(config)
    # Song et al. (2023) start the student from the teacher's weights when F has its architecture.
    init_params = teacher_params if teacher_params is not None and config.get("init_from_teacher", False) else None
    log_prob, likelihood, likelihood_steps = None, None, None
    if teacher_params is not None and config.eval.get("teacher_likelihood", False):
        # The teacher's probability-flow ODE, the density whose trajectories the student maps: not the
        # student's own (a consistency model has none), so a row shows it only when asked.
        log_prob = diffusion_family.checked_log_prob(tc, lambda state: state.model_state["teacher"], config)
        likelihood = f"{diffusion.make_diffusion(tc).likelihood.value} (teacher ODE)"
        likelihood_steps = tc.likelihood_steps
    # The schedule is an argument, not a constant, so a search over schedules compiles once per length.
    draw = jax.jit(lambda params, key, sigmas, n: consistency.sample_with_sigmas(mc, params, key, n, sigmas),
                   static_argnums=3, compiler_options=compiler_options(config.sample))

    def sample_with_sigmas(state, key, n: int, sigmas: tuple[float, ...]):
        params = state.eval_params
        return draw(params, key, jnp.asarray(sigmas, jnp.float32), n)

    return FamilySpec(consistency.make_consistency(mc, teacher_params, init_params), symmetric_batch(config), identity_images,
                      nfe=len(mc.sample_sigmas), ema_decay=config.get("ema_decay", 0.999), log_prob=log_prob,
                      likelihood=likelihood, likelihood_steps=likelihood_steps, sample_with_sigmas=sample_with_sigmas)
