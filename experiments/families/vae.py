"""VAEs: Bernoulli decoders on binarized images, Gaussian or discretized-logistic on [-1, 1] images."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import (
    binary_batch,
    binary_images,
    identity_images,
    symmetric_batch,
)
from genjax.data import registry
from genjax.models import vae


def vae_config(config) -> vae.VAEConfig:
    """The typed model config of a run's ConfigDict."""
    fields = config.model.to_dict()
    for k in ("hidden", "channels"):
        if k in fields:
            fields[k] = tuple(fields[k])
    return vae.VAEConfig(data_shape=tuple(config.image_shape), levels=registry.num_levels(config.dataset), **fields)


def spec(config) -> FamilySpec:
    mc = vae_config(config)
    if mc.likelihood == "bernoulli":
        return FamilySpec(vae.make_vae(mc), binary_batch(config.binarize_threshold), binary_images, nfe=1)
    return FamilySpec(vae.make_vae(mc), symmetric_batch(config), identity_images, nfe=1)
