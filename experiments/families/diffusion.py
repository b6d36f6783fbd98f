"""Diffusion models (VP with DDIM sampling, or EDM with Heun sampling) on [-1, 1] images."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import identity_images, symmetric_batch
from genjax.data import registry
from genjax.models import diffusion


def model_config(config) -> diffusion.DiffusionConfig:
    fields = config.model.to_dict()
    for k in ("channel_mults", "attention_resolutions"):
        if k in fields:
            fields[k] = tuple(fields[k])
    return diffusion.DiffusionConfig(data_shape=tuple(config.image_shape), levels=registry.num_levels(config.dataset),
                                     **fields)


def spec(config) -> FamilySpec:
    mc = model_config(config)
    nfe = mc.sample_steps if mc.kind == "vp" else 2 * mc.sample_steps - 1
    return FamilySpec(diffusion.make_diffusion(mc), symmetric_batch(config), identity_images, nfe=nfe,
                      ema_decay=config.get("ema_decay", 0.999))
